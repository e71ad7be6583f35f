"""`/artifacts/`: the operator's directory of images, served with HEAD, Range and ETag (an
image write resumes with Range); and the machines' uploads (the slurp action's disk
captures), which land in `uploads/HARDWARE/NAME` there, checked against their SHA-256.

A path is `unsafe_path` until `_inside` has resolved it (symlinks too) and found it under
the artifacts directory; hidden names (an upload still arriving is one) are never served.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Request
from fastapi import Path as PathParam
from fastapi.responses import FileResponse, JSONResponse, Response

from agent.provision import wire
from server.api import wire_models as m
from server.api.auth import Machine
from server.api.problems import PROBLEMS
from server.errors import BadRequest, NotFound

router = APIRouter(responses=PROBLEMS)
UPLOAD_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
CHUNK = 1024 * 1024
UPLOAD_LIMIT = 2**50  # a disk capture may be as big as the disk


def _root(request: Request) -> Path:
    root: Path = request.app.state.artifacts
    return root


def _inside(root: Path, unsafe_path: str) -> Path:
    base = root.resolve()
    if any(part.startswith(".") for part in Path(unsafe_path).parts):
        raise NotFound(f"no artifact {unsafe_path!r}")
    target = (base / unsafe_path).resolve()
    if target != base and base not in target.parents:
        raise NotFound(f"no artifact {unsafe_path!r} (only files under the artifacts directory)")
    return target


@router.get(
    "/artifacts/{unsafe_path:path}",
    tags=["artifacts"],
    response_class=FileResponse,
    operation_id="get_artifact",
    summary="a file of the artifacts directory (Range, ETag)",
)
@router.head(
    "/artifacts/{unsafe_path:path}",
    tags=["artifacts"],
    response_class=FileResponse,
    operation_id="head_artifact",
    summary="an artifact's size and ETag",
)
def get_artifact(
    unsafe_path: str,
    request: Request,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Response:
    path = _inside(_root(request), unsafe_path)
    try:
        stat = path.stat()
    except OSError:
        raise NotFound(f"no artifact {unsafe_path!r}") from None
    if not path.is_file():
        raise NotFound(f"no artifact {unsafe_path!r} (a directory)")
    response = FileResponse(path, stat_result=stat)
    etag = response.headers["etag"]
    if if_none_match is not None and etag in (t.strip() for t in if_none_match.split(",")):
        return Response(status_code=304, headers={"etag": etag})
    return response


@router.put(
    wire.UPLOAD,
    response_model=m.Uploaded,
    tags=["machine"],
    summary="upload a file (a disk capture) with its SHA-256",
    max_body_size=UPLOAD_LIMIT,
)
async def upload(
    name: Annotated[str, PathParam(max_length=200, pattern=UPLOAD_NAME.pattern)],
    request: Request,
    caller: Machine,
    checksum: Annotated[
        str | None, Header(alias=wire.UPLOAD_SHA256, pattern=_HEX64.pattern)
    ] = None,
) -> JSONResponse:
    if not UPLOAD_NAME.match(name):
        raise BadRequest(f"upload name {name!r}: letters, digits, '.', '_' and '-' only")
    if checksum is not None and not _HEX64.match(checksum):
        raise BadRequest(f"{wire.UPLOAD_SHA256}: expected 64 hex digits")
    folder = _root(request) / "uploads" / caller.hardware
    await anyio.to_thread.run_sync(lambda: folder.mkdir(parents=True, exist_ok=True))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.")
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(fd, "wb") as out:
            pending = bytearray()
            async for chunk in request.stream():
                digest.update(chunk)
                size += len(chunk)
                pending += chunk
                if len(pending) >= CHUNK:
                    await anyio.to_thread.run_sync(out.write, bytes(pending))
                    pending.clear()
            await anyio.to_thread.run_sync(_finish, out, bytes(pending))
        sha256 = digest.hexdigest()
        if checksum is not None and checksum.lower() != sha256:
            raise BadRequest(
                f"upload {name}: SHA-256 {sha256} is not the {checksum.lower()} "
                "the sender gave; nothing was kept"
            )
        await anyio.to_thread.run_sync(_publish, Path(tmp), folder / name)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    url = f"{str(request.base_url).rstrip('/')}/artifacts/uploads/{caller.hardware}/{name}"
    return JSONResponse(wire.Uploaded(name, size, sha256, url).to_json())


def _finish(out: Any, rest: bytes) -> None:
    out.write(rest)
    out.flush()
    os.fsync(out.fileno())


def _publish(tmp: Path, final: Path) -> None:
    os.chmod(tmp, 0o644)
    os.replace(tmp, final)
    dir_fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


UPLOAD_PREFIX = wire.PREFIX + "/artifacts/"
