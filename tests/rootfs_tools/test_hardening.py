"""Layers a registry could serve that once gave a traceback, a corrupt image or deleted data:
each is now refused with a message naming the entry and no output, or converted into an
image `e2fsck -fn` accepts."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import signal
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.rootfs_tools.conftest import Convert
from tests.rootfs_tools.images import gz, plain, write_layout
from tests.rootfs_tools.trees import assert_fsck_clean, mounted

INTEGRITY, NOT_FOUND, OTHER = 5, 3, 1
Item = tuple[tarfile.TarInfo, bytes]


def info(name: str, kind: bytes = tarfile.REGTYPE, **fields: object) -> tarfile.TarInfo:
    member = tarfile.TarInfo(name)
    member.type, member.mtime = kind, 1_700_000_000
    member.mode = 0o755 if kind == tarfile.DIRTYPE else 0o644
    for key, value in fields.items():
        setattr(member, key, value)
    return member


def tar_of(items: list[Item], swap: tuple[bytes, bytes] = (b"", b"")) -> bytes:
    """A PAX tar; `swap` replaces bytes of the same length afterwards (tarfile cannot write
    a non-UTF-8 header keyword)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member, data in items:
            member.size = len(data)
            tar.addfile(member, io.BytesIO(data) if data else None)
    raw = out.getvalue()
    return raw.replace(*swap) if swap[0] else raw


def f(name: str, data: bytes = b"x", **fields: object) -> Item:
    return info(name, **fields), data


def pax(name: str, headers: dict[str, str], kind: bytes = tarfile.REGTYPE) -> Item:
    return info(name, kind, pax_headers=headers), b""


DEEP = "/".join(["d"] * 1500)

REFUSED: dict[str, tuple[list[Item], str, tuple[bytes, bytes]]] = {
    "uid-2^32": ([pax("f", {"uid": str(1 << 32)})], "uid 4294967296", (b"", b"")),
    "uid-negative": ([pax("f", {"uid": "-1"})], "uid -1", (b"", b"")),
    "gid-2^32": ([pax("f", {"gid": str(1 << 32)})], "gid 4294967296", (b"", b"")),
    "mtime-nan": ([pax("f", {"mtime": "nan"})], "mtime nan", (b"", b"")),
    "mtime-inf": ([pax("f", {"mtime": "inf"})], "mtime inf", (b"", b"")),
    "size-negative": ([pax("f", {"size": "-5"})], "size -5", (b"", b"")),
    "nul-in-path": ([pax("a", {"path": "a\0b"})], "NUL", (b"", b"")),
    "empty-symlink": ([f("link", b"", type=tarfile.SYMTYPE)], "empty target", (b"", b"")),
    "xattr-not-utf8": (
        [pax("f", {"SCHILY.xattr.user.QQ": "v"})],
        "not UTF-8",
        (b"user.QQ", b"user.\xff\xfe"),
    ),
    "xattr-name-256": (
        [pax("f", {"SCHILY.xattr.user." + "n" * 251: "v"})],
        "xattr name of 256 bytes",
        (b"", b""),
    ),
}


def _one_layer(dest: Path, tar: bytes) -> Path:
    return write_layout(dest, [tar], [gz], {"Cmd": ["/bin/true"]})


def _run(convert: Convert, tmp_path: Path, source: str, *args: str) -> tuple[Path, str, int]:
    out = tmp_path / "out" / "disk.img"
    out.parent.mkdir(exist_ok=True)
    done = convert(source, "-o", str(out), "--work-dir", str(tmp_path / "work"), *args)
    return out, done.stderr, done.returncode


def _assert_refused(out: Path, stderr: str, code: int, want_code: int, words: str) -> None:
    assert code == want_code, stderr
    assert words in stderr and "Traceback" not in stderr, stderr
    assert stderr.count("\n") == 1, stderr  # one line
    assert list(out.parent.iterdir()) == []


