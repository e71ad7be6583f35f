"""Tinkerbell's Hardware types (api/v1alpha1/tinkerbell/hardware.go) as data: each struct's
fields with their Go name, json name and type.

One table serves two jobs: `decode` reads a Hardware's YAML spec into JSON-shaped data,
refusing unknown fields and wrong types with their line; `view` turns that data into the
Go values a template sees (`.Hardware.Interfaces` → `[]v1alpha1.Interface`, an unset
`*DHCP` a typed nil, every absent field its zero value).

Types: `string`, `int`, `bool`, `[]string`, `map` (map[string]string), `any` (free-form
JSON), `NAME` (a struct), `*NAME` (a pointer to one), `[]NAME`, `[]*NAME`, `{}NAME` (a map of
them).
"""

from __future__ import annotations

from typing import Any

import yaml

from server.gotemplate import Nil, Struct
from server.tinkerbell.errors import TinkerbellError
from server.tinkerbell.yamlnodes import Reader

Field = tuple[str, str, str]  # Go name, json name, type

STRUCTS: dict[str, tuple[Field, ...]] = {
    "HardwareSpec": (
        ("AgentID", "agentID", "string"),
        ("Auto", "auto", "AutoCapabilities"),
        ("BMCRef", "bmcRef", "*TypedLocalObjectReference"),
        ("Interfaces", "interfaces", "[]Interface"),
        ("References", "references", "{}Reference"),
        ("Metadata", "metadata", "*HardwareMetadata"),
        ("TinkVersion", "tinkVersion", "int"),
        ("Disks", "disks", "[]Disk"),
        ("Resources", "resources", "any"),
        ("UserData", "userData", "*string"),
        ("VendorData", "vendorData", "*string"),
    ),
    "AutoCapabilities": (("EnrollmentEnabled", "enrollmentEnabled", "bool"),),
    "TypedLocalObjectReference": (
        ("APIGroup", "apiGroup", "*string"),
        ("Kind", "kind", "string"),
        ("Name", "name", "string"),
    ),
    "Reference": (
        ("Namespace", "namespace", "string"),
        ("Name", "name", "string"),
        ("Group", "group", "string"),
        ("Version", "version", "string"),
        ("Resource", "resource", "string"),
    ),
    "Interface": (
        ("Netboot", "netboot", "*Netboot"),
        ("Isoboot", "isoboot", "*Isoboot"),
        ("DHCP", "dhcp", "*DHCP"),
        ("DisableDHCP", "disableDhcp", "bool"),
    ),
    "Netboot": (
        ("AllowPXE", "allowPXE", "*bool"),
        ("AllowWorkflow", "allowWorkflow", "*bool"),
        ("IPXE", "ipxe", "*IPXE"),
        ("OSIE", "osie", "*OSIE"),
        ("PXELINUX", "pxelinux", "*PXELINUX"),
        ("RPI", "rpi", "*RPI"),
    ),
    "Isoboot": (("SourceISO", "sourceISO", "string"),),
    "IPXE": (
        ("URL", "url", "string"),
        ("Contents", "contents", "string"),
        ("Binary", "binary", "string"),
    ),
    "OSIE": (
        ("BaseURL", "baseURL", "string"),
        ("Kernel", "kernel", "string"),
        ("Initrd", "initrd", "string"),
        ("KernelParams", "kernelParams", "[]string"),
    ),
    "PXELINUX": (("Config", "config", "string"),),
    "RPI": (
        ("ConfigTxt", "configTxt", "string"),
        ("FirmwarePath", "firmwarePath", "string"),
        ("SerialNum", "serialNum", "string"),
    ),
    "DHCP": (
        ("MAC", "mac", "string"),
        ("Hostname", "hostname", "string"),
        ("DomainName", "domain_name", "string"),
        ("LeaseTime", "lease_time", "int"),
        ("NameServers", "name_servers", "[]string"),
        ("TimeServers", "time_servers", "[]string"),
        ("Arch", "arch", "string"),
        ("UEFI", "uefi", "bool"),
        ("IfaceName", "iface_name", "string"),
        ("IP", "ip", "*IP"),
        ("VLANID", "vlan_id", "string"),
        ("ClasslessStaticRoutes", "classless_static_routes", "[]ClasslessStaticRoute"),
        ("TFTPServerName", "tftp_server_name", "string"),
        ("BootFileName", "boot_file_name", "string"),
    ),
    "IP": (
        ("Address", "address", "string"),
        ("Netmask", "netmask", "string"),
        ("Gateway", "gateway", "string"),
        ("Family", "family", "int"),
    ),
    "ClasslessStaticRoute": (
        ("DestinationDescriptor", "destination_descriptor", "string"),
        ("Router", "router", "string"),
    ),
    "Disk": (("Device", "device", "string"),),
    "HardwareMetadata": (
        ("State", "state", "string"),
        ("BondingMode", "bonding_mode", "int"),
        ("Manufacturer", "manufacturer", "*MetadataManufacturer"),
        ("Instance", "instance", "*MetadataInstance"),
        ("Custom", "custom", "*MetadataCustom"),
        ("Facility", "facility", "*MetadataFacility"),
    ),
    "MetadataManufacturer": (("ID", "id", "string"), ("Slug", "slug", "string")),
    "MetadataInstance": (
        ("ID", "id", "string"),
        ("State", "state", "string"),
        ("Hostname", "hostname", "string"),
        ("AllowPxe", "allow_pxe", "bool"),
        ("Rescue", "rescue", "bool"),
        ("OperatingSystem", "operating_system", "*MetadataInstanceOperatingSystem"),
        ("AlwaysPxe", "always_pxe", "bool"),
        ("IpxeScriptURL", "ipxe_script_url", "string"),
        ("Ips", "ips", "[]*MetadataInstanceIP"),
        ("Userdata", "userdata", "string"),
        ("CryptedRootPassword", "crypted_root_password", "string"),
        ("Tags", "tags", "[]string"),
        ("Storage", "storage", "*MetadataInstanceStorage"),
        ("SSHKeys", "ssh_keys", "[]string"),
        ("NetworkReady", "network_ready", "bool"),
    ),
    "MetadataInstanceOperatingSystem": (
        ("Slug", "slug", "string"),
        ("Distro", "distro", "string"),
        ("Version", "version", "string"),
        ("ImageTag", "image_tag", "string"),
        ("OsSlug", "os_slug", "string"),
    ),
    "MetadataInstanceIP": (
        ("Address", "address", "string"),
        ("Netmask", "netmask", "string"),
        ("Gateway", "gateway", "string"),
        ("Family", "family", "int"),
        ("Public", "public", "bool"),
        ("Management", "management", "bool"),
    ),
    "MetadataInstanceStorage": (
        ("Disks", "disks", "[]*MetadataInstanceStorageDisk"),
        ("Raid", "raid", "[]*MetadataInstanceStorageRAID"),
        ("Filesystems", "filesystems", "[]*MetadataInstanceStorageFilesystem"),
    ),
    "MetadataInstanceStorageDisk": (
        ("Device", "device", "string"),
        ("WipeTable", "wipe_table", "bool"),
        ("Partitions", "partitions", "[]*MetadataInstanceStorageDiskPartition"),
    ),
    "MetadataInstanceStorageDiskPartition": (
        ("Label", "label", "string"),
        ("Number", "number", "int"),
        ("Size", "size", "int"),
        ("Start", "start", "int"),
        ("TypeGUID", "type_guid", "string"),
    ),
    "MetadataInstanceStorageRAID": (
        ("Name", "name", "string"),
        ("Level", "level", "string"),
        ("Devices", "devices", "[]string"),
        ("Spare", "spare", "int"),
    ),
    "MetadataInstanceStorageFilesystem": (("Mount", "mount", "*MetadataInstanceStorageMount"),),
    "MetadataInstanceStorageMount": (
        ("Device", "device", "string"),
        ("Format", "format", "string"),
        ("Files", "files", "[]*MetadataInstanceStorageFile"),
        ("Create", "create", "*MetadataInstanceStorageMountFilesystemOptions"),
        ("Point", "point", "string"),
    ),
    "MetadataInstanceStorageFile": (
        ("Path", "path", "string"),
        ("Contents", "contents", "string"),
        ("Mode", "mode", "int"),
        ("UID", "uid", "int"),
        ("GID", "gid", "int"),
    ),
    "MetadataInstanceStorageMountFilesystemOptions": (
        ("Force", "force", "bool"),
        ("Options", "options", "[]string"),
    ),
    "MetadataCustom": (
        (
            "PreinstalledOperatingSystemVersion",
            "preinstalled_operating_system_version",
            "*MetadataInstanceOperatingSystem",
        ),
        ("PrivateSubnets", "private_subnets", "[]string"),
    ),
    "MetadataFacility": (
        ("PlanSlug", "plan_slug", "string"),
        ("PlanVersionSlug", "plan_version_slug", "string"),
        ("FacilityCode", "facility_code", "string"),
    ),
}

