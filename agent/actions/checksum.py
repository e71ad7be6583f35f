"""What CHECKSUM (image2disk) and TARFILE_CHECKSUM (archive2disk) ask for. Pure.

A value is `sha256:HEX`, `sha512:HEX`, a bare HEX (64 digits: sha256, 128: sha512), or the
http(s) URL of a checksum file as `sha256sum`/`sha512sum` write them (`HEX  NAME`,
`HEX *NAME`) or in the BSD form (`SHA256 (NAME) = HEX`); the file must name the image's
file, as the checksum files published beside images do.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from agent.actions import ActionError

HEX_LENGTHS = {64: "sha256", 128: "sha512"}
ALGORITHMS = frozenset(HEX_LENGTHS.values())
_GNU_LINE = re.compile(r"\\?([0-9a-fA-F]{64}|[0-9a-fA-F]{128}) [ *](.+)")
_BSD_LINE = re.compile(r"(SHA256|SHA512) ?\((.+)\) ?= ?([0-9a-fA-F]+)")


@dataclass(frozen=True)
class Expected:
    algorithm: str  # a hashlib name: sha256 or sha512
    hexdigest: str  # lower case

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hexdigest}"


def is_url(value: str) -> bool:
    return value.startswith(("http://", "https://"))


def parse_digest(value: str, variable: str) -> Expected:
    """`sha256:HEX`, `sha512:HEX` or a bare HEX of either length."""
    algorithm, sep, digits = value.strip().partition(":")
    if not sep:
        algorithm, digits = HEX_LENGTHS.get(len(algorithm), ""), algorithm
    algorithm = algorithm.lower()
    if algorithm not in ALGORITHMS:
        raise ActionError(
            f"{variable}={value!r}: expected sha256:HEX, sha512:HEX or the URL of a checksum file"
        )
    if not re.fullmatch(r"[0-9a-fA-F]+", digits) or HEX_LENGTHS.get(len(digits)) != algorithm:
        raise ActionError(
            f"{variable}={value!r}: not a {algorithm} digest (wrong length or digits)"
        )
    return Expected(algorithm, digits.lower())


def file_name(url: str) -> str:
    """The name a checksum file uses for the file at `url`."""
    return unquote(urlsplit(url).path).rstrip("/").rpartition("/")[2]


def from_checksum_file(text: str, name: str, where: str) -> Expected:
    """The entry for `name` in a checksum file's text (a leading `./` is ignored)."""
    seen: list[str] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if gnu := _GNU_LINE.fullmatch(line):
            digits, listed = gnu.group(1), gnu.group(2)
            algorithm = HEX_LENGTHS[len(digits)]
        elif bsd := _BSD_LINE.fullmatch(line):
            algorithm, listed, digits = bsd.group(1).lower(), bsd.group(2), bsd.group(3)
            if HEX_LENGTHS.get(len(digits)) != algorithm:
                continue
        else:
            continue
        listed = listed.removeprefix("./")
        seen.append(listed)
        if listed == name or listed.rpartition("/")[2] == name:
            return Expected(algorithm, digits.lower())
    named = ", ".join(seen[:8]) + (" …" if len(seen) > 8 else "") if seen else "no file"
    raise ActionError(f"the checksum file {where} has no entry for {name!r} (it names {named})")
