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
from initramfs.qemu import Guest, choose_accel
from tests.net.conftest import needs_root
from tests.netboot.lan import net_serve, netboot_lan
from tests.qemu import installed
from tests.qemu.netboot import (
    HOSTNAME,
    MARK,
    Machine,
    Rack,
    expect,
    install_actions,
    publish,
    stage_boot_files,
    tail,
    up_line,
)

pytestmark = [pytest.mark.qemu, pytest.mark.root, needs_root]
LOCAL_BOOT_SECONDS = 180
NETBOOT_SECONDS = 300
UEFI_REBOOT_SECONDS = 900


@pytest.fixture(scope="module")
def rack(
    built: Result,
    installed_image: installed.InstalledImage,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Rack]:
    work = tmp_path_factory.mktemp("rack")
    stage_boot_files(work, built.vmlinuz, built.initramfs)
    with (
        netboot_lan(f"q{os.getpid() % 10000}") as net,
        net_serve(net, work, "--pxe", "--dhcp", "full", "--dhcp-interface", "br0",
                  ) as server,
    ):  # fmt: skip
        publish(server, installed_image)
        yield Rack(net, server, work, installed_image, choose_accel(built.vmlinuz))


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
        expect(guest, f"metalinit: {machine.mac} boots its local disk", LOCAL_BOOT_SECONDS)
        assert rack.server_said(
            rf"ipxe: {machine.mac} from \S+ \(pcbios i386\) boots local disk: {reason}"
        )
        expect(guest, up_line("syslinux"), LOCAL_BOOT_SECONDS)
        assert "boots the agent" not in guest.console
        assert guest.wait(30) == 0, tail(guest)  # the installed system powered off


def installs(rack: Rack, machine: Machine, wf: str, via: str, guest: Guest,
             up_seconds: float = NETBOOT_SECONDS) -> None:  # fmt: skip
    """The machine ran its workflow and came up in the installed system by `via`: the
    console, the server's record of every action and the disk all say so."""
    expect(guest, r"metalinit: \S+ boots the agent for workflow", NETBOOT_SECONDS)
    expect(guest, rf"lookup: this is {machine.name}", NETBOOT_SECONDS)
    up = expect(guest, up_line(via), up_seconds)
    assert up.groups() == (HOSTNAME.format(name=machine.name), MARK.format(name=machine.name))
    view = rack.workflow(wf)
    assert view["state"] == "SUCCESS", view
    for act in view["actions"]:
        assert act["state"] == "SUCCESS", act
        assert act["seconds"] is not None and act["seconds"] >= 0, act
        assert act["started_at"] <= act["stopped_at"], act
    assert not rack.hardware(machine.name)["allow_netboot"]  # turned off by the success


def on_disk(rack: Rack, machine: Machine) -> tuple[str | None, str | None]:
    offset = rack.image.root_offset
    return (
        installed.read_file(machine.disk, offset, "/etc/hostname"),
        installed.read_file(machine.disk, offset, installed.MARK_PATH),
    )


def boots_its_disk_after(rack: Rack, machine: Machine, via: str) -> None:
    """Powered on again, the machine is sent to its disk (netboot is off) and comes up."""
    guest = rack.power_on(machine)
    expect(guest, f"metalinit: {machine.mac} boots its local disk", LOCAL_BOOT_SECONDS)
    assert rack.server_said(rf"ipxe: {machine.mac} from .* boots local disk: netboot is turned off")
    up = expect(guest, up_line(via), LOCAL_BOOT_SECONDS)
    assert up.group(1) == HOSTNAME.format(name=machine.name)
    assert "boots the agent" not in guest.console
    assert guest.wait(30) == 0, tail(guest)


def install_by_kexec(rack: Rack, label: str) -> Machine:
    """A blank BIOS machine with the install workflow, powered on until its installed
    system (entered by kexec) powered off."""
    machine = rack.machine(label)
    rack.add_hardware(machine)
    checksum = f"sha256:{rack.image.sha256}"
    wf = rack.add_workflow(machine, install_actions(rack, machine, checksum, "kexec"))
    guest = rack.power_on(machine)
    installs(rack, machine, wf, "kexec", guest)
    assert guest.wait(60) == 0, tail(guest)  # the installed system powered off
    return machine


def test_bios_machine_installs_kexecs_into_it_then_boots_its_disk(machines: Rack) -> None:
    rack = machines
    machine = install_by_kexec(rack, "bios")
    hostname, mark = on_disk(rack, machine)
    assert hostname == HOSTNAME.format(name=machine.name)
    assert mark == MARK.format(name=machine.name) + "\n"
    boots_its_disk_after(rack, machine, "syslinux")


def test_a_wrong_checksum_fails_the_action_and_ends_at_the_rescue_banner(machines: Rack) -> None:
    rack = machines
    machine = rack.machine("badsum")
    rack.add_hardware(machine)
    wrong = "sha256:" + "0" * 64
    wf = rack.add_workflow(machine, install_actions(rack, machine, wrong, "kexec")[:1])
    guest = rack.power_on(machine)
    expect(
        guest,
        r"stage 'provision' failed",
        NETBOOT_SECONDS,
        stuck=r"No bootable device|Kernel panic",
    )
    why = guest.wait_for(r"why: (.*)", 10)
    assert why and f"workflow {wf}, action stream-image" in why.group(1), tail(guest)
    assert guest.wait_for(r"rescue shell started", 30), tail(guest)
    view = rack.workflow(wf)
    assert (view["state"], view["actions"][0]["state"]) == ("FAILED", "FAILED"), view
    message = view["actions"][0]["message"]
    assert "checksum mismatch" in message and "0" * 64 in message, message
    assert rack.image.sha256 in message, message
    assert rack.hardware(machine.name)["allow_netboot"]  # a failure leaves netboot on


def test_uefi_machine_on_nvme_installs_then_reboots_into_its_disk(machines: Rack) -> None:
    """OVMF with the disk first: the blank NVMe disk has no ESP, so the firmware goes on to
    PXE, gets ipxe.efi by TFTP, which chains to the agent; the workflow writes /dev/nvme0n1
    and ends in a reboot, and this time the firmware finds the ESP: systemd-boot boots the
    installed system. (Network first, as the BIOS machines are, does not work with Debian
    12's ipxe.efi: after the local-disk script's `exit` it never hands the machine back to
    OVMF; docs/netboot.md has the details.)"""
    rack = machines
    machine = rack.machine(
        "uefi", firmware="uefi", disk_bus="nvme", reboot=True, boot="disk-then-network"
    )
    rack.add_hardware(machine)
    assert rack.hardware(machine.name)["disks"] == ["/dev/nvme0n1"]
    checksum = f"sha256:{rack.image.sha256}"
    wf = rack.add_workflow(machine, install_actions(rack, machine, checksum, "reboot"))
    guest = rack.power_on(machine)
    installs(rack, machine, wf, "systemd-boot", guest, UEFI_REBOOT_SECONDS)
    assert rack.server_said(rf"ipxe: {machine.mac} from \S+ \(efi [^)]*\) boots the agent")
    assert rack.server_said(r"sent \S*/ipxe\.efi to ")  # by dnsmasq's TFTP
    assert guest.console.count("boots the agent for workflow") == 1  # no second install
    assert "boots its local disk" not in guest.console  # the disk came first
    assert guest.wait(60) == 0, tail(guest)  # the installed system powered off
    hostname, mark = on_disk(rack, machine)
    assert hostname == HOSTNAME.format(name=machine.name)
    assert mark == MARK.format(name=machine.name) + "\n"
