"""Fuzz: ≥10,000 malformed and hostile replies; the client drops them all and takes the
one good lease sent after them."""

from __future__ import annotations

import json
import random
import subprocess
from ipaddress import IPv4Address
from pathlib import Path

import pytest

from agent.net.lease import from_ack
from agent.net.message import MessageType, parse_payload
from agent.net.options import MalformedPacket
from tests.net import fuzz_server as fuzz
from tests.net.conftest import needs_root
from tests.net.helpers import get_lease
from tests.net.topology import PYTHON, REPO, Lan

COUNT = 10_000


@needs_root
@pytest.mark.root
def test_flood_of_hostile_replies_then_the_good_lease(net: Lan, work: Path) -> None:
    server = subprocess.Popen(
        net.netns_exec_server(str(PYTHON), "-m", "tests.net.fuzz_server", "br0", str(COUNT), "7"),
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        assert server.stdout.readline().strip() == "ready"
        out = get_lease(net, work, "eth0", "--apply", "--arp-wait", "0", timeout=120)
        summary = json.loads(server.stdout.readline())
    finally:
        server.kill()
        server.wait()
    assert out["lease"]["address"] == "10.77.9.9"
    assert summary["sent"] >= COUNT
    assert len(summary["kinds"]) == 16  # every kind of hostile reply was sent
    # The client saw (and dropped) nearly all of them: none got past it, none crashed it.
    assert out["dropped"] >= 0.9 * COUNT, out["dropped"]


@pytest.mark.parametrize("seed", range(3))
def test_every_hostile_reply_is_refused_offline(seed: int) -> None:
    """The fuzzer's replies, checked without a network: each kind fails the client's checks
    (the same ones the loop applies), so the live test cannot pass by luck."""
    rng = random.Random(seed)
    mac, xid = "02:00:00:00:00:01", 0x1234
    seen = set()
    for _ in range(1500):
        for kind, makers in ((MessageType.OFFER, fuzz.COMMON), (MessageType.ACK, fuzz.REQUESTING)):
            maker = rng.choice(makers)
            seen.add(maker.__name__)
            payload = maker(rng, kind, xid, mac)
            assert not _acceptable(payload, xid, mac), maker.__name__
    assert seen == {m.__name__ for m in fuzz.REQUESTING}


def _acceptable(payload: bytes, xid: int, mac: str) -> bool:
    """Would the client, having asked 10.77.0.1 for 10.77.9.9, take this reply?"""
    try:
        msg = parse_payload(payload)
        if msg.op != 2 or msg.xid != xid or msg.chaddr[:6].hex(":") != mac:
            return False
        if msg.type not in (MessageType.OFFER, MessageType.ACK):
            return msg.type is MessageType.NAK and msg.server_id == IPv4Address("10.77.0.1")
        lease = from_ack(msg, "eth0", mac, 0.0)
        return lease.server_id == IPv4Address("10.77.0.1") and str(lease.address) == fuzz.GOOD
    except MalformedPacket:
        return False
