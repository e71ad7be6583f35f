"""The inventory on this host, field by field against what lsblk, ip, lscpu, /proc and /sys
say; a veth in a network namespace with a known MAC and address; and pyudev's path, with a
udev database written into a private /run."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.provision.inventory import collect, cpuinfo_fields, lookup_macs

REPO = Path(__file__).resolve().parents[2]
METALINIT = [sys.executable, "-m", "agent.cli"]
needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None, reason="needs root and iproute2"
)


def cli(*args: str, netns: str | None = None) -> subprocess.CompletedProcess[str]:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return subprocess.run(
        [*prefix, *METALINIT, *args], capture_output=True, text=True, cwd=REPO, check=False
    )


@pytest.fixture(scope="module")
def inventory() -> dict[str, object]:
    return collect()


def test_cpu_is_what_proc_and_lscpu_say(inventory: dict) -> None:
    cpu = inventory["cpu"]
    blocks = cpuinfo_fields(Path("/proc/cpuinfo").read_text())
    assert cpu["count"] == len(blocks)
    assert cpu["architecture"] == os.uname().machine
    assert cpu["flags"] == blocks[0].get("flags", "").split()
    if shutil.which("lscpu"):
        lscpu = {
            row["field"].rstrip(":"): row["data"]
            for row in json.loads(
                subprocess.run(["lscpu", "-J"], capture_output=True, text=True, check=True).stdout
            )["lscpu"]
        }
        assert cpu["model_name"] == lscpu["Model name"]
        assert cpu["count"] == int(lscpu["CPU(s)"])


def test_memory_is_meminfos(inventory: dict) -> None:
    total_kib = int(
        next(
            line.split()[1]
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
    )
    assert inventory["memory"]["total"] == total_kib * 1024
    assert inventory["memory"]["physical_mb"] >= total_kib // 1024


def test_disks_are_lsblks_disks(inventory: dict) -> None:
    rows = json.loads(
        subprocess.run(
            ["lsblk", "-J", "-b", "-d", "-o", "NAME,TYPE,SIZE,ROTA,VENDOR,MODEL,WWN,HCTL"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )["blockdevices"]
    real = {
        r["name"]: r
        for r in rows
        if r["type"] == "disk"
        and int(r["size"]) > 0
        and "/virtual/" not in os.path.realpath(f"/sys/class/block/{r['name']}")
    }
    ours = {d["name"].removeprefix("/dev/"): d for d in inventory["disks"]}
    assert set(ours) == set(real)
    for name, disk in ours.items():
        row = real[name]
        assert disk["size"] == int(row["size"])
        assert disk["rotational"] is bool(row["rota"])
        for key in ("vendor", "model", "wwn", "hctl"):  # lsblk knows them from sysfs too
            if row[key] is not None:
                assert disk[key] == row[key].strip(), key
        serial_file = Path(f"/sys/block/{name}/serial")
        if serial_file.exists():
            assert disk["serial"] == (serial_file.read_text().strip() or None)


def test_interfaces_are_ips(inventory: dict) -> None:
    links = json.loads(
        subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=True).stdout
    )
    real = {
        link["ifname"]: link
        for link in links
        if link["ifname"] != "lo"
        and link.get("address", "00:00:00:00:00:00") != "00:00:00:00:00:00"
    }
    ours = {nic["name"]: nic for nic in inventory["interfaces"]}
    assert set(ours) == set(real)
    for name, nic in ours.items():
        assert nic["mac_address"] == real[name]["address"]
        inet = [a["local"] for a in real[name].get("addr_info", []) if a["family"] == "inet"]
        assert nic["ipv4_address"] == (inet[0] if inet else None)
        carrier = Path(f"/sys/class/net/{name}/carrier")
        assert nic["carrier"] is (
            carrier.read_text().strip() == "1" if _readable(carrier) else False
        )
        driver = Path(f"/sys/class/net/{name}/device/driver")
        assert nic["driver"] == (os.path.basename(os.readlink(driver)) if driver.exists() else None)
    assert lookup_macs(inventory) == tuple(nic["mac_address"] for nic in inventory["interfaces"])


def _readable(path: Path) -> bool:
    try:
        path.read_text()
        return True
    except OSError:
        return False


def test_boot_and_system(inventory: dict) -> None:
    assert inventory["boot"]["current_boot_mode"] == (
        "uefi" if Path("/sys/firmware/efi").is_dir() else "bios"
    )
    assert inventory["hostname"] == os.uname().nodename
    vendor = Path("/sys/class/dmi/id/sys_vendor")
    assert inventory["system_vendor"]["manufacturer"] == (
        vendor.read_text().strip() if vendor.exists() else None
    )
    assert "errors" not in inventory


@pytest.fixture
def netns() -> Iterator[str]:
    name = f"inv{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(
            [
                "ip",
                "link",
                "add",
                "inv-a",
                "netns",
                name,
                "address",
                "02:aa:bb:cc:dd:01",
                "type",
                "veth",
                "peer",
                "name",
                "inv-b",
                "netns",
                name,
            ],
            check=True,
        )
        for command in (
            ["ip", "addr", "add", "10.99.1.2/24", "dev", "inv-a"],
            ["ip", "link", "set", "inv-a", "up"],
            ["ip", "link", "set", "inv-b", "up"],
        ):
            subprocess.run(["ip", "netns", "exec", name, *command], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


@needs_root
def test_a_veth_in_a_namespace(netns: str) -> None:
    done = cli("inventory", "--json", netns=netns)
    assert done.returncode == 0, done.stderr
    nics = {nic["name"]: nic for nic in json.loads(done.stdout)["interfaces"]}
    assert set(nics) == {"inv-a", "inv-b"}
    assert nics["inv-a"]["mac_address"] == "02:aa:bb:cc:dd:01"
    assert nics["inv-a"]["ipv4_address"] == "10.99.1.2"
    assert nics["inv-b"]["ipv4_address"] is None
    assert nics["inv-a"]["carrier"] is True
    assert nics["inv-a"]["speed_mbps"] == 10000  # what the veth driver reports
    assert nics["inv-a"]["driver"] is None  # no bus behind a veth


@needs_root
def test_text_output_names_every_part(netns: str) -> None:
    done = cli("inventory", netns=netns)
    assert done.returncode == 0, done.stderr
    assert "interface  inv-a  02:aa:bb:cc:dd:01  10.99.1.2  carrier, 10000 Mb/s" in done.stdout
    for word in ("hostname", "cpu", "memory", "firmware"):
        assert word in done.stdout


UDEV_SCRIPT = """
import json
from agent.provision.inventory_disks import disks
print(json.dumps(disks()))
"""


@needs_root
def test_a_udev_database_wins_over_sysfs() -> None:
    disk = next((d for d in collect()["disks"]), None)
    if disk is None:
        pytest.skip("this host has no disk")
    name = disk["name"].removeprefix("/dev/")
    devno = Path(f"/sys/class/block/{name}/dev").read_text().strip()
    db = (
        "I:1234\\nE:ID_MODEL=Test_Disk\\nE:ID_MODEL_ENC=Test\\\\x20Disk\\\\x20\\\\x20\\n"
        "E:ID_SERIAL_SHORT=SER-42\\nE:ID_WWN=0x5000000000000042\\nE:ID_PATH=pci-0000:00:09.0\\n"
    )
    script = (
        f"mount -t tmpfs none /run && mkdir -p /run/udev/data && printf '{db}' > /run/udev/data/b{devno} "
        f"&& exec {sys.executable} -c '{UDEV_SCRIPT}'"
    )
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, cwd=REPO, check=False
    )
    assert done.returncode == 0, done.stderr
    found = next(d for d in json.loads(done.stdout) if d["name"] == disk["name"])
    assert (found["model"], found["serial"], found["wwn"]) == (
        "Test Disk",
        "SER-42",
        "0x5000000000000042",
    )
    assert found["by_path"] == "/dev/disk/by-path/pci-0000:00:09.0"
    assert found["size"] == disk["size"]
