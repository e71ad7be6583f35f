"""slurp round trip: a real disk captured, uploaded to a real `metalinit serve`, and written
back with image2disk; and the hub's multipart POST to another server (the test file server)."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from pathlib import Path

import pytest

from agent.actions import image2disk, slurp
from tests.actions.conftest import artifact_url
from tests.actions.harness import MIB, context, gpt_image, loop_disk, read_bytes, run_in_child
from tests.actions.http_server import serving, sha256_file
from tests.server.fleet import Fleet
from tests.server.serving import Served

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices need root")

DISK = 24 * MIB


@pytest.fixture
def source(tmp_path: Path) -> Path:
    return gpt_image(tmp_path / "source.img", label="captured")


def fill(disk: str, image: Path) -> None:
    fd = os.open(disk, os.O_WRONLY)
    try:
        os.pwrite(fd, image.read_bytes(), 0)
        os.fsync(fd)
    finally:
        os.close(fd)


@pytest.fixture
def machine_token(serve: Served) -> tuple[str, str]:
    """A machine known to the server, looked up: (its hardware name, its boot token)."""
    hardware, mac = Fleet(serve).machine()
    return hardware, serve.machine().lookup([mac]).token


@pytest.mark.parametrize("compressed", [False, True])
def test_round_trip_through_metalinit_serve(
    tmp_path: Path, source: Path, serve: Served, machine_token: tuple[str, str], compressed: bool
) -> None:
    hardware, token = machine_token
    with loop_disk(tmp_path / "a", DISK) as disk_a, loop_disk(tmp_path / "b", DISK) as disk_b:
        fill(disk_a, source)
        env = {"SOURCE_DISK": disk_a, "IMG_NAME": "golden", "COMPRESSED": str(compressed).lower()}
        outcome = run_in_child(
            slurp.run, context(env, tmp_path / "s", server=serve.url, token=token)
        )
        assert outcome.ok, outcome.error or outcome.crash
        name = "golden.img.gz" if compressed else "golden.img"
        stored = serve.artifacts / "uploads" / hardware / name
        raw = gzip.decompress(stored.read_bytes()) if compressed else stored.read_bytes()
        assert hashlib.sha256(raw).hexdigest() == sha256_file(source)
        checksum = re.search(r"CHECKSUM (sha256:[0-9a-f]{64})", outcome.text())
        assert checksum and checksum.group(1) == "sha256:" + sha256_file(stored)
        assert outcome.progress[-1] == (DISK, DISK)
        url = re.search(r"verified by the server: (\S+)", outcome.text())
        assert url and url.group(1) == artifact_url(serve, f"uploads/{hardware}/{name}")
        # and back: the artifact onto another disk, verified with the checksum slurp gave
        env = {"IMG_URL": url.group(1), "DEST_DISK": disk_b, "COMPRESSED": str(compressed).lower(),
               "CHECKSUM": checksum.group(1)}  # fmt: skip
        back = run_in_child(image2disk.run, context(env, tmp_path / "s"))
        assert back.ok, back.error
        assert read_bytes(disk_b, DISK) == source.read_bytes()


def test_a_wrong_token_is_named(tmp_path: Path, serve: Served) -> None:
    with loop_disk(tmp_path / "a", DISK) as disk:
        env = {"SOURCE_DISK": disk, "IMG_NAME": "x"}
        outcome = run_in_child(slurp.run, context(env, tmp_path, server=serve.url, token="wrong"))
        assert (
            outcome.error is not None
            and "HTTP 401 (the server refused this machine's token)" in outcome.error
        )


def test_another_dest_url_gets_the_hubs_multipart_post(tmp_path: Path, source: Path) -> None:
    srv = tmp_path / "srv"
    srv.mkdir()
    with serving(srv) as server, loop_disk(tmp_path / "a", DISK) as disk:
        fill(disk, source)
        env = {"SOURCE_DISK": disk, "IMG_NAME": "ubuntu_wordpress", "COMPRESSED": "false",
               "DEST_URL": server.url("image")}  # fmt: skip
        outcome = run_in_child(slurp.run, context(env, tmp_path, server="http://10.0.0.1:8080"))
        assert outcome.ok, outcome.error
        assert (srv / "uploads/hub-ubuntu_wordpress.img").read_bytes() == source.read_bytes()
        assert f"sha256 {sha256_file(source)}" in outcome.text()


@pytest.mark.parametrize(
    ("env", "message"),
    [({}, "SOURCE_DISK is not set"), ({"SOURCE_DISK": "/dev/nonexistent"}, "SOURCE_DISK=/dev/nonexistent"),
     ({"SOURCE_DISK": "/dev/null", "IMG_NAME": "../x"}, "IMG_NAME='../x'"),
     ({"SOURCE_DISK": "/dev/null"}, "the worker gave no server")],
)  # fmt: skip
def test_bad_settings(tmp_path: Path, env: dict[str, str], message: str) -> None:
    outcome = run_in_child(slurp.run, context(env, tmp_path))
    assert outcome.error is not None and message in outcome.error, outcome.error
