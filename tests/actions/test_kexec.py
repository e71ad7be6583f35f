"""kexec: the grub.cfg reader as a table, and the action against a real ext4 partition,
with the kexec_file_load it asks for recorded (this host's kernel has no kexec; the QEMU
tests boot through a real one)."""

from __future__ import annotations

import errno
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from agent.actions import kexec
from agent.actions.grubcfg import BootEntry, default_entry, parse, parse_grubenv
from agent.syscalls import KEXEC_FILE_NO_INITRAMFS, Recorder, Syscalls
from tests.actions.harness import context, run_in_child

ROOT_UUID = "5e3c0ad0-0000-4000-8000-00000000c0de"

# The shape grub-mkconfig writes on Debian 12 (header, theme, 10_linux with a submenu),
# cut down; ids, UUIDs and versions made up.
DEBIAN = f"""\
### BEGIN /etc/grub.d/00_header ###
if [ -s $prefix/grubenv ]; then
  set have_grubenv=true
  load_env
fi
if [ "${{next_entry}}" ] ; then
   set default="${{next_entry}}"
   set next_entry=
   save_env next_entry
   set boot_once=true
else
   set default="0"
fi

if [ x"${{feature_menuentry_id}}" = xy ]; then
  menuentry_id_option="--id"
else
  menuentry_id_option=""
fi

export menuentry_id_option

function savedefault {{
  if [ -z "${{boot_once}}" ]; then
    saved_entry="${{chosen}}"
    save_env saved_entry
  fi
}}
function load_video {{
  if [ x$feature_all_video_module = xy ]; then
    insmod all_video
  else
    insmod efi_gop
  fi
}}
set timeout=5
### END /etc/grub.d/00_header ###
### BEGIN /etc/grub.d/10_linux ###
function gfxmode {{
	set gfxpayload="${{1}}"
}}
set linux_gfx_mode=
export linux_gfx_mode
menuentry 'Debian GNU/Linux' --class debian --class gnu-linux --class gnu --class os $menuentry_id_option 'gnulinux-simple-{ROOT_UUID}' {{
	load_video
	insmod gzio
	if [ x$grub_platform = xxen ]; then insmod xzio; insmod lzopio; fi
	insmod part_gpt
	insmod ext2
	search --no-floppy --fs-uuid --set=root {ROOT_UUID}
	echo	'Loading Linux 6.1.0-18-amd64 ...'
	linux	/boot/vmlinuz-6.1.0-18-amd64 root=UUID={ROOT_UUID} ro  quiet
	echo	'Loading initial ramdisk ...'
	initrd	/boot/initrd.img-6.1.0-18-amd64
}}
submenu 'Advanced options for Debian GNU/Linux' $menuentry_id_option 'gnulinux-advanced-{ROOT_UUID}' {{
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-18-amd64' --class debian $menuentry_id_option 'gnulinux-6.1.0-18-amd64-advanced-{ROOT_UUID}' {{
		linux	/boot/vmlinuz-6.1.0-18-amd64 root=UUID={ROOT_UUID} ro  quiet
		initrd	/boot/initrd.img-6.1.0-18-amd64
	}}
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-18-amd64 (recovery mode)' --class debian $menuentry_id_option 'gnulinux-6.1.0-18-amd64-recovery-{ROOT_UUID}' {{
		linux	/boot/vmlinuz-6.1.0-18-amd64 root=UUID={ROOT_UUID} ro single
		initrd	/boot/initrd.img-6.1.0-18-amd64
	}}
	menuentry 'Debian GNU/Linux, with Linux 6.1.0-17-amd64' --class debian $menuentry_id_option 'gnulinux-6.1.0-17-amd64-advanced-{ROOT_UUID}' {{
		linux	/boot/vmlinuz-6.1.0-17-amd64 root=UUID={ROOT_UUID} ro  quiet
		initrd	/boot/initrd.img-6.1.0-17-amd64
	}}
}}
### END /etc/grub.d/10_linux ###
"""

SAVED = DEBIAN.replace('   set default="0"', '   set default="${saved_entry}"')

