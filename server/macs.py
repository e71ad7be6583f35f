"""MAC addresses as the server keeps them: six lower-case hex pairs joined by colons."""

from __future__ import annotations

import re

from server.errors import BadRequest

_SEPARATED = re.compile(r"^[0-9a-f]{1,2}([:-][0-9a-f]{1,2}){5}$")
_BARE = re.compile(r"^[0-9a-f]{12}$")


def normal_mac(text: str) -> str | None:
    """`AA-BB-CC-DD-EE-FF`, `aa:bb:…`, `aabbccddeeff` → `aa:bb:cc:dd:ee:ff`; else None."""
    value = text.strip().lower()
    if _BARE.match(value):
        return ":".join(value[i : i + 2] for i in range(0, 12, 2))
    if _SEPARATED.match(value):
        return ":".join(part.zfill(2) for part in re.split("[:-]", value))
    return None


def mac(text: str, where: str = "mac") -> str:
    value = normal_mac(text)
    if value is None:
        raise BadRequest(f"{where}: {text!r} is not a MAC address (write it as aa:bb:cc:dd:ee:ff)")
    return value


def looks_like_mac(text: str) -> bool:
    return normal_mac(text) is not None
