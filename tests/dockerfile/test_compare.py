"""The Dockerfile test's comparison on small real archives: what it excuses and what not."""

from __future__ import annotations

import io
import stat
from pathlib import Path

import pytest

from initramfs import cpio
from tests.dockerfile.compare import Sides, compare_archive, host_sources

LIBZ = "/lib/x86_64-linux-gnu/libz.so.1"


def archive(path: Path, members: dict[str, bytes], kind: str = "gz") -> Path:
    out = io.BytesIO()
    cpio.write([cpio.Entry(n, stat.S_IFREG | 0o644, d) for n, d in sorted(members.items())], out)
    raw = path.with_suffix("")
    raw.write_bytes(out.getvalue())
    from initramfs.compress import compress

    compress(kind, raw, path)
    return path


@pytest.fixture
def image_root(tmp_path: Path) -> Path:
    """A build stage whose libz differs from the host's and whose busybox does not."""
    root = tmp_path / "stage"
    (root / "usr/lib/x86_64-linux-gnu").mkdir(parents=True)
    (root / "lib").symlink_to("usr/lib")
    (root / "usr/lib/x86_64-linux-gnu/libz.so.1").write_bytes(b"another libz")
    (root / "bin").mkdir()
    (root / "bin/busybox").write_bytes(Path("/bin/busybox").read_bytes())
    return root


def sides(root: Path) -> Sides:
    return Sides(
        root, {"zlib1g": "1", "busybox-static": "1"}, {"zlib1g": "2", "busybox-static": "1"}
    )


@pytest.mark.parametrize(
    ("member", "first"),
    [
        ("lib/x86_64-linux-gnu/libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"),
        ("opt/metalinit/_internal/libssl.so.3", "/lib/x86_64-linux-gnu/libssl.so.3"),
        ("opt/metalinit/_internal/email/generator.pyc", "/usr/lib/python3.11/email/generator.py"),
        ("opt/metalinit/_internal/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so",
         "/usr/lib/python3.11/lib-dynload/_ssl.cpython-311-x86_64-linux-gnu.so"),
        ("opt/metalinit/_internal/agent/launch.pyc", "/usr/lib/python3.11/agent/launch.py"),
        ("lib/modules/6.1.0-56-amd64/kernel/fs/ext4/ext4.ko", None),  # the pinned kernel's
        ("etc/passwd", None),  # the build's own
    ],
)  # fmt: skip
def test_host_sources(member: str, first: str | None) -> None:
    """Candidates only: a member is excused only if a candidate exists on the host and
    differs in the image (the agent's own .pyc has no stdlib source to exist)."""
    found = host_sources(member)
    assert (found[0] if found else None) == first


def test_identical_archives(tmp_path: Path, image_root: Path) -> None:
    a = archive(tmp_path / "a.cpio.gz", {"x": b"1"})
    b = archive(tmp_path / "b.cpio.gz", {"x": b"1"})
    assert compare_archive(a, b, sides(image_root)).identical


def test_a_member_from_a_changed_library_is_excused_with_its_versions(
    tmp_path: Path, image_root: Path
) -> None:
    libz = Path(LIBZ).read_bytes()
    a = archive(tmp_path / "a.cpio.gz", {"lib/x86_64-linux-gnu/libz.so.1": libz, "x": b"1"})
    b = archive(tmp_path / "b.cpio.gz", {"lib/x86_64-linux-gnu/libz.so.1": b"other", "x": b"1"})
    verdict = compare_archive(a, b, sides(image_root))
    assert not verdict.identical and not verdict.unexplained
    [excused] = verdict.excused
    assert (excused.member, excused.package, excused.host, excused.image) == (
        "lib/x86_64-linux-gnu/libz.so.1", "zlib1g", "1", "2")  # fmt: skip


@pytest.mark.parametrize(
    ("member", "why"),
    [
        ("bin/busybox", "is the same on both sides"),  # same source, other bytes: a bug
        ("opt/metalinit/_internal/agent/launch.pyc", "not from a file of the system"),
    ],
)
def test_other_differences_fail(tmp_path: Path, image_root: Path, member: str, why: str) -> None:
    a = archive(tmp_path / "a.cpio.gz", {member: b"one"})
    b = archive(tmp_path / "b.cpio.gz", {member: b"two"})
    verdict = compare_archive(a, b, sides(image_root))
    assert len(verdict.unexplained) == 1 and why in verdict.unexplained[0], verdict


def test_other_member_lists_fail(tmp_path: Path, image_root: Path) -> None:
    a = archive(tmp_path / "a.cpio.gz", {"x": b"1"})
    b = archive(tmp_path / "b.cpio.gz", {"x": b"1", "y": b"2"})
    assert compare_archive(a, b, sides(image_root)).unexplained


def test_same_members_other_compression_needs_another_compressor(
    tmp_path: Path, image_root: Path
) -> None:
    a = archive(tmp_path / "a.cpio.gz", {"x": b"1" * 1000})
    b = tmp_path / "b.cpio.gz"
    import gzip

    b.write_bytes(gzip.compress(gzip.decompress(a.read_bytes()), compresslevel=1, mtime=7))
    verdict = compare_archive(a, b, sides(image_root))
    assert verdict.unexplained == ("a.cpio.gz: same members, other compressed bytes",)
    newer_gzip = Sides(image_root, {"gzip": "1"}, {"gzip": "2"})
    assert [e.package for e in compare_archive(a, b, newer_gzip).excused] == ["gzip"]
