"""A machine as Tinkerbell describes it: a Hardware object's spec, kept as its JSON, with
typed views of what the server needs (MACs, disks, interfaces, user-data).

Two ways in: `Hardware.from_object()` / `parse_objects()` for a Tinkerbell Hardware, and
`Hardware.simple()` for `metalinit hw add --mac MAC --disk /dev/sda --name N`. Both end in
the same spec, so templates see the same `.Hardware` either way. `to_object()` gives the
Tinkerbell object back (what the server stores); `from_object()` reads it again.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from server.tinkerbell.errors import TinkerbellError
from server.tinkerbell.schema import check_value

API_VERSION = "tinkerbell.org/v1alpha1"
MAC = re.compile(r"[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}")
NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")


@dataclass(frozen=True)
class IP:
    address: str = ""
    netmask: str = ""
    gateway: str = ""
    family: int = 0


@dataclass(frozen=True)
class DHCP:
    mac: str = ""
    hostname: str = ""
    domain_name: str = ""
    lease_time: int = 0
    name_servers: tuple[str, ...] = ()
    time_servers: tuple[str, ...] = ()
    arch: str = ""
    uefi: bool = False
    iface_name: str = ""
    ip: IP | None = None
    vlan_id: str = ""


@dataclass(frozen=True)
class Netboot:
    allow_pxe: bool | None = None
    allow_workflow: bool | None = None
    ipxe_url: str = ""
    ipxe_contents: str = ""


@dataclass(frozen=True)
class Interface:
    dhcp: DHCP | None = None
    netboot: Netboot | None = None
    disable_dhcp: bool = False


def normalise_mac(mac: str) -> str:
    """`AA-BB-CC-DD-EE-FF` or `aa:bb:…` → `aa:bb:cc:dd:ee:ff`; anything else raises."""
    text = mac.strip().replace("-", ":").lower()
    if not MAC.fullmatch(text):
        raise TinkerbellError(f"{mac!r} is not a MAC address (six hex pairs: aa:bb:cc:dd:ee:ff)")
    return text


def check_name(name: str, what: str = "metadata.name") -> str:
    if not name or len(name) > 253 or not NAME.fullmatch(name):
        raise TinkerbellError(
            f"{name!r} is not a valid name: lowercase letters, digits, '-' and '.', starting "
            "and ending with a letter or digit, at most 253 characters",
            field=what,
        )
    return name


def _interface(data: Mapping[str, Any]) -> Interface:
    dhcp = data.get("dhcp")
    netboot = data.get("netboot")
    ip = dhcp.get("ip") if dhcp else None
    ipxe = (netboot or {}).get("ipxe") or {}
    return Interface(
        dhcp=DHCP(
            mac=dhcp.get("mac", ""),
            hostname=dhcp.get("hostname", ""),
            domain_name=dhcp.get("domain_name", ""),
            lease_time=dhcp.get("lease_time", 0),
            name_servers=tuple(dhcp.get("name_servers", ())),
            time_servers=tuple(dhcp.get("time_servers", ())),
            arch=dhcp.get("arch", ""),
            uefi=dhcp.get("uefi", False),
            iface_name=dhcp.get("iface_name", ""),
            ip=IP(
                ip.get("address", ""),
                ip.get("netmask", ""),
                ip.get("gateway", ""),
                ip.get("family", 0),
            )
            if ip
            else None,
            vlan_id=dhcp.get("vlan_id", ""),
        )
        if dhcp
        else None,
        netboot=Netboot(
            netboot.get("allowPXE"),
            netboot.get("allowWorkflow"),
            ipxe.get("url", ""),
            ipxe.get("contents", ""),
        )
        if netboot
        else None,
        disable_dhcp=bool(data.get("disableDhcp", False)),
    )


@dataclass(frozen=True)
class Hardware:
    """One machine. `spec` is Tinkerbell's HardwareSpec as JSON (json field names)."""

    name: str
    spec: Mapping[str, Any] = field(default_factory=dict)
    namespace: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_value(dict(self.spec), "HardwareSpec", "spec")
        for i, iface in enumerate(self.spec.get("interfaces", ())):
            mac = (iface.get("dhcp") or {}).get("mac")
            if mac is not None and not MAC.fullmatch(mac):
                raise TinkerbellError(
                    f"{mac!r} is not a MAC address (six hex pairs: aa:bb:cc:dd:ee:ff)",
                    field=f"spec.interfaces[{i}].dhcp.mac",
                )

    __hash__ = None  # type: ignore[assignment]

    @classmethod
    def simple(
        cls,
        name: str,
        macs: Iterable[str],
        disks: Iterable[str] = (),
        *,
        hostname: str = "",
        arch: str = "",
        allow_pxe: bool = True,
        user_data: str | None = None,
    ) -> Hardware:
        """A machine from the command line: one interface per MAC, netboot allowed."""
        interfaces = []
        for mac in macs:
            dhcp: dict[str, Any] = {"mac": normalise_mac(mac)}
            if hostname:
                dhcp["hostname"] = hostname
            if arch:
                dhcp["arch"] = arch
            interfaces.append(
                {"dhcp": dhcp, "netboot": {"allowPXE": allow_pxe, "allowWorkflow": True}}
            )
        if not interfaces:
            raise TinkerbellError("a machine needs at least one MAC address", field="mac")
        spec: dict[str, Any] = {"interfaces": interfaces}
        devices = list(disks)
        for disk in devices:
            if not disk.startswith("/dev/"):
                raise TinkerbellError(f"{disk!r} is not a device path (/dev/…)", field="disk")
        if devices:
            spec["disks"] = [{"device": d} for d in devices]
        if user_data is not None:
            spec["userData"] = user_data
        return cls(check_name(name), spec)

    @property
    def disks(self) -> tuple[str, ...]:
        return tuple(d.get("device", "") for d in self.spec.get("disks", ()))

    @property
    def interfaces(self) -> tuple[Interface, ...]:
        return tuple(_interface(i) for i in self.spec.get("interfaces", ()))

    @property
    def macs(self) -> tuple[str, ...]:
        """Every interface's MAC, lower case, in spec order."""
        return tuple(i.dhcp.mac.lower() for i in self.interfaces if i.dhcp and i.dhcp.mac)

    @property
    def user_data(self) -> str | None:
        """spec.userData, else the deprecated spec.metadata.instance.userdata."""
        if self.spec.get("userData") is not None:
            return str(self.spec["userData"])
        instance = (self.spec.get("metadata") or {}).get("instance") or {}
        return instance.get("userdata") or None

    @property
    def vendor_data(self) -> str | None:
        value = self.spec.get("vendorData")
        return None if value is None else str(value)

    @property
    def hostname(self) -> str:
        """spec.metadata.instance.hostname, else the first DHCP hostname, else the name."""
        instance = (self.spec.get("metadata") or {}).get("instance") or {}
        if instance.get("hostname"):
            return str(instance["hostname"])
        for iface in self.interfaces:
            if iface.dhcp and iface.dhcp.hostname:
                return iface.dhcp.hostname
        return self.name

    @property
    def instance_id(self) -> str:
        instance = (self.spec.get("metadata") or {}).get("instance") or {}
        return str(instance.get("id") or (self.macs[0] if self.macs else self.name))

    @property
    def allow_pxe(self) -> bool:
        """Whether any interface may netboot (Tinkerbell's netboot.allowPXE)."""
        return any(i.netboot is not None and i.netboot.allow_pxe for i in self.interfaces)

    def to_object(self) -> dict[str, Any]:
        """The Tinkerbell Hardware object, as JSON."""
        metadata: dict[str, Any] = {"name": self.name}
        if self.namespace:
            metadata["namespace"] = self.namespace
        if self.labels:
            metadata["labels"] = dict(self.labels)
        return {
            "apiVersion": API_VERSION,
            "kind": "Hardware",
            "metadata": metadata,
            "spec": _copy(self.spec),
        }

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Hardware:
        """Read back what `to_object()` wrote (JSON; the YAML path is parse_objects)."""
        if obj.get("kind") != "Hardware":
            raise TinkerbellError(f"kind is {obj.get('kind')!r}, not 'Hardware'", field="kind")
        meta = obj.get("metadata") or {}
        return cls(
            name=check_name(str(meta.get("name", ""))),
            spec=_copy(obj.get("spec") or {}),
            namespace=str(meta.get("namespace", "")),
            labels=dict(meta.get("labels") or {}),
        )


def _copy(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _copy(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_copy(v) for v in value]
    return value
