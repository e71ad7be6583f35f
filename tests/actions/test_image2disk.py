"""image2disk against real loop devices, from a real `metalinit serve` on 127.0.0.1 (its
/artifacts/), and from the test file server where a server must misbehave on purpose
(drop the connection mid-body, answer 503, ignore Range)."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from agent.actions import image2disk
from tests.actions.conftest import artifact_url
from tests.actions.harness import (
    MIB,
    appears,
    blkid,
    compress,
    context,
    gpt_image,
    loop_disk,
    read_bytes,
    run_in_child,
)
from tests.actions.http_server import Behaviour, serving, sha256_file
from tests.server.serving import Served

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices need root")

DISK = 64 * MIB


@pytest.fixture(scope="module")
def images(serve: Served) -> Path:
    root = serve.artifacts / "img"
    root.mkdir()
    raw = gpt_image(root / "disk.img")
    for kind in ("gz", "xz", "zst", "bz2"):
        compress(raw, kind)
    (root / "disguised.img").write_bytes((root / "disk.img.zst").read_bytes())
    return root


def at(serve: Served, name: str) -> str:
    return artifact_url(serve, f"img/{name}")


def image_sha(images: Path) -> str:
    return sha256_file(images / "disk.img")


def assert_written(disk: str, images: Path) -> None:
    size = (images / "disk.img").stat().st_size
    assert hashlib.sha256(read_bytes(disk, size)).hexdigest() == image_sha(images)
    assert appears(f"{disk}p1") and appears(f"{disk}p2")
    assert blkid(f"{disk}p1").get("LABEL") == "imgroot"


@pytest.mark.parametrize(
    "name", ["disk.img", "disk.img.gz", "disk.img.xz", "disk.img.zst", "disk.img.bz2"]
)
def test_each_compression_with_its_checksum(
    serve: Served, images: Path, tmp_path: Path, name: str
) -> None:
    with loop_disk(tmp_path / "disk", DISK) as disk:
        compressed = "false" if name == "disk.img" else "true"
        env = {"IMG_URL": at(serve, name), "DEST_DISK": disk, "COMPRESSED": compressed,
               "CHECKSUM": "sha256:" + sha256_file(images / name)}  # fmt: skip
        outcome = run_in_child(image2disk.run, context(env, tmp_path))
        assert outcome.ok, outcome.error or outcome.crash
        assert_written(disk, images)
        assert "checksum verified: sha256:" in outcome.text()
        assert outcome.progress[-1][0] == (images / "disk.img").stat().st_size


def test_magic_bytes_win_over_name_and_compressed_false(
    serve: Served, images: Path, tmp_path: Path
) -> None:
    with loop_disk(tmp_path / "disk", DISK) as disk:
        env = {"IMG_URL": at(serve, "disguised.img"), "DEST_DISK": disk, "COMPRESSED": "false"}
        outcome = run_in_child(image2disk.run, context(env, tmp_path))
        assert outcome.ok, outcome.error
        assert "zstd-compressed (magic bytes)" in outcome.text()
        assert "not verified" in outcome.text()
        assert_written(disk, images)


def test_wrong_checksum_fails_and_wipes_the_partial_image(
    serve: Served, images: Path, tmp_path: Path
) -> None:
    with loop_disk(tmp_path / "disk", DISK) as disk:
        wrong = "sha256:" + "0" * 64
        env = {"IMG_URL": at(serve, "disk.img.gz"), "DEST_DISK": disk, "CHECKSUM": wrong}
        outcome = run_in_child(image2disk.run, context(env, tmp_path))
        assert outcome.then is None
        assert outcome.error is not None and "checksum mismatch" in outcome.error
        assert sha256_file(images / "disk.img.gz") in outcome.error
        assert "first and last MiB were zeroed" in outcome.error
        assert read_bytes(disk, MIB) == bytes(MIB)
        assert read_bytes(disk, MIB, DISK - MIB) == bytes(MIB)
        assert not os.path.exists(f"{disk}p1")


@pytest.mark.parametrize("algorithm", ["sha256", "sha512"])
def test_checksum_file_names_the_image(
    serve: Served, images: Path, tmp_path: Path, algorithm: str
) -> None:
    sums = subprocess.run([f"{algorithm}sum", "disk.img.xz", "disk.img.gz"], cwd=images,
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    (images / f"{algorithm.upper()}SUMS").write_text("# published beside the images\n" + sums)
    with loop_disk(tmp_path / "disk", DISK) as disk:
        env = {"IMG_URL": at(serve, "disk.img.xz"), "DEST_DISK": disk,
               "CHECKSUM": at(serve, f"{algorithm.upper()}SUMS")}  # fmt: skip
        outcome = run_in_child(image2disk.run, context(env, tmp_path))
        assert outcome.ok, outcome.error
        assert f"checksum verified: {algorithm}:" in outcome.text()
        assert_written(disk, images)


def test_checksum_file_without_the_image_fails_before_writing(images: Path, tmp_path: Path) -> None:
    (images / "OTHER.SUMS").write_text(f"{'a' * 64}  some-other.img\n")
    with serving(images) as server, loop_disk(tmp_path / "disk", DISK) as disk:
        env = {
            "IMG_URL": server.url("disk.img"),
            "DEST_DISK": disk,
            "CHECKSUM": server.url("OTHER.SUMS"),
        }
        outcome = run_in_child(image2disk.run, context(env, tmp_path))
        assert outcome.error is not None and "no entry for 'disk.img'" in outcome.error
        assert "some-other.img" in outcome.error
        assert server.requests_for("disk.img") == []


@pytest.mark.parametrize("ranges", [True, False], ids=["range", "no-range-server"])
def test_dropped_connections_resume_and_the_checksum_holds(
    images: Path, tmp_path: Path, ranges: bool
) -> None:
    name = "disk.img.zst" if ranges else "disk.img"
    size = (images / name).stat().st_size
    behaviour = Behaviour(drops={name: [size // 3, size // 3 * 2]},
                          no_ranges=set() if ranges else {name})  # fmt: skip
    with serving(images, behaviour) as server, loop_disk(tmp_path / "disk", DISK) as disk:
        env = {"IMG_URL": server.url(name), "DEST_DISK": disk,
               "CHECKSUM": "sha256:" + sha256_file(images / name)}  # fmt: skip
        outcome = run_in_child(image2disk.run, context(env, tmp_path))
        assert outcome.ok, outcome.error
        assert_written(disk, images)
        gets = server.requests_for(name)
        assert len(gets) == 3
        if ranges:
            assert [g.range for g in gets] == ["", f"bytes={size // 3}-", f"bytes={size // 3 * 2}-"]
            assert [g.status for g in gets] == [200, 206, 206]
        assert outcome.text().count("resuming at byte") == 2


def test_server_errors_are_retried(images: Path, tmp_path: Path) -> None:
    behaviour = Behaviour(statuses={"disk.img.gz": [503, 502]})
    with serving(images, behaviour) as server, loop_disk(tmp_path / "disk", DISK) as disk:
        env = {"IMG_URL": server.url("disk.img.gz"), "DEST_DISK": disk}
        outcome = run_in_child(image2disk.run, context(env, tmp_path))
        assert outcome.ok, outcome.error
        size = (images / "disk.img.gz").stat().st_size
        gets = [(r.status, r.range) for r in server.requests_for("disk.img.gz")]
        # the last one: the gzip trailer's size field, read ahead for the size check
        assert gets == [(503, ""), (502, ""), (200, ""), (206, f"bytes={size - 4}-")]
        assert_written(disk, images)


def test_not_found_fails_at_once(images: Path, tmp_path: Path) -> None:
    with serving(images) as server, loop_disk(tmp_path / "disk", DISK) as disk:
        env = {"IMG_URL": server.url("missing.img"), "DEST_DISK": disk, "RETRY_ENABLED": "true"}
        outcome = run_in_child(image2disk.run, context(env, tmp_path))
        assert outcome.error is not None and "HTTP 404" in outcome.error
        assert len(server.requests_for("missing.img")) == 1


@pytest.mark.parametrize("name", ["big.img", "big.img.zst", "big.img.gz"])
def test_image_larger_than_the_disk_is_refused_before_writing(tmp_path: Path, name: str) -> None:
    root = tmp_path / "srv"
    root.mkdir()
    big = root / "big.img"
    with open(big, "wb") as f:
        f.truncate(80 * MIB)
    if name != "big.img":
        compress(big, name.rpartition(".")[2])
    with serving(root) as server, loop_disk(tmp_path / "disk", 32 * MIB) as disk:
        fd = os.open(disk, os.O_WRONLY)
        os.pwrite(fd, b"previous content", 0)
        os.close(fd)
        env = {"IMG_URL": server.url(name), "DEST_DISK": disk}
        outcome = run_in_child(image2disk.run, context(env, tmp_path))
        assert outcome.error is not None and "nothing was written" in outcome.error
        assert str(80 * MIB) in outcome.error
        assert read_bytes(disk, 16) == b"previous content"


def test_image_larger_than_the_disk_without_a_declared_size_stops_at_the_end(
    tmp_path: Path,
) -> None:
    root = tmp_path / "srv"
    root.mkdir()
    with open(root / "big.img", "wb") as f:
        f.truncate(48 * MIB)
    compress(root / "big.img", "xz")  # xz: no size read ahead, so the write must stop itself
    with serving(root) as server, loop_disk(tmp_path / "disk", 32 * MIB) as disk:
        env = {"IMG_URL": server.url("big.img.xz"), "DEST_DISK": disk}
        outcome = run_in_child(image2disk.run, context(env, tmp_path))
        assert outcome.error is not None and "does not fit" in outcome.error
        assert "first and last MiB were zeroed" in outcome.error


def test_truncated_image_fails(serve: Served, images: Path, tmp_path: Path) -> None:
    data = (images / "disk.img.gz").read_bytes()
    (images / "cut.img.gz").write_bytes(data[: len(data) // 2])
    with loop_disk(tmp_path / "disk", DISK) as disk:
        env = {"IMG_URL": at(serve, "cut.img.gz"), "DEST_DISK": disk}
        outcome = run_in_child(image2disk.run, context(env, tmp_path))
        assert outcome.error is not None and "truncated" in outcome.error
        assert "partial image" in outcome.error


def test_disk_in_use_is_refused(images: Path, tmp_path: Path) -> None:
    from tests.actions.harness import GPT_TWO_PARTS

    with serving(images) as server, loop_disk(tmp_path / "disk", DISK, GPT_TWO_PARTS) as disk:
        subprocess.run(["mkfs.ext4", "-q", f"{disk}p1"], check=True)
        mnt = tmp_path / "mnt"
        mnt.mkdir()
        subprocess.run(["mount", f"{disk}p1", str(mnt)], check=True)
        try:
            env = {"IMG_URL": server.url("disk.img"), "DEST_DISK": disk}
            outcome = run_in_child(image2disk.run, context(env, tmp_path))
        finally:
            subprocess.run(["umount", str(mnt)], check=True)
        assert outcome.error is not None and "is in use" in outcome.error
        assert server.requests_for("disk.img") == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"DEST_DISK": "/dev/null"}, "IMG_URL is not set"),
        ({"IMG_URL": "ftp://x/y", "DEST_DISK": "/dev/null"}, "expected an http"),
        ({"IMG_URL": "http://127.0.0.1:1/x"}, "DEST_DISK is not set"),
        ({"IMG_URL": "http://127.0.0.1:1/x", "DEST_DISK": "/dev/nonexistent"}, "no such device"),
        ({"IMG_URL": "http://127.0.0.1:1/x", "DEST_DISK": "/dev/null"}, "neither a block device"),
        (
            {"IMG_URL": "http://x/y", "DEST_DISK": "/dev/null", "COMPRESSED": "yes"},
            "COMPRESSED='yes'",
        ),
        (
            {"IMG_URL": "http://x/y", "DEST_DISK": "/dev/null", "CHECKSUM": "md5:abc"},
            "CHECKSUM='md5:abc'",
        ),
    ],
)
def test_bad_settings_fail_before_any_write(
    tmp_path: Path, env: dict[str, str], message: str
) -> None:
    outcome = run_in_child(image2disk.run, context(env, tmp_path))
    assert outcome.error is not None and message in outcome.error, outcome.error


@pytest.mark.parametrize("where", ["loop", "file-ext4", "file-tmpfs"])
def test_an_unaligned_size_and_image_files_are_written_whole(tmp_path: Path, where: str) -> None:
    root = tmp_path / "srv"
    root.mkdir()
    data = os.urandom(9 * MIB + 1000)  # more than one direct-write stage, and a ragged tail
    (root / "odd.img").write_bytes(data)
    with serving(root) as server:
        if where == "loop":
            with loop_disk(tmp_path / "disk", 16 * MIB) as disk:
                outcome = run_in_child(
                    image2disk.run,
                    context({"IMG_URL": server.url("odd.img"), "DEST_DISK": disk}, tmp_path),
                )
                assert outcome.ok, outcome.error
                assert read_bytes(disk, len(data) + 10) == data + bytes(10)
            return
        folder = Path("/dev/shm") if where == "file-tmpfs" else tmp_path
        image = folder / f"image2disk-test-{os.getpid()}.img"
        image.write_bytes(b"")
        try:
            outcome = run_in_child(
                image2disk.run,
                context({"IMG_URL": server.url("odd.img"), "DEST_DISK": str(image)}, tmp_path),
            )
            assert outcome.ok, outcome.error
            assert image.read_bytes() == data
        finally:
            image.unlink()
