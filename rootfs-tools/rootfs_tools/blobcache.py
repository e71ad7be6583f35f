"""A content-addressed blob store: `ROOT/sha256/HEX`, written atomically, verified on read.

A blob enters the cache only through `Writer.commit()`, which checks size and digest and then
renames the temporary file into place. Readers hash what they read (`VerifiedReader`) and
raise at the end if the content is not what its name says; a corrupt cached blob is removed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import IO, Any

from rootfs_tools.errors import IntegrityError


def default_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(Path.home(), ".cache")
    return Path(base) / "metalinit" / "blobs"


def split_digest(digest: str) -> tuple[str, str]:
    algorithm, _, hexpart = digest.partition(":")
    if algorithm not in ("sha256", "sha512") or not hexpart:
        raise IntegrityError(f"unsupported digest {digest!r}")
    return algorithm, hexpart


class VerifiedReader:
    """Reads at most `size` bytes from `raw` and checks size and digest at the end."""

    def __init__(
        self, raw: IO[bytes], digest: str, size: int, what: str, *, bounded: bool = False
    ) -> None:
        algorithm, self._hex = split_digest(digest)
        self._slack = 0 if bounded else 1  # read one byte more to notice a longer blob
        self._hash = hashlib.new(algorithm)
        self._raw, self._digest, self._size, self._what = raw, digest, size, what
        self.done = 0

    def read(self, n: int = -1) -> bytes:
        left = self._size - self.done
        want = left + self._slack if n < 0 else min(n, left + self._slack)
        data = self._raw.read(want) if want > 0 else b""
        self.done += len(data)
        if self.done > self._size:
            raise IntegrityError(f"{self._what}: more than the {self._size} bytes announced")
        self._hash.update(data)
        if not data and n != 0:
            self._check()
        return data

    def _check(self) -> None:
        if self.done != self._size:
            raise IntegrityError(
                f"{self._what}: truncated, {self.done} of {self._size} bytes ({self._digest})"
            )
        if self._hash.hexdigest() != self._hex:
            raise IntegrityError(
                f"{self._what}: content does not match its digest {self._digest} "
                f"(got {self._hash.name}:{self._hash.hexdigest()})"
            )

    def finish(self) -> None:
        """Read whatever is left and verify; call after the consumer stopped early."""
        while self.read(1 << 20):
            pass

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> VerifiedReader:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class Writer:
    """Accumulates one blob in a temporary file next to its final place."""

    def __init__(self, final: Path, digest: str, size: int) -> None:
        algorithm, self._hex = split_digest(digest)
        self.final, self.digest, self.size = final, digest, size
        self.partial = final.with_name(f"{final.name}.partial.{os.getpid()}")
        final.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(self.partial, "ab")  # noqa: SIM115 - closed by commit/abort
        self._hash = hashlib.new(algorithm)
        self.done = 0
        if self.partial.stat().st_size:
            with open(self.partial, "rb") as old:
                while chunk := old.read(1 << 20):
                    self._hash.update(chunk)
            self.done = self.partial.stat().st_size

    def restart(self) -> None:
        """Start again from byte 0 (the server ignored our Range request)."""
        self._file.seek(0)
        self._file.truncate()
        self._hash = hashlib.new(self._hash.name)
        self.done = 0

    def write(self, data: bytes) -> None:
        self.done += len(data)
        if self.done > self.size:
            self.abort()
            raise IntegrityError(f"blob {self.digest}: more than the {self.size} bytes announced")
        self._hash.update(data)
        self._file.write(data)

    def commit(self) -> Path:
        self._file.close()
        if self.done != self.size or self._hash.hexdigest() != self._hex:
            self.abort()
            raise IntegrityError(
                f"blob {self.digest}: got {self.done} of {self.size} bytes with digest "
                f"{self._hash.name}:{self._hash.hexdigest()}"
            )
        os.replace(self.partial, self.final)
        return self.final

    def abort(self) -> None:
        self._file.close()
        self.partial.unlink(missing_ok=True)


class BlobCache:
    def __init__(self, root: Path | None = None) -> None:
        self.root = root or default_root()

    def path(self, digest: str) -> Path:
        algorithm, hexpart = split_digest(digest)
        return self.root / algorithm / hexpart

    def has(self, digest: str, size: int) -> bool:
        """Present with the right size; the digest is checked when the blob is read."""
        try:
            return self.path(digest).stat().st_size == size
        except FileNotFoundError:
            return False

    def writer(self, digest: str, size: int) -> Writer:
        return Writer(self.path(digest), digest, size)

    def discard(self, digest: str) -> None:
        self.path(digest).unlink(missing_ok=True)
