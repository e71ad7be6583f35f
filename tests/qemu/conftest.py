"""Fixtures for the end-to-end boots: our real kernel + initramfs, built once per session,
and disks made with mkfs.ext4 from a busybox tree."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from initramfs.build import Options, Result, build
from initramfs.qemu import BootSpec, Guest, choose_accel
from tests.disks import busybox_disk
from tests.qemu import installed
from tests.qemu.netboot import build_image

ROOT_UUID = "7d3c1f0e-8a4b-4c2d-9e1f-0a1b2c3d4e5f"
IMAGE_JSON = {
    "config": {
        "Entrypoint": ["/bin/sh", "-c"],
        "Cmd": ['echo "image says: cwd=$(pwd) user=$(id -u) greeting=$GREETING"'],
        "Env": ["GREETING=hello from image.json", "PATH=/bin"],
        "WorkingDir": "/srv",
        "User": "app",
    },
    "metalinit": {"reference": "test/busybox:1", "manifest_digest": "", "platform": "linux/amd64"},
}
PANIC_WORDS = ("Kernel panic", "Attempted to kill init")


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory) -> Result:
    return build(Options(out=tmp_path_factory.mktemp("out")))


@pytest.fixture(scope="session")
def disks(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("disks")
    return {
        "plain": busybox_disk(base, "e2e-root", ROOT_UUID),
        "image": busybox_disk(
            base, "e2e-image", "0c0ffee0-1111-4222-8333-444455556666", IMAGE_JSON
        ),
    }


BootFn = Callable[..., Guest]


@pytest.fixture
def boot(built: Result) -> Iterator[BootFn]:
    """Start a guest; every guest is killed at the end of the test, and its console is
    checked for a kernel panic, which no boot may ever end in."""
    guests: list[Guest] = []
    accel = choose_accel(built.vmlinuz)

    def start(append: str, disk: Path | None = None, **options: object) -> Guest:
        spec = BootSpec(built.vmlinuz, built.initramfs, disk, append=append, accel=accel, **options)  # type: ignore[arg-type]
        guest = Guest(spec).start()
        guests.append(guest)
        return guest

    yield start
    for guest in guests:
        guest.kill()
        for word in PANIC_WORDS:
            assert word not in guest.console, guest.console


@pytest.fixture(scope="session")
def installed_image(
    built: Result, tmp_path_factory: pytest.TempPathFactory
) -> installed.InstalledImage:
    """The installed system the network-boot racks publish (machines get copies of it)."""
    return build_image(built.vmlinuz, built.initramfs, tmp_path_factory.mktemp("installed"))
