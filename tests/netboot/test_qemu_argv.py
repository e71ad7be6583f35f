"""The QEMU command lines for machines that boot from firmware: tables of what a spec
asks for, and QEMU itself accepting each combination (started paused, then stopped)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from initramfs.qemu import OVMF_CODE, BootSpec, QemuError, qemu_argv

KERNEL, INITRD = Path("/k/vmlinuz"), Path("/k/initrd")


def _disk(tmp_path: Path) -> Path:
    disk = tmp_path / "disk.img"
    disk.write_bytes(bytes(1 << 20))
    return disk


def _after(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


def test_kernel_boot_is_what_it_was(tmp_path: Path) -> None:
    argv = qemu_argv(BootSpec(KERNEL, INITRD, _disk(tmp_path), append="root=/dev/vda"))
    assert "-no-reboot" in argv
    assert _after(argv, "-kernel") == [str(KERNEL)]
    assert _after(argv, "-append") == ["console=ttyS0 panic=-1 root=/dev/vda"]
    assert _after(argv, "-device") == ["virtio-blk-pci,drive=disk0"]
    assert "pflash" not in " ".join(argv)


@pytest.mark.parametrize(
    ("bus", "device"),
    [
        ("virtio", "virtio-blk-pci,drive=disk0"),
        ("ide", "ide-hd,drive=disk0"),
        ("nvme", "nvme,serial=metalinit-disk0,drive=disk0"),
    ],
)
def test_disk_bus(tmp_path: Path, bus: str, device: str) -> None:
    argv = qemu_argv(BootSpec(KERNEL, INITRD, _disk(tmp_path), disk_bus=bus))
    assert _after(argv, "-device") == [device]


@pytest.mark.parametrize(
    ("firmware", "boot", "nic", "disk"),
    [
        ("bios", "network", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,bootindex=1",
         "virtio-blk-pci,drive=disk0,bootindex=2"),
        ("uefi", "network", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,romfile=,bootindex=1",
         "virtio-blk-pci,drive=disk0,bootindex=2"),
        ("bios", "disk", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56",
         "virtio-blk-pci,drive=disk0,bootindex=1"),
        ("uefi", "disk", "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,romfile=",
         "virtio-blk-pci,drive=disk0,bootindex=1"),
        ("uefi", "disk-then-network",
         "virtio-net-pci,netdev=n0,mac=52:54:00:12:34:56,romfile=,bootindex=2",
         "virtio-blk-pci,drive=disk0,bootindex=1"),
    ],
)  # fmt: skip
def test_boot_order_and_option_rom(
    tmp_path: Path, firmware: str, boot: str, nic: str, disk: str
) -> None:
    spec = BootSpec(disk=_disk(tmp_path), net="tap:tap0", firmware=firmware, boot=boot,
                    efi_vars=tmp_path / "vars.fd")  # fmt: skip
    argv = qemu_argv(spec)
    assert _after(argv, "-device") == [disk, nic]
    assert "-kernel" not in argv
    drives = _after(argv, "-drive")
    if firmware == "uefi":
        assert f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}" in drives
        assert f"if=pflash,format=raw,unit=1,file={tmp_path / 'vars.fd'}" in drives
    else:
        assert _after(argv, "-machine") == ["graphics=off"]  # SeaBIOS talks on the serial line


def test_reboot_stays_in_qemu_when_asked(tmp_path: Path) -> None:
    spec = BootSpec(disk=_disk(tmp_path), boot="disk", reboot=True)
    assert "-no-reboot" not in qemu_argv(spec)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (BootSpec(), "needs a kernel and an initrd"),
        (BootSpec(boot="network"), "needs a network"),
        (BootSpec(boot="disk"), "needs a disk"),
        (BootSpec(boot="disk-then-network", net="user"), "boot disk-then-network needs a disk"),
        (BootSpec(boot="floppy"), "boot 'floppy'"),
        (BootSpec(KERNEL, INITRD, firmware="coreboot"), "firmware 'coreboot'"),
        (BootSpec(KERNEL, INITRD, disk_bus="scsi"), "disk bus 'scsi'"),
        (BootSpec(boot="network", net="user", firmware="uefi"), "needs efi_vars"),
        (BootSpec(KERNEL, INITRD, firmware="uefi", efi_vars=Path("v")), "bios machines"),
    ],
)
def test_specs_that_cannot_boot_are_refused(spec: BootSpec, message: str) -> None:
    with pytest.raises(QemuError, match=message):
        qemu_argv(spec)


@pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="QEMU not installed")
@pytest.mark.parametrize(
    ("firmware", "boot", "bus"),
    [("bios", "network", "virtio"), ("bios", "disk", "ide"), ("uefi", "network", "nvme"),
     ("uefi", "disk", "virtio"), ("uefi", "disk-then-network", "nvme")],
)  # fmt: skip
def test_qemu_accepts_the_command_line(tmp_path: Path, firmware: str, boot: str, bus: str) -> None:
    """Started paused (-S), QEMU checks every option and device before it would run a
    guest; a bad one ends it at once with a message. Still running after 3 s: accepted."""
    vars_file = tmp_path / "vars.fd"
    if firmware == "uefi":
        if not OVMF_CODE.exists():
            pytest.skip("Debian's ovmf is not installed")
        shutil.copyfile("/usr/share/OVMF/OVMF_VARS_4M.fd", vars_file)
    spec = BootSpec(disk=_disk(tmp_path), disk_bus=bus, net="user", firmware=firmware, boot=boot,
                    efi_vars=vars_file, extra=("-S",))  # fmt: skip
    proc = subprocess.Popen(qemu_argv(spec), stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        out, _ = proc.communicate(timeout=3)
        pytest.fail(f"QEMU refused the command line: {out.decode(errors='replace')}")
    except subprocess.TimeoutExpired:
        pass
    finally:
        proc.kill()
        proc.wait()
