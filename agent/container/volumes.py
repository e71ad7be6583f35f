"""An action's `volumes` entries, as Docker's `-v SRC:DST[:OPTIONS]` reads them. Pure.

Only host paths can be bound: named volumes belong to a Docker engine, which we have not.
Options: `ro`/`rw`; SELinux labels (`z`, `Z`), `nocopy` and the propagation modes are
accepted and ignored (every container mount here is a slave of the host's).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from agent.container import ContainerError

IGNORED_OPTIONS = frozenset(
    {"z", "Z", "nocopy", "private", "rprivate", "shared", "rshared", "slave", "rslave"}
)


@dataclass(frozen=True)
class Volume:
    source: str  # a host path
    target: str  # a path inside the container
    readonly: bool = False

    def __str__(self) -> str:
        return f"{self.source}:{self.target}" + (":ro" if self.readonly else "")


def parse_volume(text: str) -> Volume:
    fields = text.split(":")
    if len(fields) not in (2, 3) or not all(fields[:2]):
        raise ContainerError(f"volume {text!r}: expected SRC:DST or SRC:DST:ro")
    source, target = fields[0], fields[1]
    if not source.startswith("/"):
        raise ContainerError(
            f"volume {text!r}: {source!r} is a named volume, which needs a Docker engine; "
            "give an absolute host path instead"
        )
    if not target.startswith("/"):
        raise ContainerError(f"volume {text!r}: the destination must be an absolute path")
    readonly = False
    for option in fields[2].split(",") if len(fields) == 3 else ():
        if option in ("ro", "rw"):
            readonly = option == "ro"
        elif option not in IGNORED_OPTIONS:
            raise ContainerError(f"volume {text!r}: unknown option {option!r} (ro or rw)")
    return Volume(posixpath.normpath(source), posixpath.normpath(target), readonly)


def parse_volumes(entries: tuple[str, ...]) -> tuple[Volume, ...]:
    return tuple(parse_volume(entry) for entry in entries)