UBUNTU_SEPARATE_BOOT = """\
set default=0
menuentry 'Ubuntu' --class ubuntu {
	recordfail
	gfxmode $linux_gfx_mode
	linux	/vmlinuz-6.8.0-51-generic root=/dev/mapper/vg-root ro quiet splash $vt_handoff
	initrd	/amd64-microcode.img /initrd.img-6.8.0-51-generic
}
"""

HAND_WRITTEN = r"""
set default="rescue"   # by id
set kopts="console=ttyS0,115200 \
  loglevel=7"
menuentry "Main" { linux (hd0,gpt2)/boot/vmlinuz root=LABEL=root $kopts ; initrd (hd0,gpt2)/boot/initrd.img }
menuentry "Rescue \"shell\"" --id rescue {
  linux /boot/vmlinuz rescue 'single quoted $kopts' "double $kopts"
}
"""

KERNEL_618 = BootEntry(
    "Debian GNU/Linux",
    f"gnulinux-simple-{ROOT_UUID}",
    "/boot/vmlinuz-6.1.0-18-amd64",
    ("/boot/initrd.img-6.1.0-18-amd64",),
    f"root=UUID={ROOT_UUID} ro quiet",
)


@pytest.mark.parametrize(
    ("config", "env", "kernel", "initrds", "args", "title"),
    [
        (DEBIAN, {}, KERNEL_618.kernel, KERNEL_618.initrds, KERNEL_618.args, "Debian GNU/Linux"),
        (DEBIAN.replace('set default="0"', 'set default="1>2"'), {}, "/boot/vmlinuz-6.1.0-17-amd64",
         ("/boot/initrd.img-6.1.0-17-amd64",), f"root=UUID={ROOT_UUID} ro quiet", "Debian GNU/Linux, with Linux 6.1.0-17-amd64"),
        (SAVED, {"saved_entry": f"gnulinux-advanced-{ROOT_UUID}>gnulinux-6.1.0-18-amd64-recovery-{ROOT_UUID}"},
         KERNEL_618.kernel, KERNEL_618.initrds, f"root=UUID={ROOT_UUID} ro single", "Debian GNU/Linux, with Linux 6.1.0-18-amd64 (recovery mode)"),
        (SAVED, {"saved_entry": "Advanced options for Debian GNU/Linux>Debian GNU/Linux, with Linux 6.1.0-17-amd64"},
         "/boot/vmlinuz-6.1.0-17-amd64", ("/boot/initrd.img-6.1.0-17-amd64",), f"root=UUID={ROOT_UUID} ro quiet", "Debian GNU/Linux, with Linux 6.1.0-17-amd64"),
        (SAVED, {}, KERNEL_618.kernel, KERNEL_618.initrds, KERNEL_618.args, "Debian GNU/Linux"),  # no grubenv: entry 0
        (DEBIAN.replace('set default="0"', 'set default="7"'), {}, KERNEL_618.kernel, KERNEL_618.initrds, KERNEL_618.args, "Debian GNU/Linux"),
        (DEBIAN.replace('set default="0"', 'set default="1"'), {}, KERNEL_618.kernel, KERNEL_618.initrds, KERNEL_618.args,
         "Debian GNU/Linux, with Linux 6.1.0-18-amd64"),  # a submenu alone: its first entry
        (UBUNTU_SEPARATE_BOOT, {}, "/vmlinuz-6.8.0-51-generic", ("/amd64-microcode.img", "/initrd.img-6.8.0-51-generic"),
         "root=/dev/mapper/vg-root ro quiet splash", "Ubuntu"),
        (HAND_WRITTEN, {}, "/boot/vmlinuz", (), "rescue single quoted $kopts double console=ttyS0,115200   loglevel=7", 'Rescue "shell"'),
        (HAND_WRITTEN.replace('"rescue"', "0"), {}, "/boot/vmlinuz", ("/boot/initrd.img",),
         "root=LABEL=root console=ttyS0,115200   loglevel=7", "Main"),
    ],
)  # fmt: skip
def test_default_entry(
    config: str, env: dict[str, str], kernel: str, initrds: tuple[str, ...], args: str, title: str
) -> None:
    entry = default_entry(parse(config, env))
    assert entry is not None
    assert (entry.title, entry.kernel, entry.initrds, entry.args) == (title, kernel, initrds, args)


