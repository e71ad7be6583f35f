"""Hardware records, their MACs and addresses, and the unknown MACs that asked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Row, delete, func, insert, or_, select, update

from server.errors import Conflict, NotFound
from server.macs import mac as normal_mac
from server.macs import normal_mac as maybe_mac
from server.store.dialect import upsert
from server.store.schema import hardware, hardware_ip, hardware_mac, unknown_mac, workflow


@dataclass(frozen=True)
class HardwareSpec:
    """What an operator says about a machine (from `hw add` or a Tinkerbell Hardware)."""

    name: str
    macs: tuple[str, ...] = ()
    disks: tuple[str, ...] = ()
    interfaces: tuple[dict[str, Any], ...] = ()  # Tinkerbell's form: {"dhcp": {"mac": …}, …}
    metadata: dict[str, Any] = field(default_factory=dict)
    user_data: str = ""
    allow_netboot: bool = True

    def all_macs(self) -> tuple[str, ...]:
        found = [normal_mac(m, "macs") for m in self.macs]
        for n, iface in enumerate(self.interfaces):
            raw = (iface.get("dhcp") or {}).get("mac")
            if isinstance(raw, str) and raw:
                found.append(normal_mac(raw, f"interfaces[{n}].dhcp.mac"))
        return tuple(dict.fromkeys(found))

    def full_interfaces(self) -> list[dict[str, Any]]:
        """The interfaces, plus one bare interface for each MAC given only with --mac."""
        listed = {
            maybe_mac(str((iface.get("dhcp") or {}).get("mac") or "")) for iface in self.interfaces
        }
        extra = [{"dhcp": {"mac": m}} for m in self.all_macs() if m not in listed]
        return [dict(i) for i in self.interfaces] + extra

    def addresses(self) -> tuple[str, ...]:
        found: list[str] = []
        for iface in self.interfaces:
            address = ((iface.get("dhcp") or {}).get("ip") or {}).get("address")
            if isinstance(address, str) and address:
                found.append(address)
        instance = self.metadata.get("instance") if isinstance(self.metadata, dict) else None
        for ip in (instance or {}).get("ips") or []:
            if isinstance(ip, dict) and isinstance(ip.get("address"), str):
                found.append(ip["address"])
        return tuple(dict.fromkeys(found))


def save(conn: Connection, spec: HardwareSpec, now: float) -> int:
    """Create the hardware, or replace the record of that name; returns its id."""
    macs = spec.all_macs()
    if not macs:
        raise Conflict(f"hardware {spec.name!r}: give it at least one MAC")
    row = conn.execute(
        select(hardware.c.id).where(hardware.c.name == spec.name).with_for_update()
    ).first()
    values = {
        "allow_netboot": spec.allow_netboot,
        "disks": list(spec.disks),
        "interfaces": spec.full_interfaces(),
        "metadata": dict(spec.metadata),
        "user_data": spec.user_data,
        "updated_at": now,
    }
    if row is None:
        hw_id = int(
            conn.execute(
                insert(hardware)
                .values(name=spec.name, created_at=now, **values)
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
    addresses = spec.addresses()
    if addresses:
        conn.execute(
            delete(hardware_ip).where(hardware_ip.c.address.in_(addresses))
        )  # an address moves to the record that names it last
        conn.execute(insert(hardware_ip), [{"address": a, "hardware_id": hw_id} for a in addresses])
    conn.execute(delete(unknown_mac).where(unknown_mac.c.mac.in_(macs)))
    return hw_id


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
