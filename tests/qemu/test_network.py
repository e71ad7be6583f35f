"""End-to-end networking: the guest's NIC on a tap in a namespace the test makes, with a
real dnsmasq serving DHCP; and the seed's demo, nginx from a container image, fetched from
the host through QEMU's port forward."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from initramfs.build import Result
from initramfs.qemu import BootSpec, Guest, choose_accel
from tests.net.topology import dnsmasq, lan, netns_exec, sh
from tests.qemu.conftest import BootFn

pytestmark = [pytest.mark.qemu, pytest.mark.root]
BOOT_SECONDS = 180
GUEST_MAC = "52:54:00:12:34:56"
SHOW_NETWORK = "/bin/sh -c 'ip -4 addr show eth0; ip route; cat /etc/resolv.conf; echo net-done'"


def test_dhcp_from_dnsmasq_on_a_tap(boot: BootFn, disks: dict[str, Path], tmp_path: Path) -> None:
    with lan() as net:
        sh(*netns_exec(net.server_ns, "ip", "tuntap", "add", "tap0", "mode", "tap"))
        sh(*netns_exec(net.server_ns, "ip", "link", "set", "tap0", "master", "br0", "up"))
        with dnsmasq(
            net.server_ns,
            tmp_path / "dnsmasq",
            "--dhcp-option=option:router,10.77.0.1",
            "--dhcp-option=option:dns-server,10.77.0.53",
            "--domain=metal.test",
            f"--dhcp-host={GUEST_MAC},10.77.1.42,node42",
        ) as server:
            guest = boot(
                f'root=/dev/vda ip=dhcp metalinit.on_exit=poweroff entrypoint="{SHOW_NETWORK}"',
                disks["plain"],
                net="tap:tap0",
                mac=GUEST_MAC,
                netns=net.server_ns,
            )
            assert guest.wait_for("^net-done", BOOT_SECONDS), guest.console
            assert guest.wait(60) == 0, guest.console
            server_log = server.text()
    console = guest.console
    assert re.search(
        r"agent: .*lease eth0 10\.77\.1\.42/16 router 10\.77\.0\.1 dns 10\.77\.0\.53", console
    ), console
    assert "inet 10.77.1.42/16" in console
    assert re.search(r"^default via 10\.77\.0\.1 dev eth0", console, re.M)
    assert re.search(r"^nameserver 10\.77\.0\.53$", console, re.M)
    assert re.search(r"^search metal\.test$", console, re.M)
    assert f"DHCPACK(br0) 10.77.1.42 {GUEST_MAC} node42" in server_log
    assert f"DHCPRELEASE(br0) 10.77.1.42 {GUEST_MAC}" in server_log  # given back at poweroff


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def nginx_disk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rootfs_tools.example import nginx_layout

    layout, tag = nginx_layout()
    disk = tmp_path_factory.mktemp("nginx") / "nginx.img"
    tool = Path(sys.executable).with_name("img-from-container")
    subprocess.run([str(tool), "-q", f"oci:{layout}:{tag}", "-o", str(disk)], check=True)
    return disk


def test_nginx_from_a_container_image_serves_the_host(built: Result, nginx_disk: Path) -> None:
    port = free_port()
    spec = BootSpec(
        built.vmlinuz,
        built.initramfs,
        nginx_disk,
        append="root=/dev/vda ip=dhcp",
        net="user",
        forwards=((port, 80),),
        accel=choose_accel(built.vmlinuz),
    )
    with Guest(spec) as guest:
        assert guest.wait_for(r"entrypoint: /usr/sbin/nginx -g 'daemon off;'", BOOT_SECONDS), (
            guest.console
        )
        page = ""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not page:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as reply:
                    assert reply.status == 200
                    page = reply.read().decode()
            except OSError:
                time.sleep(1)
        assert "<title>Welcome to nginx!</title>" in page, guest.console
        assert re.search(r"agent: .*lease eth0 10\.0\.2\.15/24 router 10\.0\.2\.2", guest.console)
