"""Image references, normalised the way Docker does, and the three kinds of IMAGE argument.

`nginx` → `docker.io/library/nginx:latest`; `quay.io/a/b@sha256:…` keeps its digest;
`docker-archive:PATH` and `oci:DIR[:TAG]` name local sources. Pure: no I/O.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from rootfs_tools.errors import UsageError

DEFAULT_DOMAIN = "docker.io"
LEGACY_DOMAINS = frozenset({"index.docker.io", "registry-1.docker.io"})
OFFICIAL_NAMESPACE = "library"
DEFAULT_TAG = "latest"

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[0-9a-fA-F]{32,}")
_DOMAIN = re.compile(r"(?:[a-zA-Z0-9-]+\.)*[a-zA-Z0-9-]+(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?")


@dataclass(frozen=True)
class Reference:
    domain: str
    path: str
    tag: str = ""
    digest: str = ""

    @property
    def ref(self) -> str:
        """What to ask the registry's manifest endpoint for: the digest if pinned."""
        return self.digest or self.tag or DEFAULT_TAG

    def __str__(self) -> str:
        text = f"{self.domain}/{self.path}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True)
class DockerArchive:
    path: str

    def __str__(self) -> str:
        return f"docker-archive:{self.path}"


@dataclass(frozen=True)
class OciLayout:
    path: str
    tag: str = ""

    def __str__(self) -> str:
        return f"oci:{self.path}" + (f":{self.tag}" if self.tag else "")


Source = Reference | DockerArchive | OciLayout


def _is_domain(first: str) -> bool:
    return "." in first or ":" in first or first == "localhost" or first != first.lower()


def parse_reference(text: str) -> Reference:
    name, _, digest = text.partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise UsageError(f"{text!r}: {digest!r} is not a digest (algorithm:hex)")
    tag = ""
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name, tag = name.rsplit(":", 1)
        if not _TAG.fullmatch(tag):
            raise UsageError(f"{text!r}: {tag!r} is not a valid tag")
    first, sep, rest = name.partition("/")
    if sep and _is_domain(first):
        if not _DOMAIN.fullmatch(first):
            raise UsageError(f"{text!r}: {first!r} is not a registry host")
        domain, path = first, rest
    else:
        domain, path = DEFAULT_DOMAIN, name
    if domain in LEGACY_DOMAINS:
        domain = DEFAULT_DOMAIN
    if domain == DEFAULT_DOMAIN and "/" not in path:
        path = f"{OFFICIAL_NAMESPACE}/{path}"
    if not path or not all(_COMPONENT.fullmatch(part) for part in path.split("/")):
        raise UsageError(
            f"{text!r} is not an image reference: repository names are lowercase "
            "letters, digits and separators (. _ -), joined by /"
        )
    if not tag and not digest:
        tag = DEFAULT_TAG
    return Reference(domain=domain, path=path, tag=tag, digest=digest)


def parse_source(text: str) -> Source:
    """IMAGE as given on the command line."""
    if text.startswith("docker-archive:"):
        path = text.removeprefix("docker-archive:")
        if not path:
            raise UsageError("docker-archive: needs a path, e.g. docker-archive:image.tar")
        return DockerArchive(path)
    if text.startswith("oci:"):
        rest = text.removeprefix("oci:")
        path, tag = rest, ""
        head, sep, tail = rest.rpartition(":")
        if sep and head and "/" not in tail:
            path, tag = head, tail
        if not path:
            raise UsageError("oci: needs a directory, e.g. oci:./layout:latest")
        return OciLayout(path, tag)
    return parse_reference(text.removeprefix("docker://"))
