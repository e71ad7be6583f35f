"""A `provision=` boot of our kernel + initramfs under QEMU, reaching a real `metalinit
serve` on the host through QEMU's user network (the host is 10.0.2.2 to the guest), with a
blank virtio disk that has a serial number.

The guest gets its lease, makes /dev/disk links, looks itself up with its inventory, runs
its workflow; a failing action ends at the rescue banner naming it, and `rescue` typed on
the console while the worker waits stops it there too.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from initramfs.qemu import Guest
from tests.provision.conftest import served
from tests.provision.workers import wait_until
from tests.qemu.conftest import BootFn
from tests.server.fleet import Fleet, action, task
from tests.server.serving import Served

pytestmark = [pytest.mark.qemu]
__all__ = ["served"]  # the per-test `metalinit serve` fixture
BOOT_SECONDS = 240
GUEST_MAC = "52:54:00:12:34:56"
SERIAL = "target-disk"


@pytest.fixture
def blank(tmp_path: Path) -> Path:
    disk = tmp_path / "blank.img"
    with disk.open("wb") as f:
        f.truncate(256 * 1024 * 1024)
    return disk


def guest_url(served: Served) -> str:
    return "http://10.0.2.2:" + served.url.rsplit(":", 1)[1]


def start(boot: BootFn, served: Served, blank: Path, append: str = "") -> Guest:
    drive = ("-drive", f"file={blank},format=raw,if=none,id=target,cache=unsafe",
             "-device", f"virtio-blk-pci,drive=target,serial={SERIAL}")  # fmt: skip
    return boot(
        f"provision={guest_url(served)} {append}".strip(),
        None,
        net="user",
        mac=GUEST_MAC,
        extra=drive,
    )


def test_a_failing_action_ends_at_the_banner_and_the_server_has_the_inventory(
    boot: BootFn, served: Served, blank: Path
) -> None:
    fleet = Fleet(served)
    fleet.admin.put_hardware("qemu-guest", macs=[GUEST_MAC], disks=["/dev/vda"])
    image = action("write-image", image="127.0.0.1:9/no/such-image:1", timeout=120)
    name = fleet.template([task("os", GUEST_MAC, [image])])
    wf = fleet.admin.create_workflow(name, {"device_1": GUEST_MAC})["id"]
    guest = start(boot, served, blank)
    assert guest.wait_for(r"lookup: this is qemu-guest", BOOT_SECONDS), guest.console
    assert guest.wait_for(r"stage 'provision' failed", BOOT_SECONDS), guest.console
    why = guest.wait_for(r"why: (.*)", 10)
    assert why and f"workflow {wf}, action write-image" in why.group(1), guest.console
    assert guest.wait_for(r"rescue shell started", 30), guest.console
    guest.send("ls /dev/disk/by-id /dev/disk/by-path; echo listed-$((6*7))\n")
    assert guest.wait_for(r"listed-42", 60), guest.console
    console = guest.console
    assert f"virtio-{SERIAL}" in console
    assert fleet.admin.workflow(wf)["state"] == "FAILED"
    inventory = wait_until(
        "the guest's inventory", lambda: fleet.admin.hardware("qemu-guest").get("inventory")
    )
    disks = {d["name"]: d for d in inventory["disks"]}
    assert disks["/dev/vda"]["serial"] == SERIAL and disks["/dev/vda"]["size"] == 256 * 1024 * 1024
    by_path = disks["/dev/vda"]["by_path"]
    assert (
        by_path
        and by_path.startswith("/dev/disk/by-path/pci-0000:00:")
        and by_path.rsplit("/", 1)[1] in console
    )
    nics = {n["mac_address"]: n for n in inventory["interfaces"]}
    assert (
        nics[GUEST_MAC]["ipv4_address"] == "10.0.2.15" and nics[GUEST_MAC]["driver"] == "virtio_net"
    )
    assert inventory["boot"]["pxe_interface"] == GUEST_MAC
    assert inventory["cpu"]["count"] == 1


def test_rescue_typed_on_the_console_stops_a_waiting_worker(
    boot: BootFn, served: Served, blank: Path
) -> None:
    Fleet(served).admin.put_hardware("idle-guest", macs=[GUEST_MAC], disks=["/dev/vda"])
    guest = start(boot, served, blank)
    assert guest.wait_for(r"next: nothing to run yet", BOOT_SECONDS), guest.console
    guest.send("rescue\n")
    assert guest.wait_for(r"'rescue' was typed on the console", 60), guest.console
    assert guest.wait_for(r"rescue shell started", 30), guest.console
    guest.send("echo shell-$((6*7))\n")
    assert guest.wait_for(r"shell-42", 60), guest.console
