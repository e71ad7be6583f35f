"""Keeping a lease: RENEW (unicast to the server) from T1, REBIND (broadcast) from T2, and
RELEASE. The renewal runs in a daemon thread for as long as the agent does.

Retransmission while renewing or rebinding waits half the time left to T2 or to the end of
the lease (RFC 2131 §4.4.5), but at least RETRY_FLOOR seconds, so short leases work too.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from ipaddress import IPv4Address

from agent.log import Log
from agent.net import options as opt
from agent.net.lease import Lease, from_ack
from agent.net.links import Link
from agent.net.message import BROADCAST, BROADCAST_MAC, MessageType, Request, parse_frame
from agent.net.rawsock import PacketSocket

RETRY_FLOOR = 2.0


class Lost(Exception):
    """The server said NAK, or the lease ran out: the address must go."""


def link_of(lease: Lease, index: int) -> Link:
    return Link(index, lease.interface, lease.mac)


def release(lease: Lease, link: Link) -> None:
    """Give the lease back (RELEASE, unicast to the server; no answer comes)."""
    message = Request(
        MessageType.RELEASE,
        random.getrandbits(32),
        link.mac,
        ciaddr=lease.address,
        server_id=lease.server_id,
    )
    sock = PacketSocket(link)
    try:
        sock.send(
            message.frame(
                dst_mac=lease.server_mac or BROADCAST_MAC, dst_ip=lease.server_id or BROADCAST
            )
        )
    finally:
        sock.close()


def exchange(lease: Lease, link: Link, until: float, *, broadcast: bool, log: Log) -> Lease | None:
    """RENEW (or REBIND if broadcast) until an ACK; None when `until` passes, Lost on NAK."""
    xid = random.getrandbits(32)
    request = Request(MessageType.REQUEST, xid, link.mac, ciaddr=lease.address)
    dst_mac = BROADCAST_MAC if broadcast or not lease.server_mac else lease.server_mac
    dst_ip = BROADCAST if broadcast or lease.server_id is None else lease.server_id
    frame = request.frame(dst_mac=dst_mac, dst_ip=dst_ip)
    sock = PacketSocket(link)
    try:
        while (now := time.monotonic()) < until:
            try:
                sock.send(frame)
            except OSError as err:  # link down for a moment: retry on schedule
                log.debug(f"dhcp {link}: cannot send {'REBIND' if broadcast else 'RENEW'}: {err}")
            wait_until = min(until, now + max((until - now) / 2, RETRY_FLOOR))
            while (left := wait_until - time.monotonic()) > 0:
                if not sock.wait(left):
                    break
                for data in sock.frames():
                    answer = _answer(data, xid, link, lease.address, log)
                    if answer is not None:
                        return answer
    finally:
        sock.close()
    return None


def _answer(data: bytes, xid: int, link: Link, address: IPv4Address, log: Log) -> Lease | None:
    try:
        msg = parse_frame(data)
        if msg.op != 2 or msg.xid != xid or msg.chaddr[:6].hex() != link.mac_hex:
            return None
        if msg.type is MessageType.NAK:
            raise Lost(f"server {msg.server_id} refused to extend the lease (NAK)")
        if msg.type is not MessageType.ACK or msg.yiaddr != address:
            return None
        return from_ack(msg, link.name, link.mac, time.time())
    except opt.MalformedPacket as err:
        log.debug(f"dhcp {link}: dropped a reply while renewing: {err}")
    return None


class Renewer(threading.Thread):
    """Renews `lease` at T1, rebinds at T2; calls on_lease(old, new) for each new lease, and
    on_lost (which returns a fresh lease, or None to stop) when the lease is gone."""

    def __init__(
        self,
        lease: Lease,
        link: Link,
        log: Log,
        *,
        on_lease: Callable[[Lease, Lease], None],
        on_lost: Callable[[Lease, str], Lease | None],
        wanted: Callable[[], bool],
    ) -> None:
        super().__init__(name=f"dhcp-renew-{link.name}", daemon=True)
        self.lease, self.link, self.log = lease, link, log
        self.on_lease, self.on_lost, self.wanted = on_lease, on_lost, wanted
        self.stopped = threading.Event()

    def stop(self) -> None:
        self.stopped.set()

    def run(self) -> None:
        try:
            self._run()
        except Exception as err:  # a renewal bug must not go unseen, nor take the agent down
            self.log.error(f"dhcp {self.link}: renewal stopped: {type(err).__name__}: {err}")

    def _run(self) -> None:
        bound = time.monotonic()
        while True:
            lease = self.lease
            t1, t2, end = (bound + lease.t1, bound + lease.t2, bound + lease.lease_time)
            if self.stopped.wait(max(0.0, t1 - time.monotonic())) or not self.wanted():
                return
            try:
                new = exchange(lease, self.link, t2, broadcast=False, log=self.log)
                if new is None and self.wanted():
                    self.log.info(f"dhcp {self.link}: no answer to RENEW by T2; rebinding")
                    new = exchange(lease, self.link, end, broadcast=True, log=self.log)
                if new is None:
                    raise Lost(f"lease on {lease.address} ran out")
            except Lost as lost:
                if not self.wanted():
                    return
                fresh = self.on_lost(lease, str(lost))
                if fresh is None:
                    return
                new = fresh
            if not self.wanted():
                return
            self.on_lease(lease, new)
            self.lease, bound = new, time.monotonic()
