"""Hardware records, their MACs and addresses, and the unknown MACs that asked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, or_, select, update

from server.errors import BadRequest, Conflict, NotFound
from server.macs import mac as normal_mac
from server.macs import normal_mac as maybe_mac
from server.store.dialect import upsert
from server.store.schema import hardware, hardware_ip, hardware_mac, unknown_mac, workflow


@dataclass(frozen=True)
class HardwareRecord:
    """A machine as the server keeps it: its name, Tinkerbell's HardwareSpec (JSON names:
    `interfaces[].dhcp.mac`, `disks[].device`, `metadata`, `userData`, …) and whether it
    may netboot."""

    name: str
    spec: dict[str, Any] = field(default_factory=dict)
    allow_netboot: bool = True
    labels: dict[str, str] = field(default_factory=dict)  # free-form

    def interfaces(self) -> list[dict[str, Any]]:
        found = self.spec.get("interfaces") or []
        return [i for i in found if isinstance(i, dict)]

    def macs(self) -> tuple[str, ...]:
        found = []
        for n, iface in enumerate(self.interfaces()):
            raw = (iface.get("dhcp") or {}).get("mac")
            if isinstance(raw, str) and raw:
                found.append(normal_mac(raw, f"spec.interfaces[{n}].dhcp.mac"))
        return tuple(dict.fromkeys(found))

    def disks(self) -> tuple[str, ...]:
        return tuple(
            str(d.get("device", "")) for d in self.spec.get("disks") or [] if isinstance(d, dict)
        )

    def metadata(self) -> dict[str, Any]:
        value = self.spec.get("metadata")
        return value if isinstance(value, dict) else {}

    def user_data(self) -> str:
        """spec.userData, else the older spec.metadata.instance.userdata."""
        if isinstance(self.spec.get("userData"), str):
            return str(self.spec["userData"])
        instance = self.metadata().get("instance")
        return str((instance or {}).get("userdata") or "") if isinstance(instance, dict) else ""

    def addresses(self) -> tuple[str, ...]:
        found: list[str] = []
        for iface in self.interfaces():
            address = ((iface.get("dhcp") or {}).get("ip") or {}).get("address")
            if isinstance(address, str) and address:
                found.append(address)
        instance = self.metadata().get("instance")
        for ip in (instance or {}).get("ips") or [] if isinstance(instance, dict) else []:
            if isinstance(ip, dict) and isinstance(ip.get("address"), str):
                found.append(ip["address"])
        return tuple(dict.fromkeys(found))


def compose(
    name: str,
    *,
    macs: Sequence[str] = (),
    disks: Sequence[str] = (),
    interfaces: Sequence[dict[str, Any]] = (),
    metadata: dict[str, Any] | None = None,
    user_data: str = "",
    allow_netboot: bool = True,
    spec: dict[str, Any] | None = None,
    labels: dict[str, str] | None = None,
) -> HardwareRecord:
    """A record from the admin API's fields: `spec` (a whole HardwareSpec) as the base,
    each other field given replacing its part, and one interface for each MAC that no
    interface names yet (as `metalinit hw add --mac` gives them)."""
    base = dict(spec or {})
    if interfaces:
        base["interfaces"] = [dict(i) for i in interfaces]
    listed = {
        maybe_mac(str((i.get("dhcp") or {}).get("mac") or ""))
        for i in base.get("interfaces") or []
        if isinstance(i, dict)
    }
    for n, text in enumerate(macs):
        mac = normal_mac(text, f"macs[{n}]")
        if mac not in listed:
            listed.add(mac)
            base.setdefault("interfaces", []).append(
                {
                    "dhcp": {"mac": mac},
                    "netboot": {"allowPXE": allow_netboot, "allowWorkflow": True},
                }
            )
    if disks:
        base["disks"] = [{"device": d} for d in disks]
    if metadata:
        base["metadata"] = dict(metadata)
    if user_data:
        base["userData"] = user_data
    return HardwareRecord(name, base, allow_netboot, dict(labels or {}))


def record_of(row: Row[Any]) -> HardwareRecord:
    return HardwareRecord(str(row.name), dict(row.spec), bool(row.allow_netboot), dict(row.labels))


def _canonical(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with every interface's MAC written aa:bb:cc:dd:ee:ff."""
    out = dict(spec)
    interfaces = []
    for n, iface in enumerate(spec.get("interfaces") or []):
        iface = dict(iface)
        dhcp = iface.get("dhcp")
        if isinstance(dhcp, dict) and isinstance(dhcp.get("mac"), str) and dhcp["mac"]:
            iface["dhcp"] = {
                **dhcp,
                "mac": normal_mac(dhcp["mac"], f"spec.interfaces[{n}].dhcp.mac"),
            }
        interfaces.append(iface)
    if interfaces:
        out["interfaces"] = interfaces
    return out


