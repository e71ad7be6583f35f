"""archive2disk from a real HTTP server into an ext4 partition of a real loop disk,
with good archives and hostile ones."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
import uuid
from pathlib import Path

import pytest

from agent.actions import archive2disk
from tests.actions.conftest import debugfs
from tests.actions.harness import context, run_in_child
from tests.actions.http_server import serving

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices and mounts need root")


def tar_bytes(entries: list[tuple[str, bytes | str | None, int]]) -> bytes:
    """A tar of (name, content, mode) entries: bytes → file, str → symlink to it,
    None → directory."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, content, mode in entries:
            info = tarfile.TarInfo(name)
            info.mode, info.uid, info.gid, info.mtime = mode, 1000, 1000, 1_700_000_000
            if content is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(content, str):
                info.type, info.linkname = tarfile.SYMTYPE, content
                tar.addfile(info)
            else:
                info.size = len(content)
                tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


GOOD = tar_bytes([
    ("./", None, 0o755),
    ("etc/", None, 0o755),
    ("etc/app.conf", b"key = value\n", 0o640),
    ("opt/app/bin/", None, 0o750),
    ("opt/app/bin/run", b"#!/bin/sh\necho run\n", 0o755),
    ("opt/app/current", "bin", 0o777),
])  # fmt: skip


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@pytest.fixture
def served(tmp_path: Path) -> Path:
    root = tmp_path / "srv"
    root.mkdir()
    (root / "app.tar").write_bytes(GOOD)
    (root / "app.tar.gz").write_bytes(gzip.compress(GOOD))
    return root


@pytest.mark.parametrize(
    ("name", "archive_type", "checksum_of"),
    [
        ("app.tar", "tar", "served"),
        ("app.tar.gz", "targz", "served"),
        ("app.tar.gz", "TARGZ", "inner tar"),
    ],
)
def test_unpacks_into_the_filesystem_and_merges_with_what_is_there(
    gpt_disk: str, tmp_path: Path, served: Path, name: str, archive_type: str, checksum_of: str
) -> None:
    part = f"{gpt_disk}p1"
    checksum = sha256((served / name).read_bytes()) if checksum_of == "served" else sha256(GOOD)
    with serving(served) as server:
        env = {"ARCHIVE_URL": server.url(name), "ARCHIVE_TYPE": archive_type, "DEST_DISK": part,
               "FS_TYPE": "ext4", "DEST_PATH": "/", "TARFILE_CHECKSUM": checksum}  # fmt: skip
        outcome = run_in_child(archive2disk.run, context(env, tmp_path))
    assert outcome.ok, outcome.error or outcome.crash
    assert (
        f"verified: {checksum} (the {'archive as served' if checksum_of == 'served' else 'tar inside'})"
        in outcome.text()
    )
    assert debugfs(part, "cat /etc/app.conf") == "key = value\n"
    assert "root:x:0:0" in debugfs(part, "cat /etc/passwd")  # what was there stays
    assert 'Fast link dest: "bin"' in debugfs(part, "stat /opt/app/current")
    assert debugfs(part, "cat /opt/app/bin/run") == "#!/bin/sh\necho run\n"
    stat = debugfs(part, "stat /etc/app.conf")
    assert "Mode:  0640" in stat and "User:  1000" in stat
    assert "Mode:  0750" in debugfs(part, "stat /opt/app/bin")
    assert ".archive2disk-" not in debugfs(part, "ls /")


def test_dest_path_is_made_when_missing(gpt_disk: str, tmp_path: Path, served: Path) -> None:
    part = f"{gpt_disk}p1"
    with serving(served) as server:
        env = {"ARCHIVE_URL": server.url("app.tar"), "ARCHIVE_TYPE": "tar", "DEST_DISK": part,
               "DEST_PATH": "/srv/www", "INSECURE_NO_TARFILE_CHECKSUM_VERIFICATION": "true"}  # fmt: skip
        outcome = run_in_child(archive2disk.run, context(env, tmp_path))
    assert outcome.ok, outcome.error
    assert "not verified" in outcome.text()
    assert debugfs(part, "cat /srv/www/etc/app.conf") == "key = value\n"