# Fields whose zero value the json encoder keeps (no omitempty in Tinkerbell's tags).
_KEEP_ZERO = frozenset(
    {
        ("RPI", "serialNum"),
        ("ClasslessStaticRoute", "destination_descriptor"),
        ("ClasslessStaticRoute", "router"),
        ("TypedLocalObjectReference", "kind"),
        ("TypedLocalObjectReference", "name"),
    }
)


def decode(reader: Reader, node: yaml.Node, typ: str, path: str) -> Any:
    """Read a node as Go type `typ`, into JSON-shaped data (json field names)."""
    if typ.startswith("*"):
        return None if reader.is_null(node) else decode(reader, node, typ[1:], path)
    if typ == "string":
        return reader.string(node, path)
    if typ == "int":
        return reader.integer(node, path)
    if typ == "bool":
        return reader.boolean(node, path)
    if typ == "[]string":
        return list(reader.strings(node, path))
    if typ == "map":
        return reader.string_map(node, path)
    if typ == "any":
        return reader.plain(node, path)
    if typ.startswith("[]"):
        return [
            decode(reader, n, typ[2:], f"{path}[{i}]")
            for i, n in enumerate(reader.sequence(node, path))
        ]
    if typ.startswith("{}"):
        return {
            k: decode(reader, v, typ[2:], f"{path}.{k}") for k, _, v in reader.mapping(node, path)
        }
    fields = STRUCTS[typ]
    by_json = {json_name: (go, sub) for go, json_name, sub in fields}
    values = reader.struct(node, path, frozenset(by_json))
    out: dict[str, Any] = {}
    for json_name, value_node in values.items():
        value = decode(
            reader, value_node, by_json[json_name][1], f"{path}.{json_name}" if path else json_name
        )
        if value is not None:
            out[json_name] = value
    return out


