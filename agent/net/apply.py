"""Put a lease into effect: address, MTU and routes by netlink; resolv.conf, hostname, hosts.

The /etc files are written where an `EtcFiles` says (tests point it into a temporary tree),
each atomically. `carry` copies them into a mounted root, replacing a symlink there rather
than following it out of the root, as a container runtime does.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.net.lease import INFINITE, Lease
from agent.net.links import ipr

RT_SCOPE_LINK = 253


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


def apply_addresses(lease: Lease, previous: Lease | None = None, route: Any = None) -> None:
    """Address (with the lease's lifetime), MTU, then the routes, on lease.interface."""
    owned = route is None
    route = route or ipr()
    try:
        index = route.link_lookup(ifname=lease.interface)[0]
        route.link("set", index=index, state="up")
        if lease.mtu:
            route.link("set", index=index, mtu=lease.mtu)
        if previous is not None and previous.interface_address != lease.interface_address:
            remove_address(previous, route)
        lifetime = lease.lease_time if lease.lease_time != INFINITE else INFINITE
        route.addr(
            "replace",
            index=index,
            address=str(lease.address),
            prefixlen=lease.prefixlen,
            broadcast=str(lease.interface_address.network.broadcast_address),
            IFA_CACHEINFO={"ifa_valid": lifetime, "ifa_preferred": lifetime},
        )
        for r in lease.routes:
            if r.gateway.is_unspecified:
                route.route("replace", dst=str(r.network), oif=index, scope=RT_SCOPE_LINK)
            else:
                route.route("replace", dst=str(r.network), gateway=str(r.gateway), oif=index)
    finally:
        if owned:
            route.close()


def remove_address(lease: Lease, route: Any = None) -> None:
    """Take the lease's address (and so its routes) off the link."""
    owned = route is None
    route = route or ipr()
    try:
        found = route.link_lookup(ifname=lease.interface)
        if found:
            route.addr("del", index=found[0], address=str(lease.address), prefixlen=lease.prefixlen)
    except Exception as err:  # already gone is fine
        if "Cannot assign" not in str(err) and "No such" not in str(err):
            raise
    finally:
        if owned:
            route.close()