def save(conn: Connection, record: HardwareRecord, now: float) -> int:
    """Create the hardware, or replace the record of that name; returns its id."""
    record = HardwareRecord(
        record.name, _canonical(record.spec), record.allow_netboot, record.labels
    )
    macs = record.macs()
    if not macs:
        raise BadRequest(f"hardware {record.name!r}: give it at least one MAC")
    row = conn.execute(
        select(hardware.c.id).where(hardware.c.name == record.name).with_for_update()
    ).first()
    values = {
        "allow_netboot": record.allow_netboot,
        "spec": record.spec,
        "labels": dict(record.labels),
        "updated_at": now,
    }
    if row is None:
        hw_id = int(
            conn.execute(
                insert(hardware)
                .values(name=record.name, created_at=now, **values)
                .returning(hardware.c.id)
            ).scalar_one()
        )
    else:
        hw_id = int(row.id)
        conn.execute(update(hardware).where(hardware.c.id == hw_id).values(**values))
    taken = conn.execute(
        select(hardware_mac.c.mac, hardware.c.name)
        .join(hardware, hardware.c.id == hardware_mac.c.hardware_id)
        .where(hardware_mac.c.mac.in_(macs), hardware_mac.c.hardware_id != hw_id)
    ).first()
    if taken is not None:
        raise Conflict(
            f"MAC {taken.mac} already belongs to hardware {taken.name!r}; "
            f"remove it there first (metalinit hw rm {taken.name})"
        )
    conn.execute(delete(hardware_mac).where(hardware_mac.c.hardware_id == hw_id))
    conn.execute(insert(hardware_mac), [{"mac": m, "hardware_id": hw_id} for m in macs])
    conn.execute(delete(hardware_ip).where(hardware_ip.c.hardware_id == hw_id))
    addresses = record.addresses()
    if addresses:
        # an address moves to the record that names it last
        conn.execute(delete(hardware_ip).where(hardware_ip.c.address.in_(addresses)))
        conn.execute(insert(hardware_ip), [{"address": a, "hardware_id": hw_id} for a in addresses])
    conn.execute(delete(unknown_mac).where(unknown_mac.c.mac.in_(macs)))
    return hw_id


def disallow_netboot(conn: Connection, hw_id: int) -> None:
    """After a workflow that toggles netboot: off, so the installer is not booted again."""
    set_netboot(conn, hw_id, False)


def set_netboot(conn: Connection, hw_id: int, allowed: bool) -> None:
    """Our flag and every interface's netboot.allowPXE (Tinkerbell's), on or off."""
    row = conn.execute(select(hardware.c.spec).where(hardware.c.id == hw_id)).one()
    spec = dict(row.spec)
    interfaces = []
    for iface in spec.get("interfaces") or []:
        iface = dict(iface)
        if isinstance(iface.get("netboot"), dict):
            iface["netboot"] = {**iface["netboot"], "allowPXE": allowed}
        interfaces.append(iface)
    if interfaces:
        spec["interfaces"] = interfaces
    conn.execute(
        update(hardware).where(hardware.c.id == hw_id).values(allow_netboot=allowed, spec=spec)
    )


