"""The worker's back-off: doubling from the server's backoff_initial to its backoff_max,
each wait jittered between half and all of its step."""

from __future__ import annotations

import random

import pytest

from agent.provision.backoff import Backoff


@pytest.mark.parametrize(
    ("failures", "step"),
    [(0, 1.0), (1, 2.0), (2, 4.0), (5, 32.0), (6, 60.0), (40, 60.0)],
)
def test_steps_double_up_to_the_maximum(failures: int, step: float) -> None:
    delays = []
    for seed in range(300):
        backoff = Backoff(1.0, 60.0, random.Random(seed), failures=failures)
        delays.append(backoff.next_delay())
    assert step / 2 <= min(delays) < step * 0.55
    assert step * 0.95 < max(delays) <= step


def test_each_failure_counts_and_reset_starts_over() -> None:
    backoff = Backoff(0.5, 8.0, random.Random(1))
    first = [backoff.next_delay() for _ in range(6)]
    assert backoff.failures == 6
    assert first[-1] >= 4.0  # 8.0 capped, at least half of it
    backoff.reset()
    assert backoff.next_delay() <= 0.5


@pytest.mark.parametrize(
    ("hint", "low", "high"), [(30.0, 30.0, 30.0), (500.0, 60.0, 60.0), (0.0, 0.5, 1.0)]
)
def test_a_servers_retry_after_is_honoured_up_to_the_maximum(
    hint: float, low: float, high: float
) -> None:
    delay = Backoff(1.0, 60.0, random.Random(3)).next_delay(at_least=hint)
    assert low <= delay <= high


def test_two_machines_do_not_retry_in_step() -> None:
    a, b = Backoff(rng=random.Random(1)), Backoff(rng=random.Random(2))
    assert [round(a.next_delay(), 3) for _ in range(5)] != [
        round(b.next_delay(), 3) for _ in range(5)
    ]
