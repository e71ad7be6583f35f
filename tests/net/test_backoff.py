"""The retransmission schedule: one early DISCOVER retry, then RFC 2131's 4, 8, 16… ±1 s."""

from __future__ import annotations

import random

import pytest

from agent.log import Log
from agent.net.client import Client, Exchange, State, backoff
from agent.net.links import Link


@pytest.mark.parametrize(("tries", "base"), [(1, 4), (2, 8), (3, 16), (4, 32), (5, 64), (9, 64)])
def test_backoff_doubles_with_jitter(tries: int, base: float) -> None:
    rng = random.Random(tries)
    delays = [backoff(tries, rng) for _ in range(500)]
    assert base - 1 <= min(delays) < base - 0.8 and base + 0.8 < max(delays) <= base + 1


@pytest.mark.parametrize(
    ("state", "tries", "low", "high"),
    [
        (State.SELECTING, 1, 0.25, 0.75),  # the early retry
        (State.SELECTING, 2, 3, 5),
        (State.SELECTING, 3, 7, 9),
        (State.REQUESTING, 1, 3, 5),
        (State.REQUESTING, 2, 7, 9),
    ],
)
def test_schedule(state: State, tries: int, low: float, high: float) -> None:
    link = Link(2, "eth0", "02:00:00:00:00:01")
    client = Client([link], Log(), rng=random.Random(0))
    ex = Exchange(link, None, 1, state, 0.0, tries=tries)  # type: ignore[arg-type]
    assert all(low <= client._retry_after(ex) <= high for _ in range(200))