def find(conn: Connection, key: str) -> Row[Any] | None:
    """A hardware row by name or by any of its MACs."""
    as_mac = maybe_mac(key)
    query = select(hardware).where(hardware.c.name == key)
    if as_mac is not None:
        owner = select(hardware_mac.c.hardware_id).where(hardware_mac.c.mac == as_mac)
        query = select(hardware).where(or_(hardware.c.name == key, hardware.c.id.in_(owner)))
    return conn.execute(query.order_by(hardware.c.id)).first()


def get(conn: Connection, key: str) -> Row[Any]:
    row = find(conn, key)
    if row is None:
        raise NotFound(f"no hardware named or with MAC {key!r} (see metalinit hw list)")
    return row


def get_by_id(conn: Connection, hw_id: int) -> Row[Any]:
    return conn.execute(select(hardware).where(hardware.c.id == hw_id)).one()


def by_macs(conn: Connection, macs: Sequence[str]) -> list[int]:
    rows = conn.execute(
        select(hardware_mac.c.hardware_id).where(hardware_mac.c.mac.in_(macs)).distinct()
    )
    return sorted(int(r.hardware_id) for r in rows)


def by_address(conn: Connection, address: str) -> Row[Any] | None:
    listed = select(hardware_ip.c.hardware_id).where(hardware_ip.c.address == address)
    row = conn.execute(select(hardware).where(hardware.c.id.in_(listed))).first()
    if row is not None:
        return row
    return conn.execute(
        select(hardware)
        .where(hardware.c.address == address)
        .order_by(hardware.c.inventory_at.desc())
    ).first()


def macs_of(conn: Connection, hw_id: int) -> list[str]:
    rows = conn.execute(
        select(hardware_mac.c.mac).where(hardware_mac.c.hardware_id == hw_id).order_by("mac")
    )
    return [r.mac for r in rows]


def list_all(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(hardware).order_by(hardware.c.name)))


def remove(conn: Connection, key: str) -> str:
    row = get(conn, key)
    busy = conn.execute(
        select(workflow.c.id).where(
            workflow.c.hardware_id == row.id, workflow.c.state.in_(("PENDING", "RUNNING"))
        )
    ).first()
    if busy is not None:
        raise Conflict(
            f"hardware {row.name!r} has workflow {busy.id} still to run; "
            "wait for it or delete it first"
        )
    conn.execute(delete(hardware).where(hardware.c.id == row.id))
    return str(row.name)


MAX_UNKNOWN = 10_000  # unknown MACs remembered; the oldest are forgotten first


def record_unknown(
    conn: Connection,
    macs: Sequence[str],
    address: str | None,
    inventory: dict[str, Any],
    now: float,
) -> None:
    for mac in macs:
        conn.execute(
            upsert(conn, unknown_mac)
            .values(
                mac=mac,
                first_seen=now,
                last_seen=now,
                lookups=1,
                macs=list(macs),
                address=address,
                inventory=inventory,
            )
            .on_conflict_do_update(
                index_elements=["mac"],
                set_={
                    "last_seen": now,
                    "lookups": unknown_mac.c.lookups + 1,
                    "macs": list(macs),
                    "address": address,
                    "inventory": inventory,
                },
            )
        )
    count = conn.execute(select(func.count()).select_from(unknown_mac)).scalar_one()
    if count > MAX_UNKNOWN:
        oldest = (
            select(unknown_mac.c.mac).order_by(unknown_mac.c.last_seen).limit(count - MAX_UNKNOWN)
        )
        conn.execute(delete(unknown_mac).where(unknown_mac.c.mac.in_(oldest)))


def list_unknown(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(select(unknown_mac).order_by(unknown_mac.c.last_seen.desc())))
