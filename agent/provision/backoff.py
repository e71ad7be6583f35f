"""How long the worker waits before it tries a failed call again.

Exponential from `initial` up to `maximum` (the server's `backoff_initial` and
`backoff_max`), each wait a random point between half and all of its step, so a fleet that
lost its server at the same moment does not come back at the same moment either.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

# Before the first lookup the server's own figures are not known yet: the wire defaults.
DEFAULT_INITIAL = 1.0
DEFAULT_MAXIMUM = 60.0


@dataclass
class Backoff:
    initial: float = DEFAULT_INITIAL
    maximum: float = DEFAULT_MAXIMUM
    # Not SystemRandom: os.urandom may block on an early boot's CRNG; jitter needs no secret.
    rng: random.Random = field(default_factory=random.Random)
    failures: int = 0

    def next_delay(self, at_least: float = 0.0) -> float:
        """The wait before the next try, counting this failure; `at_least` is a server's
        Retry-After, honoured up to `maximum`."""
        step = min(self.maximum, self.initial * 2.0 ** min(self.failures, 30))
        self.failures += 1
        return max(step * (0.5 + self.rng.random() / 2), min(at_least, self.maximum))

    def reset(self) -> None:
        self.failures = 0
