"""`root=` specs and what they match. Pure: devices are described by BlockInfo records."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from agent.errors import AgentError


class RootSpecError(AgentError):
    pass


class RootKind(enum.Enum):
    PATH = "path"
    UUID = "UUID"
    LABEL = "LABEL"
    PARTUUID = "PARTUUID"
    PARTLABEL = "PARTLABEL"


PREFIXED = (RootKind.UUID, RootKind.LABEL, RootKind.PARTUUID, RootKind.PARTLABEL)
HEX_UUID = re.compile(r"^[0-9a-fA-F-]+$")


@dataclass(frozen=True)
class BlockInfo:
    """What the agent reads from one block device (or image file)."""

    path: str
    size: int = 0
    pttype: str | None = None
    fstype: str | None = None
    uuid: str | None = None
    label: str | None = None
    partuuid: str | None = None
    partlabel: str | None = None


@dataclass(frozen=True)
class RootSpec:
    kind: RootKind
    value: str

    @classmethod
    def parse(cls, text: str) -> RootSpec:
        if text.startswith("/dev/"):
            if text.rstrip("/") == "/dev" or ".." in text.split("/"):
                raise RootSpecError(f"{text!r} does not name a device under /dev")
            return cls(RootKind.PATH, text)
        for kind in PREFIXED:
            prefix = kind.value + "="
            if text.upper().startswith(prefix):
                value = text[len(prefix) :]
                if not value:
                    raise RootSpecError(f"{kind.value}= needs a value")
                if kind in (RootKind.UUID, RootKind.PARTUUID) and not HEX_UUID.match(value):
                    raise RootSpecError(f"{value!r} is not a UUID (hex digits and dashes)")
                return cls(kind, value)
        raise RootSpecError(
            "use /dev/NAME, UUID=…, LABEL=…, PARTUUID=… or PARTLABEL=… "
            "(`metalinit disks` lists what each disk would match)"
        )

    def __str__(self) -> str:
        return self.value if self.kind is RootKind.PATH else f"{self.kind.value}={self.value}"

    def matches(self, info: BlockInfo) -> bool:
        match self.kind:
            case RootKind.PATH:
                return info.path == self.value
            case RootKind.UUID:
                return _same_id(info.uuid, self.value)
            case RootKind.PARTUUID:
                return _same_id(info.partuuid, self.value)
            case RootKind.LABEL:
                return info.label == self.value
            case RootKind.PARTLABEL:
                return info.partlabel == self.value


def _same_id(found: str | None, wanted: str) -> bool:
    return found is not None and found.lower() == wanted.lower()


def specs_matching(info: BlockInfo) -> list[str]:
    """Every `root=` value that would select this device, most stable first."""
    specs = [
        f"UUID={info.uuid}" if info.uuid else "",
        f"PARTUUID={info.partuuid}" if info.partuuid else "",
        f"LABEL={info.label}" if info.label else "",
        f"PARTLABEL={info.partlabel}" if info.partlabel else "",
        info.path if info.path.startswith("/dev/") else "",
    ]
    return [spec for spec in specs if spec]
