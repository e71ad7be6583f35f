"""End-to-end: our real kernel and initramfs under QEMU, read through the serial console.

Every boot ends at the entrypoint's output, the configured on_exit, or the rescue banner;
the `boot` fixture fails any test whose console shows a kernel panic.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from initramfs.build import Result
from tests.qemu.conftest import ROOT_UUID, BootFn

pytestmark = pytest.mark.qemu

BOOT_SECONDS = 120  # TCG on a busy two-core machine; a boot takes ~10 s when quiet
BANNER = r"metalinit: stage '(\w+)' failed"


def test_entrypoint_output_then_poweroff_ends_qemu(boot: BootFn, disks: dict[str, Path]) -> None:
    guest = boot(
        "root=/dev/vda metalinit.on_exit=poweroff entrypoint=\"/bin/sh -c 'echo hello from $(uname -s) on vda'\"",
        disks["plain"],
    )
    assert guest.wait_for("hello from Linux on vda", BOOT_SECONDS), guest.console
    assert guest.wait(BOOT_SECONDS) == 0, guest.console  # QEMU quits when the guest powers off
    console = guest.console
    assert "the entrypoint exited with code 0" in console
    assert "reboot: Power down" in console
    assert "modules: loaded" in console and "virtio_blk" in console


@pytest.mark.parametrize(
    ("root", "bus"),
    [("/dev/sda", "ide"), (f"UUID={ROOT_UUID}", "virtio"), ("LABEL=e2e-root", "ide")],
)
def test_root_by_device_uuid_and_label(
    boot: BootFn, disks: dict[str, Path], root: str, bus: str
) -> None:
    guest = boot(
        f'root={root} metalinit.on_exit=poweroff entrypoint="/bin/echo root-found"',
        disks["plain"],
        disk_bus=bus,
    )
    assert guest.wait_for("^root-found", BOOT_SECONDS), guest.console
    expected = "/dev/sda" if bus == "ide" else "/dev/vda"
    assert f"is {expected} (ext4)" in guest.console
    assert guest.wait(BOOT_SECONDS) == 0


def test_image_json_runs_as_the_image_says(boot: BootFn, disks: dict[str, Path]) -> None:
    guest = boot("root=/dev/vda metalinit.on_exit=poweroff", disks["image"])
    assert guest.wait_for(
        "image says: cwd=/srv user=1000 greeting=hello from image.json", BOOT_SECONDS
    ), guest.console
    assert guest.wait(BOOT_SECONDS) == 0


@pytest.fixture(scope="module")
def corrupt_disk(disks: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The busybox disk with its block-group descriptors overwritten: the superblock still
    says ext4, and the kernel refuses to mount it."""
    image = tmp_path_factory.mktemp("corrupt") / "corrupt.img"
    subprocess.run(["cp", "--sparse=always", str(disks["plain"]), str(image)], check=True)
    with image.open("r+b") as f:  # 1 KiB blocks: superblock at 1024, descriptors from 2048
        f.seek(2048)
        f.write(b"\xff" * 8192)
    return image


FAULTS = [
    ("no-such-device", "root=/dev/vdz rootwait=3", "find_root", "root device /dev/vdz not found"),
    ("wrong-uuid", "root=UUID=00000000-1111-2222-3333-444444444444 rootwait=3", "find_root",
     f"UUID={ROOT_UUID}"),
    ("corrupt-fs", "root=/dev/vda", "mount_root", "cannot mount /dev/vda"),
    ("missing-entrypoint", "root=/dev/vda entrypoint=/bin/nope", "run_entrypoint",
     "cannot start '/bin/nope'"),
    ("entrypoint-fails", "root=/dev/vda entrypoint=\"/bin/sh -c 'exit 3'\"", "run_entrypoint",
     "the entrypoint exited with code 3"),
    ("malformed-cmdline", "root=/dev/vda ip=garbage", "read_cmdline", "kernel argument ip='garbage'"),
    ("rescue-flag", "root=/dev/vda metalinit.rescue", "rescue_if_asked",
     "metalinit.rescue is on the kernel command line"),
]  # fmt: skip


