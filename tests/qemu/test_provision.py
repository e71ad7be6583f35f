"""A `provision=` boot of our kernel + initramfs under QEMU, reaching a real `metalinit
serve` on the host through QEMU's user network (the host is 10.0.2.2 to the guest), with a
blank virtio disk that has a serial number.

The guest gets its lease, makes /dev/disk links, looks itself up with its inventory, runs
its workflow: image2disk of a zstd image made by `img-from-container --partition gpt
--compress zst` (CHECKSUM given), writefile, cexec chrooted into it, then kexec into the
kernel and initramfs on that disk, whose entrypoint says so on the console. Tinkerbell's
Ubuntu example runs unchanged but for the disk and the image's address: growpart and an
online resize2fs in the chroot, netplan and cloud-init files, waitdaemon, and kexec from
the image's grub.cfg into it. A wrong checksum ends at the rescue banner naming the
action, and `rescue` typed on the console while the worker waits stops it there too.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from initramfs.build import Result
from initramfs.qemu import Guest
from tests.actions.harness import compress
from tests.provision import cloudimage
from tests.provision.conftest import served
from tests.provision.examples import MACHINE1_MAC, ubuntu_for_machine1
from tests.provision.workers import wait_until
from tests.qemu import installed
from tests.qemu.conftest import BootFn
from tests.server.fleet import Fleet, action, task
from tests.server.serving import Served

pytestmark = [pytest.mark.qemu]
__all__ = ["served"]  # the per-test `metalinit serve` fixture
BOOT_SECONDS = 240
GUEST_MAC = "52:54:00:12:34:56"
SERIAL = "target-disk"
IMAGE2DISK = "quay.io/tinkerbell/actions/image2disk:latest"
HOSTNAME = "provisioned-in-qemu"
MARK = "cexec-was-here"


@pytest.fixture(scope="session")
def kexec_image(built: Result, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """(the .zst, its sha256): busybox with our kernel and initramfs under /boot."""
    work = tmp_path_factory.mktemp("kexec-image")
    return installed.build_for_kexec(work, built.vmlinuz, built.initramfs)


def serve_image(served: Served, image: Path) -> str:
    """The image in the server's --artifacts; its URL as the guest reaches it."""
    try:
        os.link(image, served.artifacts / image.name)
    except OSError:
        shutil.copyfile(image, served.artifacts / image.name)
    return f"{guest_url(served)}/artifacts/{image.name}"


@pytest.fixture
def blank(tmp_path: Path) -> Path:
    disk = tmp_path / "blank.img"
    with disk.open("wb") as f:
        f.truncate(256 * 1024 * 1024)
    return disk


def guest_url(served: Served) -> str:
    return "http://10.0.2.2:" + served.url.rsplit(":", 1)[1]


def start(
    boot: BootFn, served: Served, blank: Path, append: str = "", mac: str = GUEST_MAC
) -> Guest:
    drive = ("-drive", f"file={blank},format=raw,if=none,id=target,cache=unsafe",
             "-device", f"virtio-blk-pci,drive=target,serial={SERIAL}")  # fmt: skip
    return boot(
        f"provision={guest_url(served)} {append}".strip(),
        None,
        net="user",
        mac=mac,
        extra=drive,
    )


def test_a_wrong_checksum_ends_at_the_banner_and_the_server_has_the_inventory(
    boot: BootFn, served: Served, blank: Path, kexec_image: tuple[Path, str]
) -> None:
    fleet = Fleet(served)
    fleet.admin.put_hardware("qemu-guest", macs=[GUEST_MAC], disks=["/dev/vda"])
    url = serve_image(served, kexec_image[0])
    env = {"IMG_URL": url, "DEST_DISK": "/dev/vda", "CHECKSUM": "sha256:" + "0" * 64}
    image = action("write-image", image=IMAGE2DISK, timeout=300, environment=env)
    name = fleet.template([task("os", GUEST_MAC, [image])])
    wf = fleet.admin.create_workflow(name, {"device_1": GUEST_MAC})["id"]
    guest = start(boot, served, blank)
    assert guest.wait_for(r"lookup: this is qemu-guest", BOOT_SECONDS), guest.console
    assert guest.wait_for(r"stage 'provision' failed", BOOT_SECONDS), guest.console
    why = guest.wait_for(r"why: (.*)", 10)
    assert why and f"workflow {wf}, action write-image: " in why.group(1), guest.console
    assert "checksum mismatch" in why.group(1), guest.console
    assert guest.wait_for(r"rescue shell started", 30), guest.console
    guest.send("ls /dev/disk/by-id /dev/disk/by-path; echo listed-$((6*7))\n")
    assert guest.wait_for(r"listed-42", 60), guest.console
    console = guest.console
    assert f"virtio-{SERIAL}" in console
    view = fleet.admin.workflow(wf)
    assert (view["state"], view["actions"][0]["state"]) == ("FAILED", "FAILED")
    assert f"sha256 {kexec_image[1]}" in view["actions"][0]["message"]
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


