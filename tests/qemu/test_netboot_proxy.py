"""Network boot in proxy mode (issue 13, test 5): a site's own DHCP server (a second
dnsmasq, in its own namespace on the bridge) hands out the addresses, `metalinit serve
--dhcp proxy` only adds the boot options, and a blank BIOS machine still PXE-boots the agent,
installs its disk and kexecs into it. Its own module, so its rack (another serve) is up only
after test_netboot's is gone."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network

import pytest

from initramfs.build import Result
from initramfs.qemu import choose_accel
from tests.net.conftest import needs_root
from tests.net.topology import Daemon, dnsmasq
from tests.netboot.lan import net_serve, netboot_lan
from tests.qemu import installed
from tests.qemu.netboot import (
    Rack,
    publish,
    stage_boot_files,
)
from tests.qemu.test_netboot import install_by_kexec

pytestmark = [pytest.mark.qemu, pytest.mark.root, needs_root]
SITE_ADDR = "10.77.0.2"
SITE_RANGE = "10.77.3.10,10.77.3.200,255.255.0.0,1h"


@pytest.fixture(scope="module")
def proxy_rack(
    built: Result,
    installed_image: installed.InstalledImage,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Rack, Daemon]]:
    """The rack with our serve in proxy mode, and the site's DHCP server beside it."""
    work = tmp_path_factory.mktemp("proxy-rack")
    stage_boot_files(work, built.vmlinuz, built.initramfs)
    with netboot_lan(f"p{os.getpid() % 10000}") as net:
        site_ns = net.add_server_ns(SITE_ADDR)
        with (
            dnsmasq(site_ns, work / "site", "--no-ping", iface="lan0", range_=SITE_RANGE) as site,
            net_serve(net, work, "--pxe", "--dhcp", "proxy", "--dhcp-interface", "br0") as server,
        ):
            publish(server, installed_image)
            rack = Rack(net, server, work, installed_image, choose_accel(built.vmlinuz))
            yield rack, site
            panicked = rack.stop_guests()
            assert not panicked, panicked[0]


def test_proxy_mode_beside_a_site_dhcp_server_still_provisions(
    proxy_rack: tuple[Rack, Daemon],
) -> None:
    rack, site = proxy_rack
    machine = install_by_kexec(rack, "proxied")
    # The address came from the site's server, not ours: its log acknowledged this MAC
    # with an address of its range, and ours, in proxy mode, hands out none.
    site_log = site.text()
    acks = re.findall(rf"DHCPACK\(lan0\) (\S+) {machine.mac}", site_log)
    assert acks, site_log[-3000:]
    assert all(IPv4Address(a) in IPv4Network("10.77.3.0/24") for a in acks), acks
    ours = (rack.server.data / "dnsmasq" / "dnsmasq.conf").read_text()
    assert re.search(r"^dhcp-range=10\.77\.0\.0,proxy", ours, re.MULTILINE), ours