def check_value(value: Any, typ: str, path: str) -> None:
    """The same shape check as `decode`, for data that arrives as JSON (our own store)."""
    if typ.startswith("*"):
        if value is not None:
            check_value(value, typ[1:], path)
        return
    simple = {"string": str, "int": int, "bool": bool, "[]string": list, "map": dict}
    if typ == "any":
        return
    if typ in simple:
        ok = isinstance(value, simple[typ]) and not (typ == "int" and isinstance(value, bool))
        if typ == "[]string":
            ok = ok and all(isinstance(v, str) for v in value)
        if not ok:
            raise TinkerbellError(f"expected {typ}, found {type(value).__name__}", field=path)
        return
    if typ.startswith("[]"):
        if not isinstance(value, list):
            raise TinkerbellError("expected a list", field=path)
        for i, item in enumerate(value):
            check_value(item, typ[2:], f"{path}[{i}]")
        return
    if not isinstance(value, dict):
        raise TinkerbellError("expected a mapping", field=path)
    if typ.startswith("{}"):
        for key, item in value.items():
            check_value(item, typ[2:], f"{path}.{key}")
        return
    by_json = {json_name: sub for _, json_name, sub in STRUCTS[typ]}
    for key, item in value.items():
        if key not in by_json:
            raise TinkerbellError(f"unknown field {key!r}", field=f"{path}.{key}" if path else key)
        check_value(item, by_json[key], f"{path}.{key}" if path else key)


def _zero(typ: str) -> Any:
    if typ.startswith("*"):
        return Nil("*v1alpha1." + typ[1:]) if typ[1:] in STRUCTS else Nil("*" + typ[1:])
    if typ == "string":
        return ""
    if typ == "int":
        return 0
    if typ == "bool":
        return False
    if typ.startswith("[]"):
        return ()
    if typ in ("map", "any") or typ.startswith("{}"):
        return {} if typ != "any" else None
    return view(None, typ)


def view(value: Any, typ: str) -> Any:
    """JSON-shaped data as the Go value a template sees."""
    if value is None:
        return _zero(typ)
    if typ.startswith("*"):
        return view(value, typ[1:])
    if typ in ("string", "int", "bool", "any", "map"):
        return value
    if typ == "[]string":
        return tuple(value)
    if typ.startswith("[]"):
        return [view(v, typ[2:]) for v in value]
    if typ.startswith("{}"):
        return {k: view(v, typ[2:]) for k, v in value.items()}
    fields = STRUCTS[typ]
    data = value if isinstance(value, dict) else {}
    tags = {
        go: json_name if (typ, json_name) in _KEEP_ZERO else f"{json_name},omitempty"
        for go, json_name, _ in fields
    }
    return Struct(
        "v1alpha1." + typ,
        {go: view(data.get(json_name), sub) for go, json_name, sub in fields},
        tags,
    )
