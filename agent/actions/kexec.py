"""`kexec`: load the installed system's kernel, to be started by the worker.

The hub action's variables: BLOCK_DEVICE, FS_TYPE, KERNEL_PATH, INITRD_PATH, CMD_LINE, and
GRUBCFG_PATH (default boot/grub/grub.cfg), whose default entry gives the kernel, initrds
and command line when KERNEL_PATH is empty (CMD_LINE, if set, still wins). Paths are inside
the filesystem on BLOCK_DEVICE. The action loads the kernel with kexec_file_load and
returns Then.KEXEC; the worker reports SUCCESS and then calls reboot(LINUX_REBOOT_CMD_KEXEC)
— the hub action reboots itself and never reports (users wrap it in waitdaemon), and needs
`pid: host`, which means nothing here.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agent.actions import ActionContext, ActionError, Then, grubcfg
from agent.actions.envvars import required, text
from agent.actions.inroot import resolve_in_root
from agent.actions.mounting import mounted
from agent.syscalls import SyscallError

DEFAULT_GRUBCFG = "boot/grub/grub.cfg"
ERRNO_HINTS = {
    errno.ENOSYS: "this kernel has no kexec_file_load (CONFIG_KEXEC_FILE); use reboot",
    errno.EPERM: "refused (kernel lockdown, or sysctl kernel.kexec_load_disabled=1)",
    errno.EKEYREJECTED: "the kernel's signature was rejected (KEXEC_SIG)",
    errno.ENOEXEC: "not a kernel image this kernel can load (an x86 bzImage is needed)",
    errno.EBADMSG: "the kernel image is damaged or unsigned",
}


def boot_entry(root: Path, grubcfg_path: str) -> grubcfg.BootEntry:
    """The default entry of the grub.cfg at `grubcfg_path` inside `root`."""
    path = resolve_in_root(root, grubcfg_path)
    try:
        config = path.read_text(errors="replace")
    except OSError as e:
        raise ActionError(
            f"KERNEL_PATH is empty and GRUBCFG_PATH {grubcfg_path} cannot be read ({e.strerror}); "
            "give KERNEL_PATH, or GRUBCFG_PATH=grub/grub.cfg for a separate /boot"
        ) from None
    env: dict[str, str] = {}
    grubenv = path.with_name("grubenv")
    if grubenv.is_file():
        env = grubcfg.parse_grubenv(grubenv.read_text(errors="replace"))
    entry = grubcfg.default_entry(grubcfg.parse(config, env))
    if entry is None or not entry.kernel:
        raise ActionError(
            f"{grubcfg_path} has no menu entry with a linux line (a BootLoaderSpec config?): "
            "give KERNEL_PATH, INITRD_PATH and CMD_LINE"
        )
    return entry


@contextmanager
def _initrd(ctx: ActionContext, root: Path, paths: tuple[str, ...]) -> Iterator[int | None]:
    """One fd for the initrds: the file itself, or (several: the kernel takes concatenated
    cpio archives) their concatenation in the scratch directory."""
    if not paths:
        yield None
        return
    files = [_existing(root, p, "initrd") for p in paths]
    if len(files) == 1:
        fd = os.open(files[0], os.O_RDONLY | os.O_CLOEXEC)
    else:
        ctx.scratch.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=ctx.scratch, delete=False) as joined:
            for file in files:
                with open(file, "rb") as part:
                    shutil.copyfileobj(part, joined, 1 << 20)
        fd = os.open(joined.name, os.O_RDONLY | os.O_CLOEXEC)  # read-only: else ETXTBSY
        os.unlink(joined.name)
    try:
        yield fd
    finally:
        os.close(fd)


def _existing(root: Path, path: str, what: str) -> Path:
    found = resolve_in_root(root, path)
    if not found.is_file():
        raise ActionError(f"the {what} {path} is not on BLOCK_DEVICE's filesystem")
    return found


def run(ctx: ActionContext) -> Then | None:
    env = ctx.env
    device = required(env, "BLOCK_DEVICE", "the partition holding the kernel, e.g. /dev/sda1")
    kernel_path = text(env, "KERNEL_PATH")
    cmdline = env.get("CMD_LINE", "").strip()
    with mounted(ctx, device, text(env, "FS_TYPE"), "BLOCK_DEVICE", readonly=True) as root:
        if kernel_path:
            initrds: tuple[str, ...] = (
                (text(env, "INITRD_PATH"),) if text(env, "INITRD_PATH") else ()
            )
        else:
            grubcfg_path = text(env, "GRUBCFG_PATH", DEFAULT_GRUBCFG)
            entry = boot_entry(root, grubcfg_path)
            ctx.say(f"{grubcfg_path}: default entry {entry.title!r}")
            kernel_path, initrds = entry.kernel, entry.initrds
            cmdline = cmdline or entry.args
        kernel = _existing(root, kernel_path, "kernel")
        ctx.say(
            f"loading {kernel_path}, initrd {' '.join(initrds) or 'none'}, command line {cmdline!r}"
        )
        kernel_fd = os.open(kernel, os.O_RDONLY | os.O_CLOEXEC)
        try:
            with _initrd(ctx, root, initrds) as initrd_fd:
                ctx.sys.kexec_file_load(kernel_fd, initrd_fd, cmdline)
        except SyscallError as e:
            hint = ERRNO_HINTS.get(e.errno or 0, e.strerror or "")
            raise ActionError(f"kexec_file_load of {kernel_path} failed: {hint}") from None
        finally:
            os.close(kernel_fd)
    ctx.say("kernel loaded: the machine starts it once this action is reported")
    return Then.KEXEC
