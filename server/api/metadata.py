"""An EC2-style metadata service for the installed system's cloud-init, as Tinkerbell's
Hegel/Tootles serve it: the machine is known by the address it asks from, matched
against its hardware record (interface and instance addresses), else against the source
address of its last lookup. Point cloud-init's Ec2 datasource at this server
(`datasource: Ec2: metadata_urls: ["http://SERVER:PORT"]`).

Served under any API version (`latest`, `2009-04-04`, …): `meta-data/` (a listing),
`meta-data/instance-id`, `hostname`, `local-hostname`, `local-ipv4`, `public-keys/`
(`0=key-0`…), `public-keys/N/openssh-key`, and `user-data`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request
from fastapi import Path as PathParam
from fastapi.responses import PlainTextResponse

from server.api.auth import store_of
from server.api.problems import PROBLEMS
from server.errors import NotFound
from server.store import hardware as hw
from server.store.hardware import HardwareRecord

# the answers are text/plain; errors stay Problem JSON, which the spec must say itself
_JSON_PROBLEM = {"application/json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
router = APIRouter(
    tags=["metadata"],
    responses={
        s: {"description": PROBLEMS[s]["description"], "content": _JSON_PROBLEM} for s in (404, 422)
    },
)
Version = Annotated[str, PathParam(pattern=r"^(latest|\d{4}-\d{2}-\d{2})$")]
KEYS = ("instance-id", "hostname", "local-hostname", "local-ipv4", "public-keys/")


def _record(request: Request) -> HardwareRecord:
    address = request.client.host if request.client else ""
    row = store_of(request).read(lambda conn: hw.by_address(conn, address))
    if row is None:
        raise NotFound(
            f"no hardware has the address {address}; the metadata service knows "
            "a machine by the address in its hardware record"
        )
    return hw.record_of(row)


def _instance(row: HardwareRecord) -> dict[str, Any]:
    instance = row.metadata().get("instance")
    return instance if isinstance(instance, dict) else {}


def _first_dhcp(row: HardwareRecord, key: str) -> Any:
    for iface in row.interfaces():
        value = (iface.get("dhcp") or {}).get(key)
        if value:
            return value
    return None


def _local_ipv4(row: HardwareRecord, request: Request) -> str:
    for ip in _instance(row).get("ips") or []:
        if (
            isinstance(ip, dict)
            and ip.get("address")
            and str(ip.get("family", 4)) == "4"
            and not ip.get("public")
        ):
            return str(ip["address"])
    dhcp_ip = _first_dhcp(row, "ip")
    if isinstance(dhcp_ip, dict) and dhcp_ip.get("address"):
        return str(dhcp_ip["address"])
    return request.client.host if request.client else ""


def _keys(row: HardwareRecord) -> list[str]:
    keys = _instance(row).get("ssh_keys") or []
    return [str(k) for k in keys if isinstance(k, str) and k.strip()]


def _value(row: HardwareRecord, key: str, request: Request) -> str:
    instance = _instance(row)
    hostname = str(instance.get("hostname") or _first_dhcp(row, "hostname") or row.name)
    keys = _keys(row)
    if key == "instance-id":
        return str(instance.get("id") or row.name)
    if key in ("hostname", "local-hostname"):
        return hostname
    if key == "local-ipv4":
        return _local_ipv4(row, request)
    if key in ("public-keys", "public-keys/"):
        return "\n".join(f"{n}=key-{n}" for n in range(len(keys)))
    parts = key.strip("/").split("/")
    if parts[0] == "public-keys" and len(parts) in (2, 3) and parts[1].isdigit():
        n = int(parts[1])
        if n < len(keys):
            if len(parts) == 2:
                return "openssh-key"
            if parts[2] == "openssh-key":
                return keys[n]
    raise NotFound(f"no meta-data {key!r}")


@router.get("/{version}/meta-data", response_class=PlainTextResponse, summary="meta-data keys")
@router.get("/{version}/meta-data/", response_class=PlainTextResponse, include_in_schema=False)
def meta_data_index(version: Version, request: Request) -> str:
    row = _record(request)
    return "\n".join(k for k in KEYS if k != "public-keys/" or _keys(row))


@router.get(
    "/{version}/meta-data/{key:path}",
    response_class=PlainTextResponse,
    summary="one meta-data value",
)
def meta_data(version: Version, key: str, request: Request) -> str:
    return _value(_record(request), key, request)


@router.get("/{version}/user-data", response_class=PlainTextResponse, summary="user-data")
def user_data(version: Version, request: Request) -> str:
    row = _record(request)
    data = row.user_data()
    if not data:
        raise NotFound(f"hardware {row.name} has no user-data")
    return data
