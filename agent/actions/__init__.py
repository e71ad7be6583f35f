"""Workflow actions: one small module per built-in action, and the types they share.

An action is a function over one `ActionContext`. The worker, not the action, owns
timeouts, retries and reporting: it runs each action in a child process it can kill, reads
the action's output line by line, and reports. An action signals failure by raising
`ActionError` with a message the operator can act on; a terminal action (kexec, reboot,
poweroff) prepares what it can and returns the `Then` the worker carries out after it has
reported SUCCESS.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from agent.errors import AgentError
from agent.provision.wire import ActionState
from agent.syscalls import Syscalls


class ActionError(AgentError):
    """The action failed; the message says why and, where it can, what to change."""


class Then(enum.Enum):
    """What the worker does once the action has been reported SUCCESS."""

    CONTINUE = "continue"
    KEXEC = "kexec"  # the action loaded a kernel with kexec_file_load
    REBOOT = "reboot"
    POWEROFF = "poweroff"


@dataclass
class ActionContext:
    name: str  # the action's name in the template
    image: str
    env: Mapping[str, str]  # task environment under the action's, as rendered
    command: tuple[str, ...] = ()
    volumes: tuple[str, ...] = ()
    pid: str = ""
    sys: Syscalls = field(default_factory=Syscalls)
    say: Callable[[str], None] = print  # one line of the action's output
    progress: Callable[[int, int | None], None] = lambda done, total: None
    scratch: Path = Path("/run/metalinit/action")  # private, emptied after the action
    cancelled: threading.Event = field(default_factory=threading.Event)
    server: str = ""  # the provisioning server's base URL, for uploads (slurp)
    token: str = ""  # this boot's machine token, for uploads
    registry_mirror: str = ""  # metalinit.registry_mirror=, for pulls


Action = Callable[[ActionContext], Then | None]


@dataclass(frozen=True)
class ActionOutcome:
    """How one attempt of an action ended, as `agent.actions.run.run_action` tells it."""

    state: ActionState  # SUCCESS, FAILED or TIMEOUT
    message: str = ""
    then: Then = Then.CONTINUE
    exit_code: int | None = None
    seconds: float = 0.0