@pytest.mark.parametrize("writer", ["direct", "mkfs"])
@pytest.mark.parametrize("case", sorted(REFUSED))
def test_entry_no_filesystem_can_hold_is_refused(
    convert: Convert, tmp_path: Path, case: str, writer: str
) -> None:
    items, words, swap = REFUSED[case]
    layout = _one_layer(tmp_path / "layout", tar_of(items, swap))
    out, stderr, code = _run(convert, tmp_path, f"oci:{layout}", "--writer", writer)
    _assert_refused(out, stderr, code, INTEGRITY, words)


@pytest.mark.parametrize("writer", ["direct", "mkfs"])
def test_deep_tree_whited_out_in_its_own_layer(
    convert: Convert, tmp_path: Path, writer: str
) -> None:
    """1500 levels made and hidden by the same layer: they stay, and nothing recurses."""
    items = [f(DEEP + "/leaf"), f("keep"), f(".wh..wh..opq", b""), f(".wh.d", b"")]
    lower = tar_of([f("d/old")])
    layout = write_layout(tmp_path / "layout", [lower, tar_of(items)], [gz, gz], {})
    out, stderr, code = _run(convert, tmp_path, f"oci:{layout}", "--writer", writer)
    if writer == "mkfs":  # e2fsprogs 1.47.0's `mkfs.ext4 -d` crashes on such a tree
        _assert_refused(out, stderr, code, OTHER, "mkfs.ext4 failed")
        return
    assert code == 0, stderr
    assert_fsck_clean(out)
    with mounted(out) as root:
        assert (root / DEEP / "leaf").read_bytes() == b"x" and not (root / "d/old").exists()


def test_empty_layers_are_empty(convert: Convert, tmp_path: Path) -> None:
    """A 0-byte blob and a gzip of nothing are layers with no entries, as umoci takes them."""
    tars = [tar_of([f("etc/a", b"a")]), b"", b""]
    layout = write_layout(tmp_path / "layout", tars, [gz, plain, gz], {})
    out, stderr, code = _run(convert, tmp_path, f"oci:{layout}")
    assert code == 0, stderr
    with mounted(out) as root:
        assert (root / "etc/a").read_bytes() == b"a"


def test_missing_layer_blob_is_not_found(convert: Convert, tmp_path: Path) -> None:
    layout = _one_layer(tmp_path / "layout", tar_of([f("a")]))
    manifest = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    layers = json.loads((layout / "blobs/sha256" / manifest[7:]).read_text())["layers"]
    (layout / "blobs/sha256" / layers[0]["digest"][7:]).unlink()
    out, stderr, code = _run(convert, tmp_path, f"oci:{layout}")
    _assert_refused(out, stderr, code, NOT_FOUND, "is missing")


def test_layer_blob_that_is_not_a_file_is_refused(convert: Convert, tmp_path: Path) -> None:
    """A blob symlinked to /dev/zero would be read for as long as its declared size."""
    layout = _one_layer(tmp_path / "layout", tar_of([f("a")]))
    index = json.loads((layout / "index.json").read_text())["manifests"][0]["digest"]
    blob = json.loads((layout / "blobs/sha256" / index[7:]).read_text())["layers"][0]["digest"]
    path = layout / "blobs/sha256" / blob[7:]
    path.unlink()
    path.symlink_to("/dev/zero")
    out, stderr, code = _run(convert, tmp_path, f"oci:{layout}")
    _assert_refused(out, stderr, code, INTEGRITY, "is not a file")


OLD, FUTURE = -3_000_000_000, 20_000_000_000  # 1874, 2603


def test_times_outside_ext4_are_clamped_with_one_warning(convert: Convert, tmp_path: Path) -> None:
    items = [f("old", mtime=OLD), f("older", mtime=OLD - 1), f("future", mtime=FUTURE)]
    layout = _one_layer(tmp_path / "layout", tar_of(items))
    out, stderr, code = _run(convert, tmp_path, f"oci:{layout}")
    assert code == 0, stderr
    assert stderr.count("warning") == 1 and "clamped" in stderr, stderr
    assert_fsck_clean(out)
    with mounted(out) as root:
        assert int((root / "old").stat().st_mtime) == -(1 << 31)
        assert int((root / "future").stat().st_mtime) == (1 << 34) - (1 << 31) - 1


