"""`metalinit serve --dhcp` with a real dnsmasq in a namespace, answering real DHCP clients:
the boot file follows the client (PXE ROM by architecture, iPXE by user class), an
ordinary client gets a lease and no boot file, TFTP serves the iPXE binaries, proxy mode
adds boot options beside another DHCP server, and the supervisor restarts dnsmasq when
it dies and stops it with the server, even a server killed with -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

import pytest

from tests.net.conftest import needs_root
from tests.net.topology import PYTHON, REPO, Lan, dnsmasq, netns_exec, sh
from tests.netboot.lan import NetServer, net_serve, netboot_lan

pytestmark = [pytest.mark.root, needs_root]
CLIENT_MAC = "52:54:00:00:10:01"
URL = "http://10.77.0.1:8080/boot.ipxe"
UPPER_HALF = IPv4Network("10.77.128.0/17")


@pytest.fixture
def net(request: pytest.FixtureRequest) -> Iterator[Lan]:
    tag = f"d{os.getpid() % 1000}{abs(hash(request.node.nodeid)) % 100}"
    with netboot_lan(tag) as network:
        network.add_client_link("eth0", mac=CLIENT_MAC)
        sh(*network.client("ip", "link", "set", "eth0", "up"))
        yield network


def ask(net: Lan, *args: str) -> list[dict[str, str]]:
    """The OFFERs a DISCOVER like firmware's gets (tests/netboot/pxe_client.py)."""
    argv = net.client(str(PYTHON), "-m", "tests.netboot.pxe_client", "eth0", CLIENT_MAC, *args)
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=30, check=True)
    return list(json.loads(done.stdout))


def wait_log(server: NetServer, needle: str, timeout: float = 20.0) -> str:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if needle in (text := server.log_text()):
            return text
        time.sleep(0.1)
    raise AssertionError(f"{needle!r} not in the server's log:\n{server.log_text()}")


def dnsmasq_pid(server: NetServer) -> int:
    return int((server.data / "dnsmasq" / "pid").read_text())


def alive(pid: int) -> bool:
    try:
        return "State:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False


def test_full_mode_boot_file_follows_the_client(net: Lan, tmp_path: Path) -> None:
    with net_serve(net, tmp_path, "--dhcp", "full", "--dhcp-interface", "br0") as server:
        wait_log(server, "DHCP full on br0")
        table = [
            (["--arch", "0"], "undionly.kpxe", ""),
            ([], "undionly.kpxe", ""),  # a PXE ROM that sends no architecture
            (["--arch", "7"], "ipxe.efi", ""),
            (["--arch", "9"], "ipxe.efi", ""),
            (["--arch", "11"], "", ""),  # arm64 UEFI: no iPXE build here
            (["--arch", "0", "--ipxe"], URL, "PXEClient"),
            (["--arch", "7", "--ipxe"], URL, "PXEClient"),
            (["--plain"], "", ""),  # an ordinary DHCP client
        ]
        for args, bootfile, vendor in table:
            (offer,) = ask(net, *args)
            assert (offer["bootfile"], offer["vendor_class"]) == (bootfile, vendor), args
            assert offer["server"] == offer["siaddr"] == "10.77.0.1"
            assert IPv4Address(offer["yiaddr"]) in UPPER_HALF
        conf = (server.data / "dnsmasq" / "dnsmasq.conf").read_text()
        assert "ra-param=br0,high,0,0" in conf  # br0 has an IPv6 prefix
        # a real client takes a lease: busybox udhcpc
        lease = subprocess.run(net.client("busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f",
                                          "-s", "/bin/true"),
                               capture_output=True, text=True, timeout=30, check=False)  # fmt: skip
        assert lease.returncode == 0, lease.stderr
        got = IPv4Address(lease.stderr.split("lease of ")[1].split()[0])
        assert got in UPPER_HALF
        wait_log(server, f"DHCPACK(br0) {got} {CLIENT_MAC}")
        # TFTP, as a PXE ROM fetches its boot file (ipxe.efi is a symlink out of the root)
        sh(*net.client("ip", "addr", "add", f"{got}/16", "dev", "eth0"))
        for name in ("undionly.kpxe", "ipxe.efi"):
            local = tmp_path / name
            sh(*net.client("busybox", "tftp", "-g", "-r", name, "-l", str(local), "10.77.0.1"))
            assert local.read_bytes() == Path("/usr/lib/ipxe", name).read_bytes()


