"""The thin layer between the agent and the kernel.

Everything that changes the machine (mount, mknod, module loading, reboot, kexec, the
kernel's view of a disk's partitions, and the namespaces, pivot_root and hostname of
container actions) goes through a `Syscalls` object, so tests and `--dry-run` swap in a
`Recorder` and assert what was asked.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
from dataclasses import dataclass, field
from typing import Any

MS_RDONLY = 0x1
MS_NOSUID = 0x2
MS_NODEV = 0x4
MS_NOEXEC = 0x8
MS_REMOUNT = 0x20
MS_BIND = 0x1000
MS_MOVE = 0x2000
MS_REC = 0x4000
MS_SILENT = 0x8000
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MNT_DETACH = 0x2

CLONE_NEWNS = 0x00020000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000

LINUX_REBOOT_CMD_RESTART = 0x01234567
LINUX_REBOOT_CMD_POWER_OFF = 0x4321FEDC
LINUX_REBOOT_CMD_CAD_OFF = 0x00000000
LINUX_REBOOT_CMD_KEXEC = 0x45584543
BZIMAGE_MAGIC, BZIMAGE_MAGIC_AT = b"HdrS", 0x202  # the x86 boot protocol's header

SYS_FINIT_MODULE = 313  # x86_64
SYS_KEXEC_FILE_LOAD = 320  # x86_64
KEXEC_FILE_UNLOAD = 0x1
KEXEC_FILE_NO_INITRAMFS = 0x4
SYS_PIVOT_ROOT = 155  # x86_64; glibc has no wrapper
MODULE_INIT_IGNORE_MODVERSIONS = 1
MODULE_INIT_IGNORE_VERMAGIC = 2


BLKRRPART = 0x125F  # _IO(0x12, 95): re-read the partition table
BLKPG = 0x1269  # _IO(0x12, 105): add or delete one partition
BLKPG_ADD_PARTITION = 1
BLKPG_DEL_PARTITION = 2
BLKPG_NAME_LEN = 64


class SyscallError(OSError):
    pass


class _BlkpgPartition(ctypes.Structure):
    _fields_ = (
        ("start", ctypes.c_longlong),  # bytes
        ("length", ctypes.c_longlong),
        ("pno", ctypes.c_int),
        ("devname", ctypes.c_char * BLKPG_NAME_LEN),
        ("volname", ctypes.c_char * BLKPG_NAME_LEN),
    )


class _BlkpgArg(ctypes.Structure):
    _fields_ = (
        ("op", ctypes.c_int),
        ("flags", ctypes.c_int),
        ("datalen", ctypes.c_int),
        ("data", ctypes.c_void_p),
    )


def _fd_path(fd: int) -> str:
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return f"fd {fd}"


def _fail(call: str, detail: str) -> SyscallError:
    code = ctypes.get_errno()
    return SyscallError(code, f"{call}({detail}): {os.strerror(code)}")


class Syscalls:
    """The real thing, through libc."""

    def __init__(self) -> None:
        self._libc: Any = None

    @property
    def libc(self) -> Any:
        if self._libc is None:
            self._libc = ctypes.CDLL(None, use_errno=True)
        return self._libc

    def mount(self, source: str, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:  # fmt: skip
        rc = self.libc.mount(
            source.encode(),
            target.encode(),
            fstype.encode() if fstype else None,
            ctypes.c_ulong(flags),
            data.encode() if data else None,
        )
        if rc != 0:
            raise _fail("mount", f"{source} on {target}, type {fstype}, data {data!r}")

    def umount(self, target: str, flags: int = 0) -> None:
        if self.libc.umount2(target.encode(), flags) != 0:
            raise _fail("umount", target)

    def mknod(self, path: str, mode: int, device: int) -> None:
        os.mknod(path, mode, device)

    def chroot(self, path: str) -> None:
        os.chroot(path)

    def finit_module(self, fd: int, params: str = "") -> None:
        rc = self.libc.syscall(SYS_FINIT_MODULE, fd, params.encode(), 0)
        if rc != 0:
            code = ctypes.get_errno()
            raise SyscallError(code, f"finit_module: {os.strerror(code)}")

    def reboot(self, command: int) -> None:
        if os.getpid() != 1:  # only an init may end its machine (or its PID namespace)
            raise SyscallError(1, f"reboot({command:#x}) refused: this process is not PID 1")
        if self.libc.reboot(ctypes.c_int(command)) != 0:
            raise _fail("reboot", hex(command))

    def sync(self) -> None:
        os.sync()

    def unshare(self, flags: int) -> None:
        if self.libc.unshare(ctypes.c_int(flags)) != 0:
            raise _fail("unshare", hex(flags))

    def kexec_file_load(self, kernel_fd: int, initrd_fd: int | None, cmdline: str,
                        flags: int = 0) -> None:  # fmt: skip
        """Load the kernel (and initramfs) to boot by reboot(LINUX_REBOOT_CMD_KEXEC)."""
        if initrd_fd is None:
            flags |= KEXEC_FILE_NO_INITRAMFS
        raw = cmdline.encode()
        rc = self.libc.syscall(
            ctypes.c_long(SYS_KEXEC_FILE_LOAD),
            ctypes.c_int(kernel_fd),
            ctypes.c_int(-1 if initrd_fd is None else initrd_fd),
            ctypes.c_ulong(len(raw) + 1),  # the length counts the terminating NUL
            ctypes.c_char_p(raw),
            ctypes.c_ulong(flags),
        )
        if rc != 0:
            raise _fail("kexec_file_load", f"{_fd_path(kernel_fd)}, cmdline {cmdline!r}")

    def blkrrpart(self, fd: int) -> None:
        """Ask the kernel to read the disk's partition table again."""
        try:
            fcntl.ioctl(fd, BLKRRPART, 0)
        except OSError as e:
            raise SyscallError(e.errno, f"BLKRRPART({_fd_path(fd)}): {e.strerror}") from None

    def blkpg_add(self, fd: int, number: int, start: int, length: int) -> None:
        """Tell the kernel about partition `number` (offsets in bytes), as partx -a does."""
        self._blkpg(fd, BLKPG_ADD_PARTITION, number, start, length)

    def blkpg_del(self, fd: int, number: int) -> None:
        self._blkpg(fd, BLKPG_DEL_PARTITION, number, 0, 0)

    def _blkpg(self, fd: int, op: int, number: int, start: int, length: int) -> None:
        part = _BlkpgPartition(start, length, number, b"", b"")
        arg = _BlkpgArg(op, 0, ctypes.sizeof(part), ctypes.addressof(part))
        try:
            fcntl.ioctl(fd, BLKPG, bytes(arg))  # `part` stays alive across the call
        except OSError as e:
            what = "add" if op == BLKPG_ADD_PARTITION else "delete"
            raise SyscallError(
                e.errno, f"BLKPG {what} partition {number} of {_fd_path(fd)}: {e.strerror}"
            ) from None

    def setns(self, fd: int, nstype: int = 0) -> None:
        if self.libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)) != 0:
            raise _fail("setns", f"{os.readlink(f'/proc/self/fd/{fd}')}, {nstype:#x}")

    def pivot_root(self, new_root: str, put_old: str) -> None:
        if self.libc.syscall(SYS_PIVOT_ROOT, new_root.encode(), put_old.encode()) != 0:
            raise _fail("pivot_root", f"{new_root}, {put_old}")

    def sethostname(self, name: str) -> None:
        raw = name.encode()
        if self.libc.sethostname(raw, ctypes.c_size_t(len(raw))) != 0:
            raise _fail("sethostname", repr(name))