def test_a_workflow_installs_the_disk_and_kexecs_into_it(
    boot: BootFn, served: Served, blank: Path, kexec_image: tuple[Path, str]
) -> None:
    fleet = Fleet(served)
    fleet.admin.put_hardware("qemu-guest", macs=[GUEST_MAC], disks=["/dev/vda"])
    zst, sha256 = kexec_image
    by_uuid = f"/dev/disk/by-uuid/{installed.ROOT_UUID}"  # links made after image2disk
    actions = [
        action("write-image", image=IMAGE2DISK, timeout=300, environment={
            "IMG_URL": serve_image(served, zst), "DEST_DISK": "/dev/vda",
            "CHECKSUM": f"sha256:{sha256}"}),
        action("hostname", image="quay.io/tinkerbell/actions/writefile:latest", environment={
            "DEST_DISK": f"/dev/disk/by-id/virtio-{SERIAL}-part1", "FS_TYPE": "ext4",
            "DEST_PATH": "/etc/hostname", "CONTENTS": HOSTNAME, "MODE": "0644"}),
        action("mark", image="quay.io/tinkerbell/actions/cexec:latest", environment={
            "BLOCK_DEVICE": "/dev/vda1", "FS_TYPE": "ext4", "CHROOT": "y",
            "DEFAULT_INTERPRETER": "/bin/sh -c",
            "CMD_LINE": f"echo {MARK} > {installed.MARK_PATH}; echo chroot-has-$(ls /boot | wc -l)"}),
        action("kexec", image="quay.io/tinkerbell/actions/kexec:latest", environment={
            "BLOCK_DEVICE": by_uuid, "FS_TYPE": "ext4", "KERNEL_PATH": installed.KERNEL_PATH,
            "INITRD_PATH": installed.INITRD_PATH, "CMD_LINE": installed.cmdline("kexec")}),
    ]  # fmt: skip
    name = fleet.template([task("os", GUEST_MAC, actions)])
    wf = fleet.admin.create_workflow(name, {"device_1": GUEST_MAC})["id"]
    guest = start(boot, served, blank)
    assert guest.wait_for(r"lookup: this is qemu-guest", BOOT_SECONDS), guest.console
    assert guest.wait_for(r"mark: chroot-has-2", BOOT_SECONDS), guest.console
    assert guest.wait_for(r"action kexec: SUCCESS", BOOT_SECONDS), guest.console
    up = guest.wait_for(installed.UP + r" (installed\.via=.*)", BOOT_SECONDS)  # its output
    assert up, guest.console
    assert up.group(1) == f"installed.via=kexec hostname={HOSTNAME} mark={MARK}", guest.console
    view = fleet.admin.workflow(wf)
    assert view["state"] == "SUCCESS", view
    assert [(a["name"], a["state"]) for a in view["actions"]] == [
        ("write-image", "SUCCESS"), ("hostname", "SUCCESS"), ("mark", "SUCCESS"),
        ("kexec", "SUCCESS"),
    ]  # fmt: skip
    assert all(a["seconds"] is not None and a["seconds"] > 0 for a in view["actions"])
    logs = [line["text"] for line in fleet.admin.all_logs(wf, "write-image")]
    assert f"checksum verified: sha256:{sha256}" in logs, logs


@pytest.fixture(scope="session")
def cloud_image(built: Result, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stand-in Ubuntu cloud image (tests/provision/cloudimage.py) that boots our kernel
    and initramfs, gzipped as the example's image is."""
    work = tmp_path_factory.mktemp("cloud-image")
    return compress(cloudimage.build(work, built.vmlinuz, built.initramfs, image_mib=64), "gz")


def test_tinkerbell_s_ubuntu_example(
    boot: BootFn, served: Served, blank: Path, cloud_image: Path
) -> None:
    shutil.copyfile(cloud_image, served.artifacts / "jammy-server-cloudimg-amd64.raw.gz")
    served.admin().apply(ubuntu_for_machine1(f"{guest_url(served)}/artifacts", "/dev/vda"))
    guest = start(boot, served, blank, mac=MACHINE1_MAC)
    assert guest.wait_for(r"lookup: this is machine1", BOOT_SECONDS), guest.console
    assert guest.wait_for(r"grow-partition: CHANGED: partition=1", BOOT_SECONDS), guest.console
    assert guest.wait_for(r"kexec-into-os: loading /boot/vmlinuz", BOOT_SECONDS), guest.console
    up = guest.wait_for(cloudimage.UP + r" (root-kib=.*)", BOOT_SECONDS)
    assert up, guest.console
    root_kib, mac = (part.split("=")[1] for part in up.group(1).split())
    assert int(root_kib) > 200 * 1024 and mac == MACHINE1_MAC  # grown to the 256 MiB disk
    view = served.admin().workflow("machine1-ubuntu")
    assert view["state"] == "SUCCESS", view
    assert [a["state"] for a in view["actions"]] == ["SUCCESS"] * 6, view
    assert [a["attempt"] for a in view["actions"]] == [1] * 6, view
