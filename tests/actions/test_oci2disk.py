"""oci2disk from Debian's docker-registry on 127.0.0.1: a container image written as ext4
over a loop disk, and a disk image pushed as an artifact the way `oras push` stores it."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from agent.actions import oci2disk
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
from tests.rootfs_tools import images, registry, trees

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="loop devices need root")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
ORAS_CONFIG = "application/vnd.unknown.config.v1+json"  # what oras push gives a plain file


@pytest.fixture(scope="module")
def reg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[registry.Registry]:
    r = registry.start(tmp_path_factory.mktemp("registry"), htpasswd=("tinker", "bell"))
    yield r
    r.stop()


def push_blob(reg: registry.Registry, repo: str, data: bytes) -> dict[str, object]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    auth = ("tinker", "bell")
    start = requests.post(f"http://{reg.host}/v2/{repo}/blobs/uploads/", auth=auth, timeout=10)
    assert start.status_code == 202, start.text
    location = start.headers["Location"]
    location = location if location.startswith("http") else f"http://{reg.host}{location}"
    sep = "&" if "?" in location else "?"
    done = requests.put(f"{location}{sep}digest={digest}", data=data, auth=auth, timeout=30,
                        headers={"Content-Type": "application/octet-stream"})  # fmt: skip
    assert done.status_code == 201, done.text
    return {"digest": digest, "size": len(data)}


def push_artifact(reg: registry.Registry, repo: str, tag: str, file: Path) -> str:
    """A file stored as `oras push REG/REPO:TAG FILE` stores it: an empty 'unknown' config
    and one layer titled with the file's name."""
    config = push_blob(reg, repo, b"{}")
    layer = push_blob(reg, repo, file.read_bytes())
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": ORAS_CONFIG, **config},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", **layer,
                    "annotations": {"org.opencontainers.image.title": file.name}}],
    }  # fmt: skip
    put = requests.put(f"http://{reg.host}/v2/{repo}/manifests/{tag}", data=json.dumps(manifest),
                       headers={"Content-Type": OCI_MANIFEST}, auth=("tinker", "bell"), timeout=10)  # fmt: skip
    assert put.status_code == 201, put.text
    return f"{reg.host}/{repo}:{tag}"


CREDS = {"REGISTRY_USERNAME": "tinker", "REGISTRY_PASSWORD": "bell"}


def test_container_image_becomes_an_ext4_disk(reg: registry.Registry, tmp_path: Path) -> None:
    layout = images.busybox_layout(tmp_path / "layout")
    ref = reg.push(f"oci:{layout}:latest", "test/busybox:latest")
    with loop_disk(tmp_path / "disk", 64 * MIB, "label: gpt\nsize=8M\n") as disk:
        env = {"IMG_URL": ref, "DEST_DISK": disk, **CREDS}
        outcome = run_in_child(oci2disk.run, context(env, tmp_path / "scratch"))
        assert outcome.ok, outcome.error or outcome.crash
        assert any("a container image" in line for line in outcome.lines)
        assert not os.path.exists(f"{disk}p1")  # the old table is gone with its partition
        assert blkid(disk).get("TYPE") == "ext4" and "PTTYPE" not in blkid(disk)
        trees.assert_fsck_clean(Path(disk))
        with trees.umoci_unpacked(layout, "latest") as oracle:
            expected = trees.tree(oracle)
        written = trees.image_only(trees.ext4_tree(Path(disk)), expected)
        assert written == expected
        assert outcome.progress and outcome.progress[-1][0] == outcome.progress[-1][1]


def test_wrong_credentials_are_named(reg: registry.Registry, tmp_path: Path) -> None:
    env = {"IMG_URL": f"{reg.host}/test/busybox:latest", "DEST_DISK": "/dev/null",
           "REGISTRY_USERNAME": "tinker", "REGISTRY_PASSWORD": "wrong"}  # fmt: skip
    outcome = run_in_child(oci2disk.run, context(env, tmp_path))
    assert outcome.error is not None and "authentication failed" in outcome.error


@pytest.mark.parametrize("suffix", ["", ".gz", ".zst", ".xz"])
def test_disk_image_artifact_is_streamed_and_verified(
    reg: registry.Registry, tmp_path: Path, suffix: str
) -> None:
    raw = gpt_image(tmp_path / "debian.raw")
    file = compress(raw, suffix[1:]) if suffix else raw
    ref = push_artifact(reg, "test/debian", f"raw{suffix.replace('.', '-') or '-plain'}", file)
    with loop_disk(tmp_path / "disk", 48 * MIB) as disk:
        env = {
            "IMG_URL": ref,
            "DEST_DISK": disk,
            "COMPRESSED": "true" if suffix else "false",
            **CREDS,
        }
        outcome = run_in_child(oci2disk.run, context(env, tmp_path / "scratch"))
        assert outcome.ok, outcome.error or outcome.crash
        assert read_bytes(disk, raw.stat().st_size) == raw.read_bytes()
        layer_digest = "sha256:" + hashlib.sha256(file.read_bytes()).hexdigest()
        assert f"checksum verified: {layer_digest}" in outcome.lines
        assert appears(f"{disk}p1") and blkid(f"{disk}p1").get("LABEL") == "imgroot"
        assert not (tmp_path / "scratch" / "blobs").exists()  # streamed, not cached


def test_damaged_artifact_blob_fails_and_wipes(reg: registry.Registry, tmp_path: Path) -> None:
    raw = gpt_image(tmp_path / "debian.raw")
    ref = push_artifact(reg, "test/broken", "raw", raw)
    storage = next(
        Path(reg.log.parent, "storage").rglob(
            hashlib.sha256(raw.read_bytes()).hexdigest() + "/data"
        )
    )
    data = bytearray(storage.read_bytes())
    data[3 * MIB] ^= 0xFF  # the registry now serves bytes that do not match the digest
    storage.write_bytes(bytes(data))
    with loop_disk(tmp_path / "disk", 48 * MIB) as disk:
        outcome = run_in_child(
            oci2disk.run, context({"IMG_URL": ref, "DEST_DISK": disk, **CREDS}, tmp_path)
        )
        assert outcome.error is not None and "checksum mismatch" in outcome.error
        assert read_bytes(disk, MIB) == bytes(MIB)


def test_artifact_without_a_titled_layer(reg: registry.Registry, tmp_path: Path) -> None:
    config = push_blob(reg, "test/odd", b"{}")
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": ORAS_CONFIG, **config},
        "layers": [],
    }
    requests.put(f"http://{reg.host}/v2/test/odd/manifests/x", data=json.dumps(manifest),
                 headers={"Content-Type": OCI_MANIFEST}, auth=("tinker", "bell"), timeout=10)  # fmt: skip
    outcome = run_in_child(
        oci2disk.run,
        context({"IMG_URL": f"{reg.host}/test/odd:x", "DEST_DISK": "/dev/null", **CREDS}, tmp_path),
    )
    assert outcome.error is not None and "exactly one layer" in outcome.error


def test_not_a_reference(tmp_path: Path) -> None:
    outcome = run_in_child(
        oci2disk.run,
        context({"IMG_URL": "docker-archive:/x.tar", "DEST_DISK": "/dev/null"}, tmp_path),
    )
    assert outcome.error is not None and "expected a registry reference" in outcome.error