@pytest.mark.parametrize("kind", [tarfile.REGTYPE, tarfile.SYMTYPE])
def test_lost_found_that_is_no_directory_is_replaced(
    convert: Convert, tmp_path: Path, kind: bytes
) -> None:
    item = f("lost+found", b"" if kind == tarfile.SYMTYPE else b"x", type=kind, linkname="etc")
    layout = _one_layer(tmp_path / "layout", tar_of([item]))
    out, stderr, code = _run(convert, tmp_path, f"oci:{layout}")
    assert code == 0 and "lost+found" in stderr, stderr
    assert_fsck_clean(out)
    with mounted(out) as root:
        assert (root / "lost+found").is_dir() and not (root / "lost+found").is_symlink()


def _many(count: int) -> bytes:
    return tar_of([f(f"d{i // 1000}/f{i}", b"") for i in range(count)])


def test_small_size_with_many_entries_is_refused(convert: Convert, tmp_path: Path) -> None:
    layout = _one_layer(tmp_path / "layout", _many(40_000))
    out, stderr, code = _run(convert, tmp_path, f"oci:{layout}", "--size", "100M")
    _assert_refused(out, stderr, code, OTHER, "--size too small for")


def test_fixed_size_has_one_inode_per_16_kib(convert: Convert, tmp_path: Path) -> None:
    layout = _one_layer(tmp_path / "layout", tar_of([f("a")]))
    out, stderr, code = _run(convert, tmp_path, f"oci:{layout}", "--size", "2G")
    assert code == 0, stderr
    head = subprocess.run(["dumpe2fs", "-h", str(out)], capture_output=True, text=True).stdout
    inodes = int(next(ln for ln in head.splitlines() if ln.startswith("Inode count:")).split()[-1])
    assert (2 << 30) // 16384 * 0.95 <= inodes <= (2 << 30) // 16384 * 1.1, inodes
    assert_fsck_clean(out)


@pytest.mark.parametrize("writer", ["direct", "mkfs"])
def test_size_beyond_free_space_is_refused_before_writing(
    convert: Convert, tmp_path: Path, writer: str
) -> None:
    layout = _one_layer(tmp_path / "layout", tar_of([f("a")]))
    out, stderr, code = _run(
        convert, tmp_path, f"oci:{layout}", "--size", "1000T", "--writer", writer
    )
    _assert_refused(out, stderr, code, OTHER, "free in")


