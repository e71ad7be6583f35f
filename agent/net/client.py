"""The DHCPv4 client (RFC 2131): on every candidate link at once, the first lease wins.

One loop waits on the links' packet sockets and the netlink carrier events. Each link runs
its own exchange (INIT-REBOOT or SELECTING → REQUESTING) with its own xid; a link starts
sending the moment it has carrier. Retransmission: one early DISCOVER retry after 0.5 s
(±0.25), then 4, 8, 16, 32, 64 s, each ±1 s at random.
Any reply that does not parse, is not for us, or offers an unusable address is dropped
with a debug line; nothing a server sends can raise out of the loop.
"""

from __future__ import annotations

import enum
import random
import select
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from agent.errors import AgentError
from agent.log import Log
from agent.net import options as opt
from agent.net.lease import Lease, from_ack
from agent.net.links import CarrierWatch, Link
from agent.net.message import Message, MessageType, Request, parse_frame
from agent.net.rawsock import PacketSocket, arp_conflict

EARLY_RETRY = 0.5
FIRST_RETRY = 4.0
MAX_RETRY = 64.0
JITTER = 1.0
REQUEST_TRIES = 3
INIT_REBOOT_TRIES = 2
DECLINE_PAUSE = 1.0
# No ARP probe unless asked: it is a fixed wait in every boot's path (0.2 s made the lease
# 2.6x udhcpc's), the servers a fleet boots from check first (dnsmasq pings an address
# before offering it; reservations cannot clash), and udhcpc and the kernel's ip=dhcp do not
# probe either. metalinit.arp_wait=S turns it on; a conflict it finds is DECLINEd.
DEFAULT_ARP_WAIT = 0.0


class NoLease(AgentError):
    """No DHCP server answered on any link before the timeout."""


class State(enum.Enum):
    INIT_REBOOT = "init-reboot"
    SELECTING = "selecting"
    REQUESTING = "requesting"


def backoff(tries: int, rng: random.Random) -> float:
    """Seconds until the next retransmission after `tries` sends: 4, 8, 16… capped, ±1."""
    base = min(FIRST_RETRY * 2 ** max(tries - 1, 0), MAX_RETRY)
    return float(base + rng.uniform(-JITTER, JITTER))


@dataclass
class Exchange:
    """One link's conversation with the servers."""

    link: Link
    sock: PacketSocket
    xid: int
    state: State
    started: float
    tries: int = 0
    next_send: float = 0.0
    offer: Message | None = None
    requested: IPv4Address | None = None