def test_proxy_mode_adds_boot_options_beside_another_dhcp_server(net: Lan, tmp_path: Path) -> None:
    site_ns = net.add_server_ns("10.77.0.2")
    with (
        dnsmasq(
            site_ns,
            tmp_path / "site",
            "--no-ping",
            iface="lan0",
            range_="10.77.3.10,10.77.3.200,255.255.0.0,1h",
        ),
        net_serve(net, tmp_path / "ours", "--dhcp", "proxy", "--dhcp-interface", "br0") as server,
    ):
        wait_log(server, "DHCP, proxy on subnet 10.77.0.0")
        for args in (["--arch", "0"], ["--arch", "7"], ["--arch", "0", "--ipxe"]):
            offers = {o["server"]: o for o in ask(net, *args)}
            assert set(offers) == {"10.77.0.1", "10.77.0.2"}, args
            site, ours = offers["10.77.0.2"], offers["10.77.0.1"]
            assert IPv4Address(site["yiaddr"]) in IPv4Network("10.77.3.0/24")
            assert ours["yiaddr"] == "0.0.0.0"  # proxyDHCP hands out no address
            assert ours["vendor_class"] == "PXEClient"
        plain = ask(net, "--plain")
        assert [o["server"] for o in plain] == ["10.77.0.2"]  # ours is silent to non-PXE clients
        conf = (server.data / "dnsmasq" / "dnsmasq.conf").read_text()
        assert "enable-ra" not in conf  # the site's network: no advertisements from us


def test_dnsmasq_restarted_when_it_dies_stopped_with_the_server(net: Lan, tmp_path: Path) -> None:
    with net_serve(net, tmp_path, "--dhcp", "full", "--dhcp-interface", "br0") as server:
        wait_log(server, "TFTP root is")
        first = dnsmasq_pid(server)
        os.kill(first, signal.SIGKILL)
        wait_log(server, "dnsmasq exited with code 137; starting it again in 1 s")
        end = time.monotonic() + 20
        while time.monotonic() < end and dnsmasq_pid(server) == first:
            time.sleep(0.1)
        second = dnsmasq_pid(server)
        assert second != first and alive(second)
        assert ask(net, "--arch", "7")[0]["bootfile"] == "ipxe.efi"  # answering again
        assert server.stop() == 0
        assert not alive(second)
    with net_serve(net, tmp_path / "again", "--dhcp", "full", "--dhcp-interface", "br0") as server:
        wait_log(server, "TFTP root is")
        pid = dnsmasq_pid(server)
        server.process.kill()  # kill -9: no chance to stop its child
        server.process.wait()
        end = time.monotonic() + 10
        while time.monotonic() < end and alive(pid):
            time.sleep(0.1)
        assert not alive(pid)


def test_print_dnsmasq_config_for_an_operators_dnsmasq(net: Lan, tmp_path: Path) -> None:
    argv = netns_exec(net.server_ns, str(PYTHON), "-m", "agent.cli", "serve", "--listen",
                      "0.0.0.0:8080", "--data", str(tmp_path), "--dhcp", "proxy",
                      "--dhcp-interface", "br0", "--print-dnsmasq-config")  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert "dhcp-range=10.77.0.0,proxy,255.255.0.0" in lines
    assert f"pxe-service=tag:ipxe,x86PC,metalinit,{URL}" in lines  # the interface's address
    assert not [line for line in lines if line.startswith(("port=", "dhcp-leasefile", "pid-file"))]
    conf = tmp_path / "mine.conf"
    conf.write_text(done.stdout)
    check = subprocess.run(["dnsmasq", "--test", f"--conf-file={conf}"], capture_output=True,
                           text=True, check=False)  # fmt: skip
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--dhcp", "full"], "--dhcp full needs --dhcp-interface IFACE"),
        (["--dhcp", "full", "--dhcp-interface", "nosuch0"], "--dhcp-interface nosuch0: no IPv4 address there"),
        (["--dhcp", "full", "--dhcp-interface", "br0", "--dhcp-range", "10.99.0.1,10.99.0.9"],
         "10.99.0.1 is not in br0's subnet 10.77.0.0/16"),
        (["--dhcp", "full", "--dhcp-interface", "br0", "--dhcp-range", "10.77.5.9"], "expected START,END"),
    ],
)  # fmt: skip
def test_bad_dhcp_options_are_one_line(
    net: Lan, tmp_path: Path, args: list[str], message: str
) -> None:
    argv = netns_exec(net.server_ns, str(PYTHON), "-m", "agent.cli", "serve", "--listen",
                      "10.77.0.1:8080", "--data", str(tmp_path), *args)  # fmt: skip
    done = subprocess.run(argv, capture_output=True, text=True, cwd=REPO, timeout=60, check=False)
    assert done.returncode in (1, 2) and message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
