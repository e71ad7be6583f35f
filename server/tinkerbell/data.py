"""What a template renders over, as Tinkerbell's controller builds it
(tink/controller/internal/workflow/reconciler.go):

    .device_1, …        every hardwareMap key, at the top level
    .Hardware           templateHardwareData: Disks ([]string of spec.disks[].device),
                        Interfaces ([]v1alpha1.Interface: .DHCP.MAC, .DHCP.IP.Address, …,
                        .Netboot.AllowPXE), UserData, Metadata (v1alpha1.HardwareMetadata:
                        .Instance.Hostname, …), VendorData — Go field names
    .hardware           the whole Hardware object as JSON (json names: .hardware.spec.disks,
                        numbers as float64, as Go's JSON round trip makes them)
    .references         Hardware references resolved to objects: always empty here, since
                        this server reads no other Kubernetes objects

`probe_data()` is the same shape for checking a template before any machine exists: rich
placeholder hardware (8 disks, 4 interfaces, every optional struct set), and every key the
template asks for and the data lacks answered with "0".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from server.gotemplate import Probe, ProbeMap, Struct
from server.tinkerbell.hardware import Hardware
from server.tinkerbell.schema import STRUCTS, view

PROBE = "0"


def _json_numbers(value: Any) -> Any:
    """Go's structToMap (JSON marshal, unmarshal into interface{}): numbers become float64."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, Mapping):
        return {k: _json_numbers(v) for k, v in value.items()}
    return [_json_numbers(v) for v in value]


def hardware_view(hardware: Hardware) -> Struct:
    spec = hardware.spec
    interfaces = spec.get("interfaces")
    return Struct(
        "workflow.templateHardwareData",
        {
            "Disks": hardware.disks,
            "Interfaces": [view(i, "Interface") for i in interfaces] if interfaces else (),
            "UserData": str(spec.get("userData") or ""),
            "Metadata": view(spec.get("metadata") or {}, "HardwareMetadata"),
            "VendorData": str(spec.get("vendorData") or ""),
        },
    )


def template_data(hardware: Hardware, hardware_map: Mapping[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = dict(hardware_map)
    obj = hardware.to_object()
    obj.pop("apiVersion")
    obj.pop("kind")
    obj["status"] = {}
    data["hardware"] = _json_numbers(obj)
    data["Hardware"] = hardware_view(hardware)
    data["references"] = {}
    return data


def _fill(typ: str, depth: int = 0) -> Any:
    """Placeholder JSON for a schema type with every field set."""
    if typ.startswith("*"):
        return _fill(typ[1:], depth)
    if typ == "string":
        return PROBE
    if typ == "int":
        return 0
    if typ == "bool":
        return True
    if typ == "[]string":
        return [PROBE]
    if typ in ("map", "any") or typ.startswith("{}"):
        return {}
    if typ.startswith("[]"):
        return [_fill(typ[2:], depth + 1)]
    return {json_name: _fill(sub, depth + 1) for _, json_name, sub in STRUCTS[typ]}


def probe_hardware() -> Hardware:
    interfaces = []
    for i in range(4):
        iface = _fill("Interface")
        iface["disableDhcp"] = False
        dhcp = iface["dhcp"]
        dhcp.update(
            mac=f"02:00:00:00:00:0{i}",
            hostname="probe",
            arch="x86_64",
            iface_name=f"eth{i}",
            lease_time=86400,
            vlan_id="",
            name_servers=["192.0.2.1"],
            time_servers=["192.0.2.1"],
            ip={
                "address": f"192.0.2.{10 + i}",
                "netmask": "255.255.255.0",
                "gateway": "192.0.2.1",
                "family": 4,
            },
        )
        interfaces.append(iface)
    spec = _fill("HardwareSpec")
    spec.update(
        interfaces=interfaces,
        disks=[{"device": f"/dev/sd{letter}"} for letter in "abcdefgh"],
        userData="#cloud-config\n",
        vendorData="",
    )
    return Hardware("probe", spec)


def _probing(value: Any) -> Any:
    if isinstance(value, dict):
        return ProbeMap({k: _probing(v) for k, v in value.items()})
    if isinstance(value, list):
        return [_probing(v) for v in value]
    return value


def probe_data(hardware_map: Mapping[str, str] | None = None) -> ProbeMap:
    data = template_data(probe_hardware(), hardware_map or {})
    probed = ProbeMap({k: _probing(v) for k, v in data.items()})
    probed["references"] = ProbeMap()
    return probed


__all__ = ["Probe", "hardware_view", "probe_data", "template_data"]
