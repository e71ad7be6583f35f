"""Network boot end to end: QEMU machines on taps of a bridge in namespaces this test makes,
with a real dnsmasq (run by `metalinit serve --dhcp`) and `metalinit serve --pxe` on the
bridge's address. A machine with nothing to do boots its disk; a blank one PXE-boots the
agent, runs its workflow, and comes up in the system it installed (BIOS by kexec, UEFI by
reboot through the ESP); a wrong checksum ends at the rescue banner; proxy mode works
beside a DHCP server that hands out the addresses."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from initramfs.build import Result
from initramfs.qemu import choose_accel
from tests.net.conftest import needs_root
from tests.netboot.lan import net_serve, netboot_lan
from tests.qemu import installed
from tests.qemu.netboot import Rack, publish, tail, up_line

pytestmark = [pytest.mark.qemu, pytest.mark.root, needs_root]
LOCAL_BOOT_SECONDS = 180
NETBOOT_SECONDS = 300


@pytest.fixture(scope="module")
def image(built: Result, tmp_path_factory: pytest.TempPathFactory) -> installed.InstalledImage:
    missing = installed.missing_tools()
    if missing:
        pytest.skip(f"the installed-system disk needs: {', '.join(missing)}")
    work = tmp_path_factory.mktemp("installed")
    return installed.build_installed(work, built.vmlinuz, built.initramfs)


@pytest.fixture(scope="module")
def rack(
    built: Result, image: installed.InstalledImage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Rack]:
    work = tmp_path_factory.mktemp("rack")
    with (
        netboot_lan(f"q{os.getpid() % 10000}") as net,
        net_serve(net, work, "--pxe", "--dhcp", "full", "--dhcp-interface", "br0",
                  boot_files=(built.vmlinuz, built.initramfs)) as server,
    ):  # fmt: skip
        publish(server, image)
        yield Rack(net, server, work, image, choose_accel(built.vmlinuz))


@pytest.fixture
def machines(rack: Rack) -> Iterator[Rack]:
    """The rack, with every guest a test started killed at its end and checked for a
    kernel panic, which no boot may ever end in."""
    yield rack
    panicked = rack.stop_guests()
    assert not panicked, panicked[0]


def test_unknown_and_idle_machines_boot_their_local_disk(machines: Rack) -> None:
    rack = machines
    stranger = rack.machine("stranger")
    stranger.disk = rack.installed_copy(stranger.name)
    idle = rack.machine("idle")
    idle.disk = rack.installed_copy(idle.name)
    rack.add_hardware(idle)
    for machine, reason in (
        (stranger, "no hardware record has this MAC"),
        (idle, "it has no pending workflow"),
    ):
        guest = rack.power_on(machine)
        # iPXE wraps its lines at 80 columns: the reason is read from the server's log.
        said = guest.wait_for(f"metalinit: {machine.mac} boots its local disk", LOCAL_BOOT_SECONDS)
        assert said, tail(guest)
        assert rack.server_said(
            rf"ipxe: {machine.mac} from \S+ \(pcbios i386\) boots local disk: {reason}"
        )
        up = guest.wait_for(up_line("syslinux"), LOCAL_BOOT_SECONDS)
        assert up, tail(guest)
        assert "boots the agent" not in guest.console
        assert guest.wait(30) == 0, tail(guest)  # the installed system powered off
