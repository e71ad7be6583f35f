"""The installed system for the network-boot tests: a container image made into a disk
that boots by kexec, from SeaBIOS and from OVMF.

- The image: busybox, our kernel and initramfs under /boot, and an entrypoint that says
  on the console how it was booted and what the workflow left on the disk.
- `img-from-container --partition gpt --uuid ROOT_UUID` makes partition 1 (ext4), so the
  kexec action finds /boot/vmlinuz there and `root=UUID=…` names the root for any boot.
- Partition 2, added after, is an EFI system partition that is also the BIOS boot
  partition: systemd-boot as \\EFI\\BOOT\\BOOTX64.EFI for OVMF, syslinux in its boot sector
  for SeaBIOS (found through gptmbr.bin in the MBR and the partition's legacy-BIOS-bootable
  attribute), both loading the same kernel and initramfs from the ESP.
- Compressed with zstd for image2disk; its sha256 is of the compressed bytes as served.

Debian packages: syslinux, syslinux-common, mtools, systemd-boot-efi, dosfstools, fdisk.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from tests.disks import make_tree
from tests.rootfs_tools.images import plain, write_layout

ROOT_UUID = "5e1f0a7c-3b2d-4e6f-8a9b-0c1d2e3f4a5b"
ESP_MIB = 40
MARK_PATH = "/var/lib/netboot-mark"
KERNEL_PATH = "/boot/vmlinuz"
INITRD_PATH = "/boot/initramfs.cpio.zst"
ESP_TYPE = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"
GPTMBR = Path("/usr/lib/syslinux/mbr/gptmbr.bin")
SYSTEMD_BOOT = Path("/usr/lib/systemd/boot/efi/systemd-bootx64.efi")
TOOLS = {"syslinux": "syslinux", "mcopy": "mtools", "mkfs.vfat": "dosfstools", "sfdisk": "fdisk"}
# The line the installed system prints when its entrypoint runs; tests match it.
UP = "installed-system: up"
ENTRYPOINT = (
    f"echo \"{UP} $(grep -o 'installed.via=[a-z-]*' /proc/cmdline)"
    f' hostname=$(cat /etc/hostname) mark=$(cat {MARK_PATH} 2>/dev/null || echo none)"'
)


def cmdline(via: str) -> str:
    """The installed system's kernel command line; `installed.via=` says who booted it."""
    return (
        f"root=UUID={ROOT_UUID} console=ttyS0,115200 metalinit.on_exit=poweroff installed.via={via}"
    )


@dataclass(frozen=True)
class InstalledImage:
    raw: Path  # GPT: 1 the root (ext4), 2 the ESP
    zst: Path
    sha256: str  # of the .zst file
    root_offset: int  # bytes from the disk's start to partition 1


def missing_tools() -> list[str]:
    found = [shutil.which(tool) for tool in TOOLS]
    return [
        package for (tool, package), path in zip(TOOLS.items(), found, strict=True) if path is None
    ] + [str(p) for p in (GPTMBR, SYSTEMD_BOOT) if not p.exists()]


def _run(*argv: str, stdin: str | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False)
    if done.returncode:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def _layer(tree: Path) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(tree.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(tree)), recursive=False)
    return out.getvalue()


def _layout(work: Path, kernel: Path, initrd: Path) -> Path:
    tree = make_tree(work / "installed-tree")
    (tree / "boot").mkdir()
    (tree / "var/lib").mkdir(parents=True)
    shutil.copyfile(kernel, tree / KERNEL_PATH.lstrip("/"))
    shutil.copyfile(initrd, tree / INITRD_PATH.lstrip("/"))
    config: dict[str, object] = {
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": [ENTRYPOINT],
        "Env": ["PATH=/bin"],
    }
    return write_layout(work / "installed-oci", [_layer(tree)], [plain], config)


