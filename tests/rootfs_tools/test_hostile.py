"""Hostile images: each fails with a clear message, writes nothing outside the work dir and
leaves no output file."""

from __future__ import annotations

import hashlib
import json
import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.rootfs_tools.conftest import Convert
from tests.rootfs_tools.images import Entry, gz, layer_tar, plain, write_layout

INTEGRITY = 5


def _layout(dest: Path, *layers: list[Entry]) -> Path:
    tars = [layer_tar(entries) for entries in layers]
    return write_layout(dest, tars, [gz] * len(tars), {"Cmd": ["/bin/true"]})


LINK, SYM = tarfile.LNKTYPE, tarfile.SYMTYPE
BASE = [Entry("etc", tarfile.DIRTYPE, mode=0o755), Entry("etc/shadow", data=b"image's own\n")]


def hostile_layers(outside: Path) -> dict[str, tuple[list[list[Entry]], str]]:
    """name → (layers, words the error must contain)."""
    return {
        "traversal": ([BASE, [Entry("../../../escaped", data=b"x")]], "'..'"),
        "traversal-inside": ([BASE, [Entry("etc/../../escaped", data=b"x")]], "'..'"),
        "absolute": ([BASE, [Entry(f"{outside}/abs", data=b"x")]], "absolute path"),
        "symlink-escape": (
            [BASE, [Entry("evil", SYM, link=str(outside))], [Entry("evil/pwned", data=b"x")]],
            "is a symlink",
        ),
        "symlink-escape-same-layer": (
            [[Entry("up", SYM, link="../../../.."), Entry("up/pwned", data=b"x")]],
            "is a symlink",
        ),
        "hardlink-host-shadow": (
            [BASE, [Entry("stolen", LINK, link="/etc/shadow")]],
            "absolute path",
        ),
        "hardlink-climb": ([BASE, [Entry("stolen", LINK, link="../../../../etc/shadow")]], "'..'"),
        "hardlink-via-symlink": (
            [BASE, [Entry("hostetc", SYM, link="/etc")], [Entry("s", LINK, link="hostetc/shadow")]],
            "is a symlink",
        ),
        "bare-whiteout": ([BASE, [Entry("etc/.wh.")]], "whiteout"),
        "root-as-file": ([[Entry("./", data=b"x")]], "root"),
    }


def _run_hostile(
    convert: Convert, tmp_path: Path, layout: Path, writer: str = "direct"
) -> subprocess.CompletedProcess[str]:
    work, out = tmp_path / "work", tmp_path / "out" / "disk.img"
    out.parent.mkdir()
    done = convert(f"oci:{layout}", "-o", str(out), "--work-dir", str(work), "--writer", writer)
    assert not out.exists()
    assert list(out.parent.iterdir()) == []
    assert not work.exists() or list(work.iterdir()) == []
    return done


@pytest.mark.parametrize("writer", ["direct", "mkfs"])
@pytest.mark.parametrize("case", sorted(hostile_layers(Path("/x"))))
def test_hostile_layer_is_refused(convert: Convert, tmp_path: Path, case: str, writer: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    layers, words = hostile_layers(outside)[case]
    done = _run_hostile(convert, tmp_path, _layout(tmp_path / "layout", *layers), writer)
    assert done.returncode == INTEGRITY, done.stderr
    assert words in done.stderr
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "escaped").exists() and not (tmp_path.parent / "escaped").exists()


@pytest.mark.parametrize("writer", ["direct", "mkfs"])
def test_sparse_bomb_is_refused_quickly(convert: Convert, tmp_path: Path, writer: str) -> None:
    src = tmp_path / "src"
    src.mkdir()
    subprocess.run(["truncate", "-s", "10G", str(src / "bomb")], check=True)
    tar = subprocess.run(
        ["tar", "--sparse", "--format=gnu", "-C", str(src), "-cf", "-", "bomb"],
        check=True,
        capture_output=True,
    ).stdout
    assert len(tar) < 1 << 20
    layout = write_layout(tmp_path / "layout", [tar], [plain], {})
    done = _run_hostile(convert, tmp_path, layout, writer)
    assert done.returncode == INTEGRITY and "sparse" in done.stderr


def _first_layer(layout: Path) -> tuple[dict[str, object], Path]:
    index = json.loads((layout / "index.json").read_text())
    manifest_path = layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]
    manifest = json.loads(manifest_path.read_text())
    return manifest, layout / "blobs/sha256" / manifest["layers"][0]["digest"][7:]


def _rewrite_manifest(layout: Path, manifest: dict[str, object]) -> None:
    data = json.dumps(manifest).encode()
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs/sha256" / digest).write_bytes(data)
    index = json.loads((layout / "index.json").read_text())
    index["manifests"][0].update(digest="sha256:" + digest, size=len(data))
    (layout / "index.json").write_text(json.dumps(index))


def truncate(layout: Path) -> None:
    _, blob = _first_layer(layout)
    blob.write_bytes(blob.read_bytes()[:-100])


def corrupt(layout: Path) -> None:
    _, blob = _first_layer(layout)
    data = bytearray(blob.read_bytes())
    data[len(data) // 2] ^= 0xFF
    blob.write_bytes(bytes(data))


def lie_smaller(layout: Path) -> None:
    manifest, _ = _first_layer(layout)
    manifest["layers"][0]["size"] -= 10  # type: ignore[index]
    _rewrite_manifest(layout, manifest)


def lie_larger(layout: Path) -> None:
    manifest, _ = _first_layer(layout)
    manifest["layers"][0]["size"] += 10  # type: ignore[index]
    _rewrite_manifest(layout, manifest)


def wrong_diff_id(layout: Path) -> None:
    manifest, _ = _first_layer(layout)
    config_desc = manifest["config"]
    config_path = layout / "blobs/sha256" / config_desc["digest"][7:]  # type: ignore[index]
    config = json.loads(config_path.read_text())
    config["rootfs"]["diff_ids"][0] = "sha256:" + "0" * 64
    data = json.dumps(config).encode()
    digest = hashlib.sha256(data).hexdigest()
    (layout / "blobs/sha256" / digest).write_bytes(data)
    manifest["config"] = {**config_desc, "digest": "sha256:" + digest, "size": len(data)}  # type: ignore[dict-item]
    _rewrite_manifest(layout, manifest)


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        (truncate, "truncated"),
        (corrupt, "does not match its digest"),
        (lie_smaller, "more than the"),
        (lie_larger, "truncated"),
        (wrong_diff_id, "diff_ids say"),
    ],
)
def test_damaged_image_is_refused(
    convert: Convert, tmp_path: Path, damage: Callable[[Path], None], words: str
) -> None:
    layout = _layout(tmp_path / "layout", BASE, [Entry("etc/motd", data=b"hello\n" * 500)])
    damage(layout)
    done = _run_hostile(convert, tmp_path, layout)
    assert done.returncode == INTEGRITY, done.stderr
    assert words in done.stderr
