"""The direct ext4 writer on what the busybox and nginx images do not reach: files over
512 MiB (extent leaf blocks) across group 1's backup superblock, xattr blocks and ACLs,
long symlinks, 32-bit ids, device numbers and times, more inodes than one group holds.
Every image must pass `e2fsck -fn` and read back through the kernel as written."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import struct
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

from tests.rootfs_tools.conftest import Convert
from tests.rootfs_tools.images import MTIME, OCI_LAYER, D, Entry, layer_tar, write_layout
from tests.rootfs_tools.trees import assert_fsck_clean, mounted

MIB = 1 << 20
BIG_MIB = 530  # > 4 extents of 128 MiB: the extent tree needs leaf blocks
FUTURE = 4_102_444_800  # 2100-01-01: needs the epoch bits of the extra time field
# system.posix_acl_access in the VFS form (version 2): user::rw- user:1000:r-- group::r--
# mask::r-- other::---
ACL = struct.pack("<I", 2) + b"".join(
    struct.pack("<HHI", tag, perm, ident)
    for tag, perm, ident in [(1, 6, 0xFFFFFFFF), (2, 4, 1000), (4, 4, 0xFFFFFFFF),
                             (0x10, 4, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)]
)  # fmt: skip


def _big_chunks() -> Iterator[bytes]:
    for i in range(BIG_MIB):
        yield bytes([i % 251]) * MIB  # each MiB differs: a misplaced block changes the hash


class _Chunks(io.RawIOBase):
    def __init__(self) -> None:
        self.chunks, self.rest = _big_chunks(), b""

    def readable(self) -> bool:
        return True

    def readinto(self, buf: memoryview) -> int:  # type: ignore[override]
        while not self.rest:
            self.rest = next(self.chunks, b"")
            if not self.rest:
                return 0
        n = min(len(buf), len(self.rest))
        buf[:n], self.rest = self.rest[:n], self.rest[n:]
        return n


class _HashingWriter(io.RawIOBase):
    def __init__(self, out: gzip.GzipFile) -> None:
        self.out, self.hash = out, hashlib.sha256()

    def writable(self) -> bool:
        return True

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.hash.update(data)
        return self.out.write(data)


def _big_layout(dest: Path) -> Path:
    """One gzip layer with a 530 MiB file, streamed: the tar never sits in memory."""
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True)
    staging = dest / "layer.gz"
    with open(staging, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as gz:
        hashing = _HashingWriter(gz)
        with tarfile.open(fileobj=hashing, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            info = tarfile.TarInfo("big")
            info.size, info.mtime, info.mode = BIG_MIB * MIB, MTIME, 0o644
            tar.addfile(info, io.BufferedReader(_Chunks(), MIB))
    diff_id = "sha256:" + hashing.hash.hexdigest()
    data = staging.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    staging.rename(blobs / digest)
    layout = write_layout(dest / "small", [b""], [lambda t: (t, OCI_LAYER)], {})
    return _swap_layer(layout, dest, blobs / digest, diff_id)


def _swap_layer(layout: Path, dest: Path, blob: Path, diff_id: str) -> Path:
    """The small layout's config and manifest, pointed at the big blob, written to dest."""

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (dest / "blobs" / "sha256" / digest).write_bytes(data)
        return "sha256:" + digest

    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(
        (layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text()
    )
    config = json.loads((layout / "blobs/sha256" / manifest["config"]["digest"][7:]).read_text())
    config["rootfs"]["diff_ids"] = [diff_id]
    config_blob = json.dumps(config).encode()
    manifest["config"].update(digest=put(config_blob), size=len(config_blob))
    manifest["layers"] = [
        {
            "mediaType": OCI_LAYER + "+gzip",
            "digest": "sha256:" + blob.name,
            "size": blob.stat().st_size,
        }
    ]
    manifest_blob = json.dumps(manifest).encode()
    index["manifests"][0].update(digest=put(manifest_blob), size=len(manifest_blob))
    (dest / "index.json").write_text(json.dumps(index))
    (dest / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return dest


def test_file_over_512_mib_has_extent_leaves_and_steps_over_the_backup(
    convert: Convert, tmp_path: Path
) -> None:
    layout = _big_layout(tmp_path / "layout")
    out = tmp_path / "big.img"
    done = convert(f"oci:{layout}", "-o", str(out), "--free", "0%")
    assert done.returncode == 0, done.stderr
    assert_fsck_clean(out)
    tree = subprocess.run(
        ["debugfs", "-R", "ex /big", str(out)], capture_output=True, text=True, check=True
    ).stdout
    leaves = [line for line in tree.splitlines() if line.strip().startswith("1/ 1")]
    assert len(leaves) >= 5, tree  # depth 1: the extents sit in a leaf block
    header = subprocess.run(["dumpe2fs", "-h", str(out)], capture_output=True, text=True).stdout
    assert "Backup block groups:      1" in header
    expected = hashlib.sha256()
    for chunk in _big_chunks():
        expected.update(chunk)
    with mounted(out) as root:
        digest = hashlib.sha256()
        with open(root / "big", "rb") as f:
            while chunk := f.read(8 * MIB):
                digest.update(chunk)
        assert digest.hexdigest() == expected.hexdigest()
    assert out.stat().st_size < (BIG_MIB + 64 + 16) * MIB  # content + journal + metadata


LONG_TARGET = "/" + "d" * 98 + "/target"  # a block of its own, not inside the inode
LONGEST_TARGET = "x/" * 2000 + "end"  # 4003 bytes
BIG_XATTR = b"v" * 300  # too big for the 96 bytes of in-inode space


def _edge_layers() -> list[list[Entry]]:
    many = [Entry(f"many/f{i:05d}") for i in range(40_000)]
    first = [
        D("etc"),
        Entry("etc/replaced", data=b"lower " * 100_000),
        Entry("etc/keep", data=b"k" * 4096),
        Entry("empty"),
        Entry("ids", data=b"x", uid=100_000, gid=200_000),
        Entry(
            "caps", data=b"c", xattrs=(("security.capability", b"\x01\x00\x00\x02" + bytes(16)),)
        ),
        Entry("bigattr", data=b"b", xattrs=(("user.big", BIG_XATTR), ("user.small", b"s"))),
        Entry("acl", data=b"a", xattrs=(("system.posix_acl_access", ACL),)),
        Entry("long", tarfile.SYMTYPE, link=LONG_TARGET),
        Entry("longest", tarfile.SYMTYPE, link=LONGEST_TARGET),
        Entry("dev-big", tarfile.CHRTYPE, dev=(259, 300), mode=0o600),
        Entry("fifo", tarfile.FIFOTYPE),
        D("many"),
        *many,
    ]
    second = [
        D("etc"),
        Entry("etc/replaced", data=b"upper\n"),
        Entry("etc/keep-link", tarfile.LNKTYPE, link="etc/keep"),
        Entry("many/.wh.f00000"),
    ]
    return [first, second]


def test_edge_entries_round_trip(convert: Convert, tmp_path: Path) -> None:
    layers = _edge_layers()
    tars = [layer_tar(entries) for entries in layers]
    layout = write_layout(
        tmp_path / "layout", tars, [lambda t: (gzip.compress(t), OCI_LAYER + "+gzip")] * 2, {}
    )
    out = tmp_path / "edge.img"
    done = convert(f"oci:{layout}", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert_fsck_clean(out)
    groups = subprocess.run(["dumpe2fs", str(out)], capture_output=True, text=True).stdout
    assert groups.count("\nGroup ") >= 2  # 40 000 inodes do not fit in one group's 32 768
    with mounted(out) as root:
        assert (root / "etc/replaced").read_bytes() == b"upper\n"
        assert os.stat(root / "etc/keep").st_ino == os.stat(root / "etc/keep-link").st_ino
        assert os.stat(root / "etc/keep").st_nlink == 2
        assert (root / "empty").stat().st_size == 0
        ids = os.stat(root / "ids")
        assert (ids.st_uid, ids.st_gid) == (100_000, 200_000)
        assert os.getxattr(root / "caps", "security.capability")[:4] == b"\x01\x00\x00\x02"
        assert os.getxattr(root / "bigattr", "user.big") == BIG_XATTR
        assert os.getxattr(root / "bigattr", "user.small") == b"s"
        assert os.getxattr(root / "acl", "system.posix_acl_access") == ACL
        assert os.readlink(root / "long") == LONG_TARGET
        assert os.readlink(root / "longest") == LONGEST_TARGET
        dev = os.lstat(root / "dev-big")
        assert stat.S_ISCHR(dev.st_mode) and (os.major(dev.st_rdev), os.minor(dev.st_rdev)) == (
            259,
            300,
        )
        assert stat.S_ISFIFO(os.lstat(root / "fifo").st_mode)
        names = os.listdir(root / "many")
        assert len(names) == 39_999 and "f00000" not in names and "f39999" in names


def test_time_past_2038_round_trips(convert: Convert, tmp_path: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("later")
        info.mtime = FUTURE
        tar.addfile(info)
    tar_bytes = out.getvalue()
    layout = write_layout(tmp_path / "layout", [tar_bytes], [lambda t: (t, OCI_LAYER)], {})
    img = tmp_path / "t.img"
    assert convert(f"oci:{layout}", "-o", str(img)).returncode == 0
    assert_fsck_clean(img)
    with mounted(img) as root:
        assert int((root / "later").stat().st_mtime) == FUTURE


def test_what_ext4_cannot_hold_is_refused_with_no_output(convert: Convert, tmp_path: Path) -> None:
    tar = layer_tar([Entry("odd", data=b"x", xattrs=(("system.nfs4_acl", b"?"),))])
    layout = write_layout(tmp_path / "layout", [tar], [lambda t: (t, OCI_LAYER)], {})
    out = tmp_path / "out" / "odd.img"
    out.parent.mkdir()
    done = convert(f"oci:{layout}", "-o", str(out))
    assert done.returncode == 1 and "system.nfs4_acl" in done.stderr, done.stderr
    assert list(out.parent.iterdir()) == []
