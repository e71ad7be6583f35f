"""The newc writer against GNU cpio (listing and extraction) and against our reader."""

from __future__ import annotations

import io
import os
import stat
import subprocess
from pathlib import Path

import pytest

from initramfs import cpio
from initramfs.errors import BuildError


def sample(tmp_path: Path) -> list[cpio.Entry]:
    tree = tmp_path / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "bin/tool").write_bytes(b"#!/bin/sh\necho hi\n")
    (tree / "bin/tool").chmod(0o700)  # normalised to 0755
    (tree / "etc").mkdir()
    (tree / "etc/odd-size").write_bytes(b"x" * 5)  # exercises the 4-byte padding
    (tree / "etc/umask-077").write_text("data\n")
    (tree / "etc/umask-077").chmod(0o600)  # normalised to 0644
    os.symlink("tool", tree / "bin/sh")
    return [
        *cpio.scan(tree),
        cpio.directory("dev"),
        cpio.char_device("dev/console", 5, 1),
        cpio.char_device("dev/null", 1, 3, 0o666),
    ]


def archive(entries: list[cpio.Entry], mtime: int = 1234567890) -> bytes:
    out = io.BytesIO()
    cpio.write(entries, out, mtime)
    return out.getvalue()


def test_gnu_cpio_lists_every_entry_with_type_and_device(tmp_path: Path) -> None:
    blob = archive(sample(tmp_path))
    listing = subprocess.run(
        ["cpio", "-tv", "--quiet"], input=blob, capture_output=True, check=True
    ).stdout.decode()
    lines = {line.split()[-1] if "->" not in line else line.split()[-3]: line
             for line in listing.splitlines()}  # fmt: skip
    assert sorted(lines) == ["bin", "bin/sh", "bin/tool", "dev", "dev/console", "dev/null",
                             "etc", "etc/odd-size", "etc/umask-077"]  # fmt: skip
    assert lines["dev/console"].startswith("crw-------") and "5,   1" in lines["dev/console"]
    assert lines["dev/null"].startswith("crw-rw-rw-") and "1,   3" in lines["dev/null"]
    assert lines["bin/tool"].startswith("-rwxr-xr-x   1 root     root")
    assert lines["etc/umask-077"].startswith("-rw-r--r--")
    assert "bin/sh -> tool" in lines["bin/sh"]


@pytest.mark.skipif(os.geteuid() != 0, reason="creating device nodes needs root")
def test_gnu_cpio_extracts_files_links_and_nodes(tmp_path: Path) -> None:
    blob = archive(sample(tmp_path))
    target = tmp_path / "out"
    target.mkdir()
    subprocess.run(["cpio", "-idm", "--quiet"], input=blob, cwd=target, check=True)
    assert (target / "bin/tool").read_bytes() == b"#!/bin/sh\necho hi\n"
    assert (target / "etc/odd-size").read_bytes() == b"xxxxx"
    assert os.readlink(target / "bin/sh") == "tool"
    console = (target / "dev/console").lstat()
    assert stat.S_ISCHR(console.st_mode)
    assert (os.major(console.st_rdev), os.minor(console.st_rdev)) == (5, 1)
    assert (target / "bin/tool").stat().st_mtime == 1234567890


def test_reader_round_trip(tmp_path: Path) -> None:
    entries = sorted(sample(tmp_path), key=lambda e: e.name)
    members = list(cpio.read(archive(entries)))
    assert [m.name for m in members] == [e.name for e in entries]
    assert [m.data for m in members] == [e.payload() for e in entries]
    assert [m.mode for m in members] == [e.mode for e in entries]
    assert [m.ino for m in members] == list(range(1, len(entries) + 1))
    assert {m.mtime for m in members} == {1234567890}
    assert next(m for m in members if m.name == "dev/console").rdev == (5, 1)


def test_same_input_same_bytes_in_any_order(tmp_path: Path) -> None:
    entries = sample(tmp_path)
    assert archive(entries) == archive(list(reversed(entries)))


def test_mtime_comes_from_source_date_epoch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1000")
    out = io.BytesIO()
    cpio.write(sample(tmp_path), out)
    assert {m.mtime for m in cpio.read(out.getvalue())} == {1000}
    monkeypatch.delenv("SOURCE_DATE_EPOCH")
    assert cpio.source_date_epoch() == cpio.DEFAULT_EPOCH


def test_duplicate_names_are_refused() -> None:
    with pytest.raises(BuildError, match="two archive entries named 'dev'"):
        archive([cpio.directory("dev"), cpio.directory("dev")])


def test_garbage_is_refused() -> None:
    with pytest.raises(BuildError, match="bad newc magic"):
        list(cpio.read(b"not an archive"))