def _esp(work: Path, kernel: Path, initrd: Path) -> Path:
    fat = work / "esp.fat"
    fat.unlink(missing_ok=True)
    _run("mkfs.vfat", "-C", "-n", "ESP", str(fat), str(ESP_MIB * 1024))
    img = ("-i", str(fat))
    _run("mmd", *img, "::/EFI", "::/EFI/BOOT", "::/loader", "::/loader/entries", "::/syslinux")
    files = {
        "loader.conf": "default metalinit.conf\ntimeout 0\n",
        "metalinit.conf": "title metalinit installed system\nlinux /vmlinuz\n"
        f"initrd /initramfs.cpio.zst\noptions {cmdline('systemd-boot')}\n",
        "syslinux.cfg": "SERIAL 0 115200\nDEFAULT installed\nPROMPT 0\nTIMEOUT 0\n"
        "LABEL installed\n  LINUX /vmlinuz\n  INITRD /initramfs.cpio.zst\n"
        f"  APPEND {cmdline('syslinux')}\n",
    }
    for name, text in files.items():
        (work / name).write_text(text)
    copies = {
        kernel: "::/vmlinuz",
        initrd: "::/initramfs.cpio.zst",
        SYSTEMD_BOOT: "::/EFI/BOOT/BOOTX64.EFI",
        work / "loader.conf": "::/loader/loader.conf",
        work / "metalinit.conf": "::/loader/entries/metalinit.conf",
        work / "syslinux.cfg": "::/syslinux/syslinux.cfg",
    }
    for source, dest in copies.items():
        _run("mcopy", *img, str(source), dest)
    _run("syslinux", "--install", "--directory", "/syslinux", str(fat))
    return fat


def _add_esp(disk: Path, fat: Path) -> None:
    with disk.open("r+b") as f:
        f.truncate(disk.stat().st_size + (ESP_MIB + 1) * 1024 * 1024)
    _run("sfdisk", "-q", "--no-reread", "--no-tell-kernel", "--relocate", "gpt-bak-std", str(disk))
    line = f'size={ESP_MIB}MiB, type={ESP_TYPE}, name="ESP", attrs="LegacyBIOSBootable"\n'
    _run("sfdisk", "-q", "--no-reread", "--no-tell-kernel", "--append", str(disk), stdin=line)
    table = json.loads(_run("sfdisk", "-J", str(disk)))["partitiontable"]
    start = table["partitions"][1]["start"] * table.get("sectorsize", 512)
    with disk.open("r+b") as out:
        out.write(GPTMBR.read_bytes()[:440])  # boot code only: the partition table follows
        out.seek(start)
        with fat.open("rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)


def build_installed(work: Path, kernel: Path, initrd: Path) -> InstalledImage:
    work.mkdir(parents=True, exist_ok=True)
    layout = _layout(work, kernel, initrd)
    raw = work / "installed.img"
    tool = Path(sys.executable).with_name("img-from-container")
    _run(str(tool), "-q", f"oci:{layout}:latest", "-o", str(raw), "--partition", "gpt",
         "--uuid", ROOT_UUID)  # fmt: skip
    _add_esp(raw, _esp(work, kernel, initrd))
    zst = raw.with_suffix(".img.zst")
    _run("zstd", "-q", "-f", "-3", str(raw), "-o", str(zst))
    table = json.loads(_run("sfdisk", "-J", str(raw)))["partitiontable"]
    offset = table["partitions"][0]["start"] * table.get("sectorsize", 512)
    return InstalledImage(raw, zst, _sha256(zst), offset)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def build_for_kexec(work: Path, kernel: Path, initrd: Path) -> tuple[Path, str]:
    """The root partition alone, as `img-from-container --partition gpt --compress zst`
    writes it (no ESP: the kexec action boots it), and the sha256 of the .zst as served."""
    work.mkdir(parents=True, exist_ok=True)
    layout = _layout(work, kernel, initrd)
    zst = work / "kexec-installed.img.zst"
    tool = Path(sys.executable).with_name("img-from-container")
    _run(str(tool), "-q", f"oci:{layout}:latest", "-o", str(zst), "--partition", "gpt",
         "--compress", "zst", "--uuid", ROOT_UUID)  # fmt: skip
    return zst, _sha256(zst)


def read_file(disk: Path, offset: int, path: str) -> str | None:
    """A file's text from the ext4 root at `offset` in a disk image, read by debugfs (no
    mount); None when it is not there."""
    done = subprocess.run(
        ["debugfs", "-R", f"cat {path}", f"{disk}?offset={offset}"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    if done.returncode or "File not found" in done.stderr:
        return None
    return done.stdout
