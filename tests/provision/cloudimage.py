"""A disk image standing in for a distribution's cloud image, for Tinkerbell's example
templates: GPT, partition 1 ext4 holding a busybox root, the programs the templates run in
it (cloud-guest-utils' `growpart` with the util-linux tools it calls, `resize2fs`, copied
from this host with the shared libraries they need), and /boot with a real kernel and a
grub.cfg whose default entry the kexec action reads.

Partition 1 is smaller than the disks the tests write it to, so `growpart` has room.
Debian packages: cloud-guest-utils, fdisk, util-linux, e2fsprogs, busybox-static.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from initramfs import elf
from tests.disks import BUSYBOX, make_tree

MIB = 1 << 20
IMAGE_MIB = 40  # the image; partition 1 is 2048..(IMAGE_MIB-1) MiB
PROGRAMS = ("/usr/bin/growpart", "/usr/sbin/sfdisk", "/usr/bin/partx", "/usr/bin/flock",
            "/usr/sbin/resize2fs")  # fmt: skip
KERNEL_PATH = "/boot/vmlinuz"
INITRD_PATH = "/boot/initrd.img"
ROOT_ARGS = "root=LABEL=cloudimg-rootfs ro console=ttyS0"
GRUB_CFG = f"""\
set default="0"
set timeout=0
menuentry 'Cloud image' --class os {{
	linux	{KERNEL_PATH} {ROOT_ARGS}
	initrd	{INITRD_PATH}
}}
"""


def missing_tools() -> list[str]:
    return [p for p in PROGRAMS if not Path(p).exists()]


def _all_applets(tree: Path) -> None:
    listing = subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True, check=True)
    for applet in listing.stdout.split():
        link = tree / "bin" / applet
        if not os.path.lexists(link):
            link.symlink_to("busybox")


def _programs(tree: Path) -> None:
    for program in PROGRAMS:
        target = tree / program.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(program, target)
    elfs = [p for p in PROGRAMS if elf.is_elf(Path(p))]
    for image_path, host_file in elf.closure(tree, elfs).copies.items():
        target = tree / image_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(host_file, target)
        target.chmod(0o755)


def build(work: Path, kernel: Path) -> Path:
    """The raw image file (IMAGE_MIB MiB)."""
    tree = make_tree(work / "cloudimg-tree")
    _all_applets(tree)
    _programs(tree)
    for directory in ("boot/grub", "etc/netplan", "var/lib"):
        (tree / directory).mkdir(parents=True, exist_ok=True)
    shutil.copyfile(kernel, tree / KERNEL_PATH.lstrip("/"))
    (tree / INITRD_PATH.lstrip("/")).write_bytes(b"070701" + b"0" * 506)  # a stand-in cpio
    (tree / "boot/grub/grub.cfg").write_text(GRUB_CFG)
    (tree / "etc/hostname").write_text("cloudimg\n")
    image = work / "cloudimg.raw"
    with image.open("wb") as f:
        f.truncate(IMAGE_MIB * MIB)
    subprocess.run(
        ["sfdisk", "-q", str(image)],
        input=f"label: gpt\nstart=2048, size={(IMAGE_MIB - 2) * 2048}, name=cloudimg-rootfs\n",
        text=True, check=True,
    )  # fmt: skip
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-L", "cloudimg-rootfs", "-d", str(tree),
         "-E", f"offset={MIB}", str(image), f"{IMAGE_MIB - 2}M"],
        check=True,
    )  # fmt: skip
    return image
