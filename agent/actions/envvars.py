"""Reading an action's environment: every value is the YAML scalar's text as written.

Booleans follow Go's strconv.ParseBool, as the hub actions read them ("1", "t", "true",
"TRUE", "True", and the same for false); numbers and octal modes are checked here, so a
typo fails the action before it touches a disk, with the variable's name in the message.
Pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping

from agent.actions import ActionError

TRUE = frozenset({"1", "t", "T", "true", "TRUE", "True"})
FALSE = frozenset({"0", "f", "F", "false", "FALSE", "False"})


def text(env: Mapping[str, str], name: str, default: str = "") -> str:
    return env.get(name, default).strip() or default


def required(env: Mapping[str, str], name: str, what: str) -> str:
    value = env.get(name, "").strip()
    if not value:
        raise ActionError(f"{name} is not set: it must name {what}")
    return value


def flag(env: Mapping[str, str], name: str, default: bool = False) -> bool:
    value = env.get(name, "").strip()
    if not value:
        return default
    if value in TRUE:
        return True
    if value in FALSE:
        return False
    raise ActionError(f"{name}={value!r}: expected true or false")


def integer(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    try:
        number = int(value, 10)
    except ValueError:
        raise ActionError(f"{name}={value!r}: expected a whole number") from None
    if number < minimum:
        raise ActionError(f"{name}={value!r}: must be at least {minimum}")
    return number


def octal(env: Mapping[str, str], name: str, default: int | None = None) -> int:
    """A file mode as written in YAML: "0600", "600", "0o600"; at most 0o7777."""
    value = env.get(name, "").strip()
    if not value:
        if default is None:
            raise ActionError(f"{name} is not set: give an octal mode such as 0644")
        return default
    digits = value.removeprefix("0o").removeprefix("0O")
    try:
        mode = int(digits, 8)
    except ValueError:
        raise ActionError(f"{name}={value!r}: expected an octal mode such as 0644") from None
    if not 0 <= mode <= 0o7777:
        raise ActionError(f"{name}={value!r}: a mode is at most 07777")
    return mode