@pytest.mark.parametrize(("name", "append", "stage", "why"), FAULTS, ids=[f[0] for f in FAULTS])
def test_fault_ends_at_the_rescue_banner(
    boot: BootFn,
    disks: dict[str, Path],
    corrupt_disk: Path,
    name: str,
    append: str,
    stage: str,
    why: str,
) -> None:
    disk = corrupt_disk if name == "corrupt-fs" else disks["plain"]
    guest = boot(append, disk)
    match = guest.wait_for(BANNER, BOOT_SECONDS)
    assert match is not None, guest.console
    assert match.group(1) == stage
    assert guest.wait_for("this is the rescue shell", 10), guest.console
    assert why in guest.console


def test_fault_with_on_exit_poweroff_powers_off(boot: BootFn, disks: dict[str, Path]) -> None:
    guest = boot(
        "root=/dev/vda metalinit.on_exit=poweroff entrypoint=\"/bin/sh -c 'exit 3'\"",
        disks["plain"],
    )
    assert guest.wait(BOOT_SECONDS) == 0, guest.console
    assert "the entrypoint exited with code 3" in guest.console
    assert "reboot: Power down" in guest.console


def test_hardware_archive_drives_an_e1000_nic(
    boot: BootFn, built: Result, disks: dict[str, Path]
) -> None:
    """Both archives, concatenated as `metalinit boot` passes them: e1000's module is only
    in the second, and coldplug finds it through the union index and loads it."""
    assert built.hardware is not None
    guest = boot(
        "root=/dev/vda metalinit.on_exit=poweroff entrypoint=\"/bin/cat /sys/class/net/eth0/address\"",
        disks["plain"],
        more_initrds=(built.hardware.path,),
        extra=("-netdev", "user,id=h0", "-device", "e1000,netdev=h0,mac=52:54:00:e1:00:00"),
    )  # fmt: skip
    assert guest.wait_for("^52:54:00:e1:00:00", BOOT_SECONDS), guest.console
    assert guest.wait(BOOT_SECONDS) == 0, guest.console
    assert "e1000" in guest.console and "Intel(R) PRO/1000 Network Connection" in guest.console


def test_missing_disk_controller_module_ends_at_rescue(
    boot: BootFn, disks: dict[str, Path]
) -> None:
    """An LSI SCSI controller, whose driver (sym53c8xx) is not in the default module set:
    the disk never appears, and the banner lists the disks that did."""
    guest = boot(
        "root=LABEL=e2e-root rootwait=3",
        None,
        extra=(
            "-drive", f"if=none,id=d0,format=raw,file={disks['plain']}",
            "-device", "lsi53c895a", "-device", "scsi-hd,drive=d0",
        ),
    )  # fmt: skip
    match = guest.wait_for(BANNER, BOOT_SECONDS)
    assert match is not None and match.group(1) == "find_root", guest.console
    assert guest.wait_for("root device LABEL=e2e-root not found", 10), guest.console


def test_rescue_shell_answers_on_the_serial_console(boot: BootFn, disks: dict[str, Path]) -> None:
    guest = boot("root=/dev/vda metalinit.rescue", disks["plain"])
    assert guest.wait_for(BANNER, BOOT_SECONDS), guest.console
    assert guest.wait_for("this is the rescue shell", 30), guest.console
    mark = len(guest.lines)
    guest.send("echo answer=$((6 * 7)); cat /proc/1/comm\n")
    assert guest.wait_for("^answer=42", 30, start=mark), guest.console
    assert guest.wait_for("^metalinit$|^init$", 10, start=mark), guest.console
    mark = len(guest.lines)
    guest.send("metalinit disks /dev/vda --json; echo disks-rc=$?\n")
    assert guest.wait_for(f'"uuid": "{ROOT_UUID}"', 60, start=mark), guest.console
    assert guest.wait_for("^disks-rc=0", 30, start=mark), guest.console


def test_quiet_keeps_the_console_to_warnings(boot: BootFn, disks: dict[str, Path]) -> None:
    guest = boot("quiet root=/dev/vda metalinit.on_exit=poweroff entrypoint=\"/bin/echo quiet-done\"", disks["plain"])  # fmt: skip
    assert guest.wait(BOOT_SECONDS) == 0, guest.console
    assert guest.wait_for("^quiet-done$", 5), guest.console
    assert "agent: " not in guest.console.split("cmdline:", 1)[-1]