def test_sigterm_removes_the_temporary_image(tmp_path: Path) -> None:
    big = tar_of([f("big", os.urandom(1 << 20) * 300)])
    layout = write_layout(tmp_path / "layout", [big], [plain], {})
    out = tmp_path / "out" / "disk.img"
    out.parent.mkdir()
    argv = [sys.executable, "-m", "rootfs_tools.cli", f"oci:{layout}", "-o", str(out), "-q"]
    argv += ["--cache-dir", str(tmp_path / "cache")]
    proc = subprocess.Popen(argv, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 30
    while not list(out.parent.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.005)
    assert list(out.parent.iterdir()), "no temporary image appeared"
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(30) == 128 + signal.SIGTERM
    assert proc.stderr is not None and "Traceback" not in proc.stderr.read()
    assert list(out.parent.iterdir()) == []


SECRET = b"TOP-SECRET-api-key-0123456789 "


def _deleted_layers(how: str, after: bytes) -> list[bytes]:
    secret = SECRET * ((6 << 20) // len(SECRET)) + os.urandom(2 << 20)
    lower = [f("etc/keep", b"kept\n"), f("build/cache.bin", secret), f("etc/also", b"also\n")]
    if how == "whiteout":
        upper = [f("build/.wh.cache.bin", b""), f("after", after)]
    elif how == "opaque":
        upper = [f("build/.wh..wh..opq", b""), f("after", after)]
    else:
        upper = [f("build/cache.bin", b"small now\n"), f("after", after)]
    return [tar_of(lower), tar_of(upper)]


@pytest.mark.parametrize("how", ["whiteout", "opaque", "rewritten"])
def test_deleted_data_leaves_no_bytes_and_no_size(
    convert: Convert, tmp_path: Path, how: str
) -> None:
    after = os.urandom(1 << 20)
    tars = _deleted_layers(how, after)
    layout = write_layout(tmp_path / "layout", tars, [gz, gz], {})
    sizes = {}
    for writer in ("direct", "mkfs"):
        out = tmp_path / f"{writer}.img"
        done = convert(f"oci:{layout}", "-o", str(out), "--writer", writer)
        assert done.returncode == 0, done.stderr
        assert SECRET not in out.read_bytes(), f"{writer}: deleted bytes are in the image"
        assert_fsck_clean(out)
        sizes[writer] = out.stat().st_size
        with mounted(out) as root:
            assert (root / "after").read_bytes() == after
            assert (root / "etc/keep").read_bytes() == b"kept\n"
            assert (root / "etc/also").read_bytes() == b"also\n"
    assert sizes["direct"] <= sizes["mkfs"] * 1.05, sizes


def _docker_archive(dest: Path, *, gzipped: bool) -> Path:
    """A legacy `docker save` archive whose second layer is the first again, stored as a
    symlink to the first layer.tar (as docker writes it)."""
    layer = tar_of([f("etc/twice", b"same layer twice\n")])
    diff = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [diff, diff]},
    }
    config_blob = json.dumps(config).encode()
    manifest = [
        {"Config": "config.json", "RepoTags": ["t:1"], "Layers": ["a/layer.tar", "b/layer.tar"]}
    ]
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in (("config.json", config_blob), ("a/layer.tar", layer)):
            tar.addfile(info(name, size=len(data)), io.BytesIO(data))
        tar.addfile(info("b/layer.tar", tarfile.SYMTYPE, linkname="../a/layer.tar"))
        text = json.dumps(manifest).encode()
        tar.addfile(info("manifest.json", size=len(text)), io.BytesIO(text))
    data = gzip.compress(out.getvalue()) if gzipped else out.getvalue()
    dest.write_bytes(data)
    return dest


@pytest.mark.parametrize("gzipped", [False, True])
def test_docker_save_with_a_repeated_layer(convert: Convert, tmp_path: Path, gzipped: bool) -> None:
    archive = _docker_archive(tmp_path / "saved.tar", gzipped=gzipped)
    out, stderr, code = _run(convert, tmp_path, f"docker-archive:{archive}")
    assert code == 0, stderr
    with mounted(out) as root:
        assert (root / "etc/twice").read_bytes() == b"same layer twice\n"


def test_live_data_moves_across_the_backup_area(convert: Convert, tmp_path: Path) -> None:
    """Deleted data before group 1's backup area: what follows it moves down across that
    area, in a GPT partition (the image's offset), and reads back intact."""
    chunk = os.urandom(1 << 20)
    gone, b, c = chunk * 100, chunk[::-1] * 60, bytes(reversed(chunk[:4096])) * (80 * 256)
    lower = tar_of([f("gone", gone), f("b", b)])
    upper = tar_of([f(".wh.gone", b""), f("c", c)])
    layout = write_layout(tmp_path / "layout", [lower, upper], [plain, plain], {})
    out, stderr, code = _run(convert, tmp_path, f"oci:{layout}", "--partition", "gpt")
    assert code == 0, stderr
    assert_fsck_clean(out, 1 << 20)
    assert out.stat().st_size < (160 << 20) * 1.25
    with mounted(out, 1 << 20) as root:
        assert (root / "b").read_bytes() == b and (root / "c").read_bytes() == c
        assert not (root / "gone").exists()