class HostKexec(Syscalls):
    """For `metalinit worker` on a host without --power: it never starts a loaded kernel, so
    it loads none and the host's kexec slot stays as it was. The kernel is still checked to
    be one kexec_file_load takes on x86 (a bzImage: "HdrS" at 0x202), as the kernel would."""

    def kexec_file_load(self, kernel_fd: int, initrd_fd: int | None, cmdline: str,
                        flags: int = 0) -> None:  # fmt: skip
        if os.pread(kernel_fd, 4, BZIMAGE_MAGIC_AT) != BZIMAGE_MAGIC:
            raise SyscallError(
                errno.ENOEXEC, f"kexec_file_load: {_fd_path(kernel_fd)} is no bzImage"
            )


@dataclass
class Recorder(Syscalls):
    """Records each call instead of making it; `fail` maps a call name (or, for mount,
    `mount:FSTYPE`) to an errno to raise."""

    calls: list[tuple[Any, ...]] = field(default_factory=list)
    fail: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__()

    def _record(self, name: str, *args: Any, key: str = "") -> None:
        self.calls.append((name, *args))
        for failing in (name, f"{name}:{key}"):
            if failing in self.fail:
                code = self.fail[failing]
                raise SyscallError(code, f"{name}: {os.strerror(code)}")

    def mount(self, source: str, target: str, fstype: str | None, flags: int = 0,
              data: str | None = None) -> None:  # fmt: skip
        self._record("mount", source, target, fstype, flags, data, key=fstype or "")

    def umount(self, target: str, flags: int = 0) -> None:
        self._record("umount", target, flags)

    def mknod(self, path: str, mode: int, device: int) -> None:
        self._record("mknod", path, mode, device)

    def chroot(self, path: str) -> None:
        self._record("chroot", path)

    def finit_module(self, fd: int, params: str = "") -> None:
        self._record("finit_module", os.readlink(f"/proc/self/fd/{fd}"), params)

    def reboot(self, command: int) -> None:
        self._record("reboot", command)

    def sync(self) -> None:
        self._record("sync")

    def unshare(self, flags: int) -> None:
        self._record("unshare", flags)

    def kexec_file_load(self, kernel_fd: int, initrd_fd: int | None, cmdline: str,
                        flags: int = 0) -> None:  # fmt: skip
        initrd = None if initrd_fd is None else _fd_path(initrd_fd)
        if initrd_fd is None:
            flags |= KEXEC_FILE_NO_INITRAMFS
        self._record("kexec_file_load", _fd_path(kernel_fd), initrd, cmdline, flags)

    def blkrrpart(self, fd: int) -> None:
        self._record("blkrrpart", _fd_path(fd))

    def blkpg_add(self, fd: int, number: int, start: int, length: int) -> None:
        self._record("blkpg_add", _fd_path(fd), number, start, length)

    def blkpg_del(self, fd: int, number: int) -> None:
        self._record("blkpg_del", _fd_path(fd), number)

    def setns(self, fd: int, nstype: int = 0) -> None:
        self._record("setns", os.readlink(f"/proc/self/fd/{fd}"), nstype)

    def pivot_root(self, new_root: str, put_old: str) -> None:
        self._record("pivot_root", new_root, put_old)

    def sethostname(self, name: str) -> None:
        self._record("sethostname", name)