def test_ids_through_menuentry_id_option() -> None:
    menu = parse(DEBIAN)
    first = menu.items[0]
    assert isinstance(first, BootEntry) and first.id == f"gnulinux-simple-{ROOT_UUID}"
    assert len(menu.items) == 2  # the function bodies and the if blocks are no entries


def test_no_entries() -> None:
    assert default_entry(parse("set default=0\ninsmod blscfg\nblscfg\n")) is None


def test_grubenv() -> None:
    text = "# GRUB Environment Block\nsaved_entry=gnulinux-x>y\nnext_entry=\n" + "#" * 900
    assert parse_grubenv(text) == {"saved_entry": "gnulinux-x>y", "next_entry": ""}


pytestroot = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mounts need root")


@dataclass
class MountsButRecordsKexec(Recorder):
    """Mounts for real (the action must read the filesystem), records kexec_file_load into
    a file (the action runs in a child process), with what the fds held."""

    log: str = ""

    def mount(self, *args: Any, **kw: Any) -> None:
        Syscalls.mount(self, *args, **kw)

    def umount(self, *args: Any, **kw: Any) -> None:
        Syscalls.umount(self, *args, **kw)

    def unshare(self, flags: int) -> None:
        Syscalls.unshare(self, flags)

    def kexec_file_load(
        self, kernel_fd: int, initrd_fd: int | None, cmdline: str, flags: int = 0
    ) -> None:
        super().kexec_file_load(kernel_fd, initrd_fd, cmdline, flags)
        content = lambda fd: os.pread(fd, 1 << 20, 0).decode()  # noqa: E731
        record = {"call": list(self.calls[-1]), "kernel": content(kernel_fd),
                  "initrd": None if initrd_fd is None else content(initrd_fd)}  # fmt: skip
        Path(self.log).write_text(json.dumps(record))


@pytest.fixture
def boot_partition(gpt_disk: str, tmp_path: Path) -> str:
    tree = tmp_path / "boot-tree"
    (tree / "boot/grub").mkdir(parents=True)
    (tree / "boot/grub/grub.cfg").write_text(SAVED)
    (tree / "boot/grub/grubenv").write_text(
        f"# GRUB Environment Block\nsaved_entry=gnulinux-advanced-{ROOT_UUID}>gnulinux-6.1.0-17-amd64-advanced-{ROOT_UUID}\n"
    )
    for name in ("vmlinuz-6.1.0-17-amd64", "vmlinuz-6.1.0-18-amd64"):
        (tree / "boot" / name).write_text(f"kernel {name}")
    (tree / "boot/initrd.img-6.1.0-17-amd64").write_text("initrd 17|")
    (tree / "boot/microcode.img").write_text("microcode|")
    (tree / "vmlinuz").symlink_to("/boot/vmlinuz-6.1.0-18-amd64")  # absolute: inside the root
    part = f"{gpt_disk}p2"
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(tree), part], check=True)
    return part


@pytestroot
def test_kexec_from_the_grub_default_entry(boot_partition: str, tmp_path: Path) -> None:
    log = tmp_path / "kexec.json"
    env = {"BLOCK_DEVICE": boot_partition, "FS_TYPE": "ext4"}
    outcome = run_in_child(
        kexec.run, context(env, tmp_path / "scratch", sys=MountsButRecordsKexec(log=str(log)))
    )
    assert outcome.ok, outcome.error or outcome.crash
    assert outcome.then == "kexec"
    record = json.loads(log.read_text())
    name, kernel_path, initrd_path, cmdline, flags = record["call"]
    assert initrd_path.endswith("/boot/initrd.img-6.1.0-17-amd64")
    assert (name, cmdline, flags) == ("kexec_file_load", f"root=UUID={ROOT_UUID} ro quiet", 0)
    assert kernel_path.endswith("/boot/vmlinuz-6.1.0-17-amd64")
    assert (record["kernel"], record["initrd"]) == ("kernel vmlinuz-6.1.0-17-amd64", "initrd 17|")
    assert any(
        "default entry 'Debian GNU/Linux, with Linux 6.1.0-17-amd64'" in line
        for line in outcome.lines
    )


