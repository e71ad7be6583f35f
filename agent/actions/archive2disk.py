"""`archive2disk`: unpack a tar archive into the filesystem on a disk.

The hub action's variables: ARCHIVE_URL, ARCHIVE_TYPE (tar | targz), DEST_DISK (the
partition), FS_TYPE, DEST_PATH, TARFILE_CHECKSUM (`sha256:…`/`sha512:…`, required unless
INSECURE_NO_TARFILE_CHECKSUM_VERIFICATION=true), HTTP_CLIENT_TIMEOUT_MINUTES (accepted;
the action's timeout bounds the whole, and a broken download resumes instead).

The archive's paths are untrusted, with the same rules as image layers
(`rootfs_tools.layers`): no absolute paths, no `..`, no parent that is a symlink, no sparse
entries. It is unpacked into a staging directory on the target filesystem and moved into
DEST_PATH only when the whole archive was read and its checksum holds: a wrong checksum or
a hostile entry changes nothing in DEST_PATH. TARFILE_CHECKSUM may be of the archive as
served (what `sha256sum x.tar.gz` prints) or, as the hub computes it for targz, of the tar
inside. The compression is told by magic bytes; ARCHIVE_TYPE must still be tar or targz.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

from agent.actions import ActionContext, ActionError, Then, decoders
from agent.actions.checksum import Expected
from agent.actions.envvars import flag, integer, required, text
from agent.actions.image2disk import expected_checksum, retry_policy
from agent.actions.inroot import resolve_in_root
from agent.actions.merge import merge_tree
from agent.actions.mounting import mounted
from agent.actions.stream import Download, http_get

TYPES = {"tar": "raw", "targz": "gzip"}
UNTOUCHED = "nothing was written to DEST_PATH"


class ArchiveStream:
    """The uncompressed tar as a readable stream, hashed on both sides of the decoder."""

    def __init__(self, tar: hashlib._Hash, kind: str, head: bytes, rest: Iterator[bytes]) -> None:
        self._decoder = decoders.decoder(kind)
        self._tar_hash = tar
        self._pieces: deque[bytes] = deque()
        self._chunks = rest
        self._pending = head
        self.ended = False

    def _more(self) -> bool:
        data = self._pending or next(self._chunks, b"")
        self._pending = b""
        if not data:
            if not self.ended:
                self._decoder.end()
                self.ended = True
            return False
        for piece in self._decoder.feed(data):
            self._tar_hash.update(piece)
            self._pieces.append(piece)
        return True

    def read(self, n: int = -1) -> bytes:
        out = bytearray()
        while n < 0 or len(out) < n:
            if not self._pieces:
                if not self._more():
                    break
                continue
            piece = self._pieces.popleft()
            take = len(piece) if n < 0 else min(len(piece), n - len(out))
            out += piece[:take]
            if take < len(piece):
                self._pieces.appendleft(piece[take:])
        return bytes(out)

    def drain(self) -> None:
        """Read to the end (past the tar's end blocks), so both hashes cover everything."""
        while self._more():
            self._pieces.clear()


def _check(expected: Expected | None, served: str, tar: str, url: str) -> str:
    if expected is None:
        return "not verified (INSECURE_NO_TARFILE_CHECKSUM_VERIFICATION=true)"
    if expected.hexdigest == served:
        return f"verified: {expected} (the archive as served)"
    if expected.hexdigest == tar:
        return f"verified: {expected} (the tar inside)"
    raise ActionError(
        f"TARFILE_CHECKSUM mismatch: {url} as served has {expected.algorithm} {served} and the "
        f"tar inside {tar}, but TARFILE_CHECKSUM says {expected.hexdigest}; {UNTOUCHED}"
    )


def unpack(ctx: ActionContext, download: Download, dest: Path, staging: Path, kind_wanted: str,
           expected: Expected | None) -> str:  # fmt: skip
    """Unpack into `staging`, check, move into `dest`; returns the checksum line."""
    from rootfs_tools.errors import RootfsToolsError
    from rootfs_tools.layers import apply_layer

    algorithm = expected.algorithm if expected else "sha256"
    served, tar = hashlib.new(algorithm), hashlib.new(algorithm)
    download.open()
    chunks = download.chunks(served)
    head = next(chunks, b"")
    kind = decoders.by_magic(head[: decoders.HEAD_SIZE]) or "raw"
    if kind not in ("raw", "gzip"):
        ctx.say(f"the archive is {kind}-compressed (magic bytes): decompressing it")
    elif kind != kind_wanted:
        actual = "gzip-compressed" if kind == "gzip" else "a plain tar"
        ctx.say(f"ARCHIVE_TYPE does not match: the archive is {actual} (by its magic bytes)")
    stream = ArchiveStream(tar, kind, head, chunks)
    try:
        entries = apply_layer(str(staging), stream)
        stream.drain()
    except RootfsToolsError as e:
        raise ActionError(f"refused {download.what}: {e}; {UNTOUCHED}") from None
    except tarfile.TarError as e:
        raise ActionError(f"{download.what} is not a valid tar archive: {e}; {UNTOUCHED}") from None
    except OSError as e:
        raise ActionError(f"cannot unpack {download.what}: {e}; {UNTOUCHED}") from None
    verdict = _check(expected, served.hexdigest(), tar.hexdigest(), download.what)
    moved = merge_tree(str(staging), str(dest))
    ctx.say(f"unpacked {entries} entries ({moved} moved into place) into {dest}")
    return verdict


def run(ctx: ActionContext) -> Then | None:
    env = ctx.env
    url = required(env, "ARCHIVE_URL", "the archive's http:// or https:// URL")
    archive_type = required(env, "ARCHIVE_TYPE", "tar or targz").lower()
    if archive_type not in TYPES:
        raise ActionError(f"ARCHIVE_TYPE={archive_type!r}: expected tar or targz")
    device = required(env, "DEST_DISK", "the partition holding the filesystem")
    dest_path = required(env, "DEST_PATH", "where to unpack, such as /")
    if flag(env, "INSECURE_NO_TARFILE_CHECKSUM_VERIFICATION"):
        expected = None
    else:
        value = required(env, "TARFILE_CHECKSUM", "the archive's sha256:… or sha512:… "
                         "(or set INSECURE_NO_TARFILE_CHECKSUM_VERIFICATION=true)")  # fmt: skip
        expected = expected_checksum(value, url, ctx)
    integer(env, "HTTP_CLIENT_TIMEOUT_MINUTES", 5, minimum=1)
    retry = retry_policy(env)
    download = Download(url, http_get(url), retry=retry, cancelled=ctx.cancelled, say=ctx.say)
    with mounted(ctx, device, text(env, "FS_TYPE"), "DEST_DISK") as root:
        dest = resolve_in_root(root, dest_path)
        os.makedirs(dest, 0o755, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".archive2disk-", dir=dest))
        try:
            verdict = unpack(ctx, download, dest, staging, TYPES[archive_type], expected)
        finally:
            download.close()
            shutil.rmtree(staging, ignore_errors=True)
    ctx.say(f"{urlsplit(url).path.rpartition('/')[2]}: checksum {verdict}")
    return None
