"""Put a lease into effect: address, MTU and routes by netlink; resolv.conf, hostname, hosts.

The /etc files are written where an `EtcFiles` says (tests point it into a temporary tree),
each atomically. `carry` copies them into a mounted root, replacing a symlink there rather
than following it out of the root, as a container runtime does.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.net.lease import Lease
from agent.net.links import ipr
from agent.net.options import Route

RT_SCOPE_LINK = 253
RTNH_F_ONLINK = 4


@dataclass(frozen=True)
class EtcFiles:
    resolv_conf: Path = Path("/etc/resolv.conf")
    hostname: Path = Path("/etc/hostname")
    hosts: Path = Path("/etc/hosts")

    @classmethod
    def under(cls, root: Path) -> EtcFiles:
        etc = root / "etc"
        return cls(etc / "resolv.conf", etc / "hostname", etc / "hosts")

    def all(self) -> tuple[Path, ...]:
        return (self.resolv_conf, self.hostname, self.hosts)


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def resolv_conf(lease: Lease) -> str:
    lines = [f"# written by metalinit from the {lease.source} configuration of {lease.interface}"]
    search = list(lease.search) or ([lease.domain] if lease.domain else [])
    if search:
        lines.append("search " + " ".join(search))
    lines += [f"nameserver {server}" for server in lease.dns[:3]]
    return "\n".join(lines) + "\n"


def hosts(lease: Lease, hostname: str | None) -> str:
    text = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
    if hostname:
        short = hostname.split(".")[0]
        names = f"{hostname} {short}" if short != hostname else hostname
        text += f"{lease.address}\t{names}\n"
    return text


def write_etc(lease: Lease, etc: EtcFiles) -> None:
    if lease.dns or lease.search or lease.domain:
        _write(etc.resolv_conf, resolv_conf(lease))
    hostname = lease.hostname
    if hostname:
        _write(etc.hostname, hostname + "\n")
    _write(etc.hosts, hosts(lease, hostname))


def write_lease_json(lease: Lease, run: Path) -> Path:
    path = run / "lease.json"
    _write(path, json.dumps(lease.to_json(), indent=2, sort_keys=True) + "\n")
    return path


def carry(etc: EtcFiles, new_root: Path) -> list[Path]:
    """Copy the /etc files the network wrote into new_root/etc; the paths written."""
    written: list[Path] = []
    target_etc = new_root / "etc"
    if target_etc.is_symlink() or not target_etc.is_dir():
        return written
    for source in etc.all():
        if not source.is_file():
            continue
        target = target_etc / source.name
        if target.is_symlink() or (target.exists() and not target.is_file()):
            target.unlink()
        shutil.copyfile(source, target)
        written.append(target)
    return written


def netlink_errors() -> tuple[type[BaseException], ...]:
    """What a refused netlink request raises: pyroute2's NetlinkError is no OSError."""
    from agent.net.rtnl import NetlinkError

    return (OSError, NetlinkError)


def apply_addresses(lease: Lease, previous: Lease | None = None, route: Any = None) -> list[str]:
    """Address (with the lease's lifetime), MTU, then the routes, on lease.interface.

    A route the kernel refuses (a gateway it cannot reach) does not undo the rest: it is
    returned, with the reason, for the caller to report."""
    owned = route is None
    route = route or ipr()
    refused: list[str] = []
    try:
        index = route.link_lookup(ifname=lease.interface)[0]
        route.link("set", index=index, state="up")
        if lease.mtu:
            route.link("set", index=index, mtu=lease.mtu)
        if previous is not None and previous.interface_address != lease.interface_address:
            remove_address(previous, route)
        route.addr(
            "replace",
            index=index,
            address=str(lease.address),
            prefixlen=lease.prefixlen,
            broadcast=str(lease.interface_address.network.broadcast_address),
            IFA_CACHEINFO={"ifa_valid": lease.lease_time, "ifa_preferred": lease.lease_time},
        )
        for r in lease.routes:
            try:
                _add_route(route, index, r)
            except netlink_errors() as err:
                refused.append(f"{r}: {err}")
    finally:
        if owned:
            route.close()
    return refused


def _add_route(route: Any, index: int, r: Route) -> None:
    if r.gateway.is_unspecified:
        route.route("replace", dst=str(r.network), oif=index, scope=RT_SCOPE_LINK)
        return
    try:
        route.route("replace", dst=str(r.network), gateway=str(r.gateway), oif=index)
    except netlink_errors():  # a router outside the subnet: the server says it is on-link
        route.route(
            "replace", dst=str(r.network), gateway=str(r.gateway), oif=index, flags=RTNH_F_ONLINK
        )


def remove_address(lease: Lease, route: Any = None) -> None:
    """Take the lease's address (and so its routes) off the link; gone already is fine."""
    owned = route is None
    route = route or ipr()
    try:
        found = route.link_lookup(ifname=lease.interface)
        if found:
            route.addr("del", index=found[0], address=str(lease.address), prefixlen=lease.prefixlen)
    except netlink_errors() as err:
        if getattr(err, "code", None) not in (errno.EADDRNOTAVAIL, errno.ENODEV):
            raise
    finally:
        if owned:
            route.close()
