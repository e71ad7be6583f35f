"""`metalinit serve --pxe` for real (a process on 127.0.0.1): the script each kind of
machine gets, the boot files taken from ARTIFACTS/boot, netboot turned off after a
workflow succeeds unless it says otherwise, and `metalinit hw netboot` turning it back on."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from agent.provision.wire import ActionState as A
from tests.server.fleet import Fleet, action, task
from tests.server.serving import Served, serving


@pytest.fixture(scope="module")
def pxe_served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("pxe")
    boot = tmp / "artifacts" / "boot"
    boot.mkdir(parents=True)
    for name in ("vmlinuz", "initramfs.cpio.zst", "initramfs-hardware.cpio.zst", "notes.txt"):
        (boot / name).write_bytes(name.encode())
    with serving(tmp, extra=["--pxe"]) as served:
        yield served


@pytest.fixture
def fleet(pxe_served: Served) -> Fleet:
    return Fleet(pxe_served)


def ask(served: Served, mac: str, platform: str = "pcbios") -> str:
    reply = requests.get(served.url + "/ipxe", params={"mac": mac.replace(":", "-"),
                         "platform": platform, "buildarch": "i386"}, timeout=10)  # fmt: skip
    assert reply.status_code == 200, reply.text
    assert reply.headers["content-type"].startswith("text/plain")
    return reply.text


def with_workflow(fleet: Fleet, **options: object) -> tuple[str, str, str]:
    name, mac = fleet.machine()
    tpl = fleet.template([task("os", mac, [action("only")])])
    wf = fleet.admin.create_workflow(tpl, {"device_1": mac}, **options)["id"]
    return name, mac, wf


def finish(fleet: Fleet, mac: str) -> None:
    client = fleet.served.machine()
    client.lookup([mac])
    spec = client.next().action
    assert spec is not None
    client.report(spec, A.RUNNING)
    client.report(spec, A.SUCCESS)


def test_boot_ipxe_chains_to_the_machine_script(pxe_served: Served) -> None:
    text = requests.get(pxe_served.url + "/boot.ipxe", timeout=10).text
    assert f"chain --autofree {pxe_served.url}/ipxe?mac=${{mac:hexhyp}}&platform=" in text


def test_unknown_mac_and_bad_request_boot_the_local_disk(pxe_served: Served) -> None:
    assert "boots its local disk: no hardware record has this MAC" in ask(
        pxe_served, "02:00:00:00:00:99"
    )
    text = ask(pxe_served, "not-a-mac", "efi")
    assert "the request named no valid MAC" in text and text.endswith("exit 0\n")
    assert (
        "ipxe: 02:00:00:00:00:99 from 127.0.0.1 (pcbios i386) boots local disk"
        in pxe_served.log_text()
    )


def test_a_machine_with_nothing_to_do_boots_its_disk(fleet: Fleet) -> None:
    _, mac = fleet.machine()
    assert "boots its local disk: it has no pending workflow" in ask(fleet.served, mac)


def test_a_pending_workflow_gets_the_agent_with_every_archive(fleet: Fleet) -> None:
    name, mac, wf = with_workflow(fleet)
    text = ask(fleet.served, mac)
    boot = f"{fleet.served.url}/artifacts/boot"
    assert f"boots the agent for workflow {wf}" in text
    assert (
        f"kernel --name vmlinuz {boot}/vmlinuz provision={fleet.served.url} metalinit.iface={mac} console=tty0 console=ttyS0,115200 initrd=initramfs.cpio.zst initrd=initramfs-hardware.cpio.zst &&"
        in text
    )
    assert f"initrd --name initramfs.cpio.zst {boot}/initramfs.cpio.zst" in text
    assert f"initrd --name initramfs-hardware.cpio.zst {boot}/initramfs-hardware.cpio.zst" in text
    assert text.index("initrd --name initramfs.cpio.zst") < text.index("initrd --name initramfs-h")
    assert "notes.txt" not in text
    served = requests.get(f"{boot}/initramfs-hardware.cpio.zst", timeout=10)
    assert served.content == b"initramfs-hardware.cpio.zst"  # the URLs it names are served
    assert f"(hardware {name})" in fleet.served.log_text()


def test_the_interfaces_kernel_params_come_last(fleet: Fleet) -> None:
    mac = fleet.mac()
    iface = {"dhcp": {"mac": mac}, "netboot": {"allowPXE": True, "allowWorkflow": True,
             "osie": {"kernelParams": ["metalinit.modules=ixgbe", "quiet"]}}}  # fmt: skip
    fleet.admin.put_hardware(f"k-{mac.replace(':', '')}", interfaces=[iface], disks=["/dev/vda"])
    tpl = fleet.template([task("os", mac, [action("only")])])
    fleet.admin.create_workflow(tpl, {"device_1": mac})
    assert "initrd=initramfs-hardware.cpio.zst metalinit.modules=ixgbe quiet &&" in ask(
        fleet.served, mac
    )


def test_an_interface_with_allow_pxe_false_boots_its_disk(fleet: Fleet) -> None:
    mac = fleet.mac()
    iface = {"dhcp": {"mac": mac}, "netboot": {"allowPXE": False}}
    fleet.admin.put_hardware(f"n-{mac.replace(':', '')}", interfaces=[iface], disks=["/dev/vda"])
    tpl = fleet.template([task("os", mac, [action("only")])])
    fleet.admin.create_workflow(tpl, {"device_1": mac})
    assert "netboot is turned off for it" in ask(fleet.served, mac)


def test_netboot_is_off_after_success_and_hw_netboot_turns_it_on(fleet: Fleet) -> None:
    name, mac, _ = with_workflow(fleet)
    finish(fleet, mac)
    assert not fleet.admin.hardware(name)["allow_netboot"]
    assert "netboot is turned off for it" in ask(fleet.served, mac)
    env = {"METALINIT_SERVER": fleet.served.url, "METALINIT_TOKEN": fleet.served.token}
    done = subprocess.run([sys.executable, "-m", "agent.cli", "hw", "netboot", name, "on"],
                          capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"hardware {name}: netboot on" in done.stdout
    view = fleet.admin.hardware(name)
    assert view["allow_netboot"]
    assert all(i["netboot"]["allowPXE"] for i in view["spec"]["interfaces"])
    tpl = fleet.template([task("os", mac, [action("again")])])
    wf = fleet.admin.create_workflow(tpl, {"device_1": mac})["id"]
    assert f"boots the agent for workflow {wf}" in ask(fleet.served, mac)


def test_a_workflow_that_keeps_netboot_leaves_it_on(fleet: Fleet) -> None:
    name, mac, _ = with_workflow(fleet, toggle_allow_netboot=False)
    finish(fleet, mac)
    assert fleet.admin.hardware(name)["allow_netboot"]
    assert "it has no pending workflow" in ask(fleet.served, mac)


def test_hw_netboot_of_an_unknown_machine_is_one_line(pxe_served: Served) -> None:
    env = {"METALINIT_SERVER": pxe_served.url, "METALINIT_TOKEN": pxe_served.token}
    done = subprocess.run([sys.executable, "-m", "agent.cli", "hw", "netboot", "ghost", "off"],
                          capture_output=True, text=True, env=env, check=False)  # fmt: skip
    assert done.returncode == 1 and "no hardware named or with MAC 'ghost'" in done.stderr
    assert "Traceback" not in done.stderr


def test_without_boot_files_a_machine_with_work_is_told_what_to_copy(tmp_path: Path) -> None:
    with serving(tmp_path, extra=["--pxe"]) as served:
        assert "has no vmlinuz and initramfs*.cpio.*" in served.log_text()
        fleet = Fleet(served)
        _, mac, _ = with_workflow(fleet)
        reply = requests.get(served.url + "/ipxe", params={"mac": mac}, timeout=10)
        assert reply.status_code == 503 and "copy `metalinit build`'s out/ there" in reply.text


def test_without_pxe_there_is_no_ipxe_route(tmp_path: Path) -> None:
    with serving(tmp_path) as served:
        assert requests.get(served.url + "/boot.ipxe", timeout=10).status_code == 404
