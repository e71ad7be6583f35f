"""The iPXE scripts, as tables: who gets the agent and who the local disk, the agent's
command line and archives, and scripts that only use what Debian's iPXE (2019) has."""

from __future__ import annotations

import re

import pytest

from server import pxe

# `help` in Debian's iPXE 1.0.0+git-20190125 (both the BIOS ROM and ipxe.efi); no poweroff
HELP = """config cpuid dhcp pxebs ifopen ifclose ifstat ifconf imgfetch module initrd kernel
chain imgselect imgload imgargs imgexec boot imgstat imgfree login menu item choose show set
clear read inc reboot route sanhook sanboot sanunhook prompt goto shell help sync autoboot
sleep iseq isset exit echo"""
IPXE_2019_COMMANDS = frozenset(HELP.split())
BASE = "http://10.77.0.1:8080"
FILES = pxe.BootFiles(
    f"{BASE}/artifacts/boot/vmlinuz",
    (f"{BASE}/artifacts/boot/initramfs.cpio.zst",
     f"{BASE}/artifacts/boot/initramfs-hardware.cpio.zst"),
)  # fmt: skip
MACHINE = pxe.Machine("node-1", True, "wf-123", "nomodeset metalinit.modules=ixgbe")


def commands(script: str) -> list[str]:
    """Every command a script runs, including those after && and ||."""
    found = []
    for line in script.splitlines()[1:]:
        if not line or line.startswith((":", "#")):
            continue
        for part in re.split(r"\s(?:&&|\|\|)\s", line):
            found.append(part.split()[0])
    return found


def assert_well_formed(script: str) -> None:
    assert script.startswith("#!ipxe\n")
    assert set(commands(script)) <= IPXE_2019_COMMANDS, set(commands(script)) - IPXE_2019_COMMANDS
    labels = set(re.findall(r"^:(\S+)$", script, re.M))
    assert set(re.findall(r"goto (\S+)", script)) <= labels


@pytest.mark.parametrize(
    ("machine", "reason"),
    [
        (None, pxe.Reason.UNKNOWN),
        (pxe.Machine("a", False, "wf"), pxe.Reason.NETBOOT_OFF),
        (pxe.Machine("a", True, None), pxe.Reason.NOTHING_TO_DO),
        (pxe.Machine("a", False, None), pxe.Reason.NETBOOT_OFF),
        (pxe.Machine("a", True, "wf"), None),
    ],
)
def test_who_boots_the_agent(machine: pxe.Machine | None, reason: pxe.Reason | None) -> None:
    assert pxe.reason_for(machine) is reason


def test_chain_asks_again_with_mac_and_platform() -> None:
    script = pxe.chain_script(BASE + "/")
    assert_well_formed(script)
    assert (
        f"chain --autofree {BASE}/ipxe?mac=${{mac:hexhyp}}&platform=${{platform}}"
        "&buildarch=${buildarch} || exit 1"
    ) in script


@pytest.mark.parametrize(
    ("platform", "last"),
    [("efi", "exit 0"), ("pcbios", "exit 0")],
)
def test_local_disk_hands_the_machine_back_to_the_firmware(platform: str, last: str) -> None:
    script = pxe.local_script(platform, "52:54:00:aa:00:01", pxe.Reason.NOTHING_TO_DO)
    assert_well_formed(script)
    assert script.splitlines()[-1] == last
    assert "52:54:00:aa:00:01 boots its local disk: it has no pending workflow" in script
    assert not re.search(r"^(chain|goto|kernel|boot)\b", script, re.M)  # never a loop back


def test_local_disk_script_echoes_no_ipxe_syntax() -> None:
    script = pxe.local_script("efi", "${evil} || shell", pxe.Reason.BAD_REQUEST)
    assert "${" not in script and "||" not in script


def test_agent_script_downloads_each_file_with_retries_then_boots() -> None:
    args = pxe.kernel_args(BASE, "52:54:00:aa:00:01",
                           ("initramfs.cpio.zst", "initramfs-hardware.cpio.zst"),
                           MACHINE.kernel_args)  # fmt: skip
    script = pxe.agent_script(MACHINE, FILES, args)
    assert_well_formed(script)
    assert f"kernel --name vmlinuz {FILES.kernel} {args} && goto got0 || inc try0" in script
    for n, url in enumerate(FILES.initrds, start=1):
        name = url.rsplit("/", 1)[1]
        assert f"initrd --name {name} {url} && goto got{n} || inc try{n}" in script
        assert f"iseq ${{try{n}}} {pxe.ATTEMPTS} && goto failed" in script
    lines = script.splitlines()
    assert lines.index("boot || goto failed") > lines.index(":got2")
    assert lines[-1] == "exit 1"  # downloads that never came: the firmware's next device
    assert "node-1 boots the agent for workflow wf-123" in script


@pytest.mark.parametrize(
    ("initrds", "extra", "expected"),
    [
        (("initramfs.cpio.zst",), "",
         f"provision={BASE} metalinit.iface=52:54:00:aa:00:01 console=tty0 "
         "console=ttyS0,115200 initrd=initramfs.cpio.zst"),
        (("initramfs.cpio.zst", "initramfs-hardware.cpio.zst"), "console=ttyS1,9600 quiet",
         f"provision={BASE} metalinit.iface=52:54:00:aa:00:01 console=tty0 "
         "console=ttyS0,115200 initrd=initramfs.cpio.zst initrd=initramfs-hardware.cpio.zst "
         "console=ttyS1,9600 quiet"),
    ],
)  # fmt: skip
def test_kernel_args(initrds: tuple[str, ...], extra: str, expected: str) -> None:
    assert pxe.kernel_args(BASE, "52:54:00:aa:00:01", initrds, extra) == expected


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (["vmlinuz", "initramfs.cpio.zst"], ("initramfs.cpio.zst",)),
        (["initramfs-hardware.cpio.zst", "vmlinuz", "initramfs.cpio.zst"],
         ("initramfs.cpio.zst", "initramfs-hardware.cpio.zst")),
        (["initramfs.cpio.gz", "README", "initramfs-b.cpio.gz", "initramfs-a.cpio.gz"],
         ("initramfs.cpio.gz", "initramfs-a.cpio.gz", "initramfs-b.cpio.gz")),
        (["vmlinuz"], ()),
    ],
)  # fmt: skip
def test_archive_order(names: list[str], expected: tuple[str, ...]) -> None:
    assert pxe.archive_order(names) == expected


@pytest.mark.parametrize(
    ("text", "platform"), [("pcbios", "pcbios"), ("efi", "efi"), ("", "efi"), ("arm64", "efi")]
)
def test_platform_of(text: str, platform: str) -> None:
    assert pxe.platform_of(text) == platform