@pytestroot
def test_kexec_with_kernel_path_and_several_initrds(boot_partition: str, tmp_path: Path) -> None:
    log = tmp_path / "kexec.json"
    cfg = "menuentry 'x' {\n linux /vmlinuz console=ttyS0 root=/dev/vda1\n initrd /boot/microcode.img /boot/initrd.img-6.1.0-17-amd64\n}\n"
    write = ["debugfs", "-w", "-R", f"write {tmp_path / 'grub.cfg'} /grub.cfg", boot_partition]
    (tmp_path / "grub.cfg").write_text(cfg)
    assert subprocess.run(write, capture_output=True).returncode == 0
    env = {
        "BLOCK_DEVICE": boot_partition,
        "GRUBCFG_PATH": "grub.cfg",
        "CMD_LINE": "console=ttyS0 root=/dev/vda1 init=/bin/sh",
    }
    outcome = run_in_child(
        kexec.run, context(env, tmp_path / "scratch", sys=MountsButRecordsKexec(log=str(log)))
    )
    assert outcome.ok, outcome.error or outcome.crash
    record = json.loads(log.read_text())
    assert record["call"][3] == "console=ttyS0 root=/dev/vda1 init=/bin/sh"  # CMD_LINE wins
    assert (
        record["kernel"] == "kernel vmlinuz-6.1.0-18-amd64"
    )  # /vmlinuz → /boot/…, inside the root
    assert record["initrd"] == "microcode|initrd 17|"  # concatenated, in order
    assert not list(
        (tmp_path / "scratch").iterdir()
    )  # the joined initrd and the mount point are gone


@pytestroot
def test_kexec_without_initrd_and_missing_files(boot_partition: str, tmp_path: Path) -> None:
    log = tmp_path / "kexec.json"
    sys = MountsButRecordsKexec(log=str(log))
    env = {
        "BLOCK_DEVICE": boot_partition,
        "KERNEL_PATH": "/boot/vmlinuz-6.1.0-18-amd64",
        "CMD_LINE": "quiet",
    }
    outcome = run_in_child(kexec.run, context(env, tmp_path / "s", sys=sys))
    assert outcome.ok, outcome.error
    assert json.loads(log.read_text())["call"][2:] == [None, "quiet", KEXEC_FILE_NO_INITRAMFS]
    outcome = run_in_child(
        kexec.run, context({**env, "KERNEL_PATH": "/boot/nope"}, tmp_path / "s", sys=sys)
    )
    assert outcome.error == "the kernel /boot/nope is not on BLOCK_DEVICE's filesystem"
    outcome = run_in_child(
        kexec.run,
        context({**env, "KERNEL_PATH": "", "GRUBCFG_PATH": "nope.cfg"}, tmp_path / "s", sys=sys),
    )
    assert outcome.error is not None and "GRUBCFG_PATH nope.cfg cannot be read" in outcome.error


def test_a_host_worker_loads_no_kernel_but_checks_it(tmp_path: Path) -> None:
    """`metalinit worker` without --power: HostKexec takes a bzImage without loading it
    (this host's kernel has no kexec at all) and refuses anything else as the kernel would."""
    from agent.syscalls import HostKexec, SyscallError

    kernel, other = tmp_path / "vmlinuz", tmp_path / "not-a-kernel"
    kernel.write_bytes(b"\0" * 0x202 + b"HdrS" + b"\0" * 64)
    other.write_bytes(b"\x7fELF" + b"\0" * 1024)
    for path, fails in ((kernel, False), (other, True)):
        fd = os.open(path, os.O_RDONLY)
        try:
            if fails:
                with pytest.raises(SyscallError) as err:
                    HostKexec().kexec_file_load(fd, None, "console=ttyS0")
                assert err.value.errno == errno.ENOEXEC and "no bzImage" in str(err.value)
            else:
                HostKexec().kexec_file_load(fd, None, "console=ttyS0")
        finally:
            os.close(fd)