@dataclass
class Client:
    links: list[Link]
    log: Log
    hostname: str | None = None
    previous: IPv4Address | None = None
    arp_wait: float = DEFAULT_ARP_WAIT
    # Not SystemRandom: os.urandom blocks until the kernel's CRNG is ready, over a second
    # into a boot under emulation. random.Random() seeds itself without blocking, and an
    # xid or a back-off jitter needs no secrecy.
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic
    dropped: int = 0

    def acquire(self, timeout: float, watch: CarrierWatch) -> Lease:
        """Run until one link holds an ACKed, probed lease; NoLease after timeout seconds."""
        start = self.clock()
        deadline = start + timeout
        exchanges = {
            link.index: self._begin(link, PacketSocket(link), start) for link in self.links
        }
        try:
            return self._loop(exchanges, watch, deadline)
        finally:
            for ex in exchanges.values():
                ex.sock.close()

    def _begin(self, link: Link, sock: PacketSocket, now: float) -> Exchange:
        state = State.INIT_REBOOT if self.previous is not None else State.SELECTING
        ex = Exchange(link, sock, self.rng.getrandbits(32), state, now, next_send=now)
        ex.requested = self.previous
        return ex

    def _restart(self, ex: Exchange, now: float, pause: float = 0.0) -> None:
        ex.xid, ex.state, ex.tries, ex.offer = self.rng.getrandbits(32), State.SELECTING, 0, None
        ex.started, ex.next_send, ex.requested = now, now + pause, None

    def _loop(self, exchanges: dict[int, Exchange], watch: CarrierWatch, deadline: float) -> Lease:
        by_fd = {ex.sock.fileno(): ex for ex in exchanges.values()}
        while True:
            now = self.clock()
            if now >= deadline:
                names = ", ".join(ex.link.name for ex in exchanges.values())
                raise NoLease(f"no DHCP server answered on {names}; check the cable and server")
            up = watch.up()
            for ex in exchanges.values():
                if ex.link.index in up and ex.next_send <= now:
                    self._send(ex, now)
            waits = [ex.next_send for ex in exchanges.values() if ex.link.index in up]
            timeout = max(0.0, min([*waits, deadline]) - now)
            ready, _, _ = select.select([watch.fileno(), *by_fd], [], [], timeout)
            for fd in ready:
                if fd == watch.fileno():
                    watch.read()
                    continue
                ex = by_fd[fd]
                for frame in ex.sock.frames():
                    lease = self._receive(ex, frame)
                    if lease is not None:
                        return lease

    def _request(self, ex: Exchange, now: float) -> Request:
        secs = int(now - ex.started)
        if ex.state is State.SELECTING:
            return Request(MessageType.DISCOVER, ex.xid, ex.link.mac, secs, hostname=self.hostname)
        server = ex.offer.server_id if ex.offer is not None else None
        return Request(
            MessageType.REQUEST,
            ex.xid,
            ex.link.mac,
            secs,
            requested=ex.requested,
            server_id=server,
            hostname=self.hostname,
        )

    def _send(self, ex: Exchange, now: float) -> None:
        limit = {State.REQUESTING: REQUEST_TRIES, State.INIT_REBOOT: INIT_REBOOT_TRIES}
        if ex.tries >= limit.get(ex.state, 1 << 30):
            self.log.debug(f"dhcp {ex.link}: no answer in {ex.state.value}, starting over")
            self._restart(ex, now)
        request = self._request(ex, now)
        try:
            ex.sock.send(request.frame())
        except OSError as err:
            self.log.debug(f"dhcp {ex.link}: cannot send {request.type.name}: {err}")
        ex.tries += 1
        ex.next_send = now + self._retry_after(ex)
        self.log.debug(f"dhcp {ex.link}: {request.type.name} xid {ex.xid:#010x} try {ex.tries}")

    def _retry_after(self, ex: Exchange) -> float:
        """RFC 2131's back-off, after one early DISCOVER retry: a frame sent the moment a
        link gets carrier is sometimes lost before the far end forwards (measured here on
        a Linux bridge port: about 1 lease in 15 lost its first DISCOVER), and waiting
        4 s for that would dominate the boot."""
        if ex.state is State.SELECTING:
            if ex.tries == 1:
                return EARLY_RETRY + self.rng.uniform(-EARLY_RETRY / 2, EARLY_RETRY / 2)
            return backoff(ex.tries - 1, self.rng)
        return backoff(ex.tries, self.rng)

    def _drop(self, ex: Exchange, why: str) -> None:
        self.dropped += 1
        self.log.debug(f"dhcp {ex.link}: dropped a reply: {why}")

    def _receive(self, ex: Exchange, frame: bytes) -> Lease | None:
        try:
            msg = parse_frame(frame)
            if msg.op != 2 or msg.xid != ex.xid or msg.chaddr[:6].hex() != ex.link.mac_hex:
                self._drop(ex, "not a reply to this client's transaction")
                return None
            return self._handle(ex, msg)
        except opt.MalformedPacket as err:
            self._drop(ex, str(err))
        except Exception as err:  # hostile input must never end the loop
            self._drop(ex, f"{type(err).__name__}: {err}")
        return None

    def _handle(self, ex: Exchange, msg: Message) -> Lease | None:
        kind, now = msg.type, self.clock()
        if kind is MessageType.OFFER and ex.state is State.SELECTING:
            from_ack(msg, ex.link.name, ex.link.mac, 0.0)  # what it promises must be usable
            if msg.server_id is None:
                raise opt.MalformedPacket("OFFER without a server identifier")
            ex.offer, ex.requested, ex.state, ex.tries = msg, msg.yiaddr, State.REQUESTING, 0
            self.log.debug(f"dhcp {ex.link}: offer {msg.yiaddr} from {msg.server_id}")
            self._send(ex, now)
            return None
        if ex.state is State.SELECTING:
            raise opt.MalformedPacket(f"{kind.name} while selecting")
        if ex.offer is not None and msg.server_id != ex.offer.server_id:
            raise opt.MalformedPacket(f"{kind.name} from {msg.server_id}, not the chosen server")
        if kind is MessageType.NAK:
            self.log.info(f"dhcp {ex.link}: server {msg.server_id} said NAK; starting over")
            self._restart(ex, now)
            return None
        if kind is not MessageType.ACK:
            raise opt.MalformedPacket(f"{kind.name} while {ex.state.value}")
        lease = from_ack(msg, ex.link.name, ex.link.mac, time.time())
        if ex.requested is not None and lease.address != ex.requested:
            raise opt.MalformedPacket(f"ACK for {lease.address}, requested {ex.requested}")
        try:
            holder = arp_conflict(ex.link, lease.address, self.arp_wait)
        except OSError as err:  # no probe is no reason to refuse the lease
            self.log.debug(f"dhcp {ex.link}: ARP probe failed: {err}")
            holder = None
        if holder is not None:
            self.log.warn(f"dhcp {ex.link}: {lease.address} is in use by {holder}; declining")
            decline = Request(
                MessageType.DECLINE,
                ex.xid,
                ex.link.mac,
                requested=lease.address,
                server_id=msg.server_id,
                message="address in use",
            )
            ex.sock.send(decline.frame())
            self._restart(ex, now, DECLINE_PAUSE)
            return None
        return lease
