"""What happens when the entrypoint ends: `metalinit.on_exit=`. Pure policy."""

from __future__ import annotations

from dataclasses import dataclass

from agent.cmdline import OnExit

RESTART_LIMIT = 5
RESTART_DELAYS = (1.0, 2.0, 4.0, 8.0, 16.0)


@dataclass(frozen=True)
class Decision:
    action: OnExit
    delay: float = 0.0
    reason: str = ""


def decide(policy: OnExit, restarts: int) -> Decision:
    """The action for an entrypoint that has been restarted `restarts` times already."""
    if policy is not OnExit.RESTART:
        return Decision(policy)
    if restarts >= RESTART_LIMIT:
        return Decision(
            OnExit.RESCUE,
            reason=f"restarted {restarts} times already; giving up (limit {RESTART_LIMIT})",
        )
    delay = RESTART_DELAYS[min(restarts, len(RESTART_DELAYS) - 1)]
    return Decision(OnExit.RESTART, delay=delay)