def test_wrong_checksum_writes_nothing(gpt_disk: str, tmp_path: Path, served: Path) -> None:
    part = f"{gpt_disk}p1"
    with serving(served) as server:
        env = {"ARCHIVE_URL": server.url("app.tar.gz"), "ARCHIVE_TYPE": "targz", "DEST_DISK": part,
               "DEST_PATH": "/", "TARFILE_CHECKSUM": "sha512:" + "0" * 128}  # fmt: skip
        outcome = run_in_child(archive2disk.run, context(env, tmp_path))
    assert outcome.error is not None and "TARFILE_CHECKSUM mismatch" in outcome.error
    assert hashlib.sha512(GOOD).hexdigest() in outcome.error
    assert "nothing was written to DEST_PATH" in outcome.error
    listing = debugfs(part, "ls /")
    assert "opt" not in listing and ".archive2disk-" not in listing
    assert "app.conf" not in debugfs(part, "ls /etc")


def test_checksum_is_required_unless_insecure(gpt_disk: str, tmp_path: Path) -> None:
    env = {
        "ARCHIVE_URL": "http://127.0.0.1:1/a.tar",
        "ARCHIVE_TYPE": "tar",
        "DEST_DISK": f"{gpt_disk}p1",
        "DEST_PATH": "/",
    }
    outcome = run_in_child(archive2disk.run, context(env, tmp_path))
    assert outcome.error is not None and "TARFILE_CHECKSUM is not set" in outcome.error
    outcome = run_in_child(archive2disk.run, context({**env, "ARCHIVE_TYPE": "zip"}, tmp_path))
    assert outcome.error == "ARCHIVE_TYPE='zip': expected tar or targz"


@pytest.mark.parametrize(
    ("entries", "refusal"),
    [
        ([("etc/ok", b"x", 0o644), ("../../escape-{tag}", b"x", 0o644)], "climb out of the root"),
        ([("/tmp/abs-{tag}", b"x", 0o644)], "absolute path"),
        (
            [("link", "/", 0o777), ("link/tmp/through-{tag}", b"x", 0o644)],
            "is a symlink; refusing to follow it",
        ),
        ([("dir", "../../../../../../tmp", 0o777), ("dir/rel-{tag}", b"x", 0o644)], "is a symlink"),
    ],
)
def test_hostile_archives_are_refused_and_nothing_is_written(
    gpt_disk: str, tmp_path: Path, entries: list[tuple[str, bytes | str | None, int]], refusal: str
) -> None:
    tag = uuid.uuid4().hex
    root = tmp_path / "srv"
    root.mkdir()
    data = tar_bytes([(name.format(tag=tag), content, mode) for name, content, mode in entries])
    (root / "evil.tar").write_bytes(data)
    part = f"{gpt_disk}p1"
    before = debugfs(part, "ls -l /")
    with serving(root) as server:
        env = {"ARCHIVE_URL": server.url("evil.tar"), "ARCHIVE_TYPE": "tar", "DEST_DISK": part,
               "DEST_PATH": "/", "TARFILE_CHECKSUM": sha256(data)}  # fmt: skip
        outcome = run_in_child(archive2disk.run, context(env, tmp_path))
    assert outcome.error is not None and refusal in outcome.error, outcome.error
    assert "nothing was written to DEST_PATH" in outcome.error
    assert not list(Path("/tmp").glob(f"*{tag}*")) and not list(tmp_path.rglob(f"*{tag}*"))
    assert debugfs(part, "ls -l /") == before


def test_not_a_tar(gpt_disk: str, tmp_path: Path, served: Path) -> None:
    (served / "junk.tar").write_bytes(os.urandom(4096))
    with serving(served) as server:
        env = {"ARCHIVE_URL": server.url("junk.tar"), "ARCHIVE_TYPE": "tar", "DEST_DISK": f"{gpt_disk}p1",
               "DEST_PATH": "/", "INSECURE_NO_TARFILE_CHECKSUM_VERIFICATION": "true"}  # fmt: skip
        outcome = run_in_child(archive2disk.run, context(env, tmp_path))
    assert outcome.error is not None and "not a valid tar archive" in outcome.error
