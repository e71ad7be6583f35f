"""Pulls from a real docker-registry on 127.0.0.1: manifests of every kind, auth, mirrors,
the blob cache, and docker-archive input made by skopeo."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rootfs_tools import image_config
from tests.rootfs_tools.conftest import Convert
from tests.rootfs_tools.images import (
    BUSYBOX_CONFIG,
    Entry,
    busybox_layers,
    gz,
    layer_tar,
    plain,
    write_layout,
)
from tests.rootfs_tools.registry import Registry
from tests.rootfs_tools.token_proxy import SERVICE, Proxy
from tests.rootfs_tools.trees import ext4_tree, mounted


def content(image: Path) -> dict[str, tuple[object, ...]]:
    entries = ext4_tree(image)
    entries.pop(".metalinit/image.json")
    return entries


@pytest.fixture(scope="session")
def busybox_pushed(registry_plain: Registry, busybox_oci: Path) -> str:
    return registry_plain.push(f"oci:{busybox_oci}:latest", "test/busybox:oci")


@pytest.fixture(scope="session")
def reference_tree(
    busybox_oci: Path, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[object, ...]]:
    out = tmp_path_factory.mktemp("ref") / "ref.img"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "rootfs_tools.cli",
            f"oci:{busybox_oci}",
            "-o",
            str(out),
            "-q",
            "--cache-dir",
            str(out.parent / "cache"),
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    return content(out)


def test_oci_manifest_pull_then_warm_cache_downloads_nothing(
    convert: Convert,
    registry_plain: Registry,
    busybox_pushed: str,
    tmp_path: Path,
    reference_tree: dict[str, tuple[object, ...]],
) -> None:
    before = registry_plain.blob_gets("test/busybox")
    cold, warm = tmp_path / "cold.img", tmp_path / "warm.img"
    done = convert(busybox_pushed, "-o", str(cold))
    assert done.returncode == 0, done.stderr
    fetched = registry_plain.blob_gets("test/busybox") - before
    assert fetched == 4  # config + 3 layers
    assert convert(busybox_pushed, "-o", str(warm)).returncode == 0
    assert registry_plain.blob_gets("test/busybox") - before == fetched
    assert content(cold) == content(warm) == reference_tree
    with mounted(cold) as root:
        config = image_config.load(root)
    assert config is not None and config.reference == f"{busybox_pushed}"
    assert config.manifest_digest.startswith("sha256:")


def test_docker_v2_schema2_pull(
    convert: Convert,
    registry_plain: Registry,
    busybox_oci: Path,
    tmp_path: Path,
    reference_tree: dict[str, tuple[object, ...]],
) -> None:
    ref = registry_plain.push(f"oci:{busybox_oci}:latest", "test/busybox:v2s2", "--format", "v2s2")
    manifest = subprocess.run(
        ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{ref}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert "vnd.docker.distribution.manifest.v2+json" in manifest
    out = tmp_path / "v2.img"
    done = convert(ref, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert content(out) == reference_tree


def _multi_arch(dest: Path) -> Path:
    """An OCI layout whose tag names an index of an amd64 and an arm64 image."""
    blobs = dest / "blobs/sha256"
    entries = []
    for arch in ("amd64", "arm64"):
        one = write_layout(dest / arch, [layer_tar([Entry("arch", data=arch.encode())])], [gz], {})
        desc = json.loads((one / "index.json").read_text())["manifests"][0]
        config_digest = json.loads((one / "blobs/sha256" / desc["digest"][7:]).read_text())[
            "config"
        ]["digest"]
        config_path = one / "blobs/sha256" / config_digest[7:]
        config = json.loads(config_path.read_text())
        config["architecture"] = arch
        if arch == "arm64":
            config["variant"] = "v8"
        data = json.dumps(config).encode()
        new = hashlib.sha256(data).hexdigest()
        (one / "blobs/sha256" / new).write_bytes(data)
        mpath = one / "blobs/sha256" / desc["digest"][7:]
        manifest = json.loads(mpath.read_text())
        manifest["config"].update(digest="sha256:" + new, size=len(data))
        mdata = json.dumps(manifest).encode()
        mdigest = hashlib.sha256(mdata).hexdigest()
        (one / "blobs/sha256" / mdigest).write_bytes(mdata)
        shutil.copytree(one / "blobs/sha256", blobs, dirs_exist_ok=True)
        platform = {"os": "linux", "architecture": arch} | (
            {"variant": "v8"} if arch == "arm64" else {}
        )
        entries.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "sha256:" + mdigest,
                "size": len(mdata),
                "platform": platform,
            }
        )
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": entries,
        }
    ).encode()
    idigest = hashlib.sha256(index).hexdigest()
    (blobs / idigest).write_bytes(index)
    (dest / "index.json").write_text(
        json.dumps(
            {
                "schemaVersion": 2,
                "manifests": [
                    {
                        "mediaType": "application/vnd.oci.image.index.v1+json",
                        "digest": "sha256:" + idigest,
                        "size": len(index),
                        "annotations": {"org.opencontainers.image.ref.name": "multi"},
                    }
                ],
            }
        )
    )
    (dest / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return dest


@pytest.mark.parametrize(
    ("platform", "code", "arch"),
    [
        ("linux/amd64", 0, "amd64"),
        ("linux/arm64", 0, "arm64"),
        ("linux/arm64/v8", 0, "arm64"),
        ("linux/s390x", 3, ""),
    ],
)
def test_index_platform_selection(
    convert: Convert,
    registry_plain: Registry,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    platform: str,
    code: int,
    arch: str,
) -> None:
    layout = tmp_path_factory.getbasetemp() / "multi"
    if not layout.exists():
        _multi_arch(layout)
        registry_plain.push(f"oci:{layout}:multi", "test/multi:latest", "--all")
    out = tmp_path / "m.img"
    done = convert(f"{registry_plain.host}/test/multi", "-o", str(out), "--platform", platform)
    assert done.returncode == code, done.stderr
    if code:
        assert "linux/amd64" in done.stderr and "linux/arm64/v8" in done.stderr
        return
    with mounted(out) as root:
        assert (root / "arch").read_text() == arch
        config = image_config.load(root)
    assert config is not None and config.platform.startswith(f"linux/{arch}")


def test_missing_tag_names_registry_repository_and_tag(
    convert: Convert, registry_plain: Registry, tmp_path: Path
) -> None:
    out = tmp_path / "x.img"
    done = convert(f"{registry_plain.host}/test/busybox:nope", "-o", str(out))
    assert done.returncode == 3
    assert registry_plain.host in done.stderr and "test/busybox" in done.stderr
    assert "nope" in done.stderr and not out.exists()


def test_mirror_sends_docker_hub_names_to_the_local_registry(
    convert: Convert, registry_plain: Registry, busybox_oci: Path, tmp_path: Path
) -> None:
    registry_plain.push(f"oci:{busybox_oci}:latest", "library/busybox:latest")
    mirror = f"docker.io=http://{registry_plain.host}"
    done = convert("busybox", "-o", str(tmp_path / "a.img"), "--registry-mirror", mirror)
    assert done.returncode == 0, done.stderr
    config_file = tmp_path / "mirrors.toml"
    config_file.write_text(f'[mirrors]\n"docker.io" = "http://{registry_plain.host}"\n')
    done = convert(
        "docker.io/library/busybox:latest",
        "-o",
        str(tmp_path / "b.img"),
        "--config",
        str(config_file),
    )
    assert done.returncode == 0, done.stderr
    with mounted(tmp_path / "b.img") as root:
        config = image_config.load(root)
    assert config is not None and config.reference == "docker.io/library/busybox:latest"


def test_htpasswd_basic_auth(
    convert: Convert, registry_htpasswd: Registry, busybox_oci: Path, tmp_path: Path
) -> None:
    ref = registry_htpasswd.push(f"oci:{busybox_oci}:latest", "private/busybox:latest")
    no_creds = convert(ref, "-o", str(tmp_path / "no.img"))
    assert no_creds.returncode == 4 and "credentials" in no_creds.stderr
    wrong = convert(ref, "-o", str(tmp_path / "wrong.img"), "--user", "tester:nope")
    assert wrong.returncode == 4 and "authentication failed" in wrong.stderr
    ok = convert(ref, "-o", str(tmp_path / "ok.img"), "--user", "tester:s3cret")
    assert ok.returncode == 0, ok.stderr
    docker = tmp_path / "home/.docker"
    docker.mkdir(parents=True)
    auth = base64.b64encode(b"tester:s3cret").decode()
    (docker / "config.json").write_text(
        json.dumps({"auths": {registry_htpasswd.host: {"auth": auth}}})
    )
    from_file = convert(ref, "-o", str(tmp_path / "file.img"), cache=tmp_path / "cache2")
    assert from_file.returncode == 0, from_file.stderr
    assert not (tmp_path / "no.img").exists() and (tmp_path / "file.img").exists()


def test_docker_archive_made_by_skopeo(
    convert: Convert,
    busybox_oci: Path,
    tmp_path: Path,
    reference_tree: dict[str, tuple[object, ...]],
) -> None:
    archive = tmp_path / "busybox.tar"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "-q",
            f"oci:{busybox_oci}:latest",
            f"docker-archive:{archive}:test/busybox:latest",
        ],
        check=True,
    )
    out = tmp_path / "archive.img"
    done = convert(f"docker-archive:{archive}", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert content(out) == reference_tree
    gz_archive = tmp_path / "busybox.tar.gz"
    subprocess.run(f"gzip -c {archive} > {gz_archive}", shell=True, check=True)
    done = convert(f"docker-archive:{gz_archive}", "-o", str(tmp_path / "gz.img"))
    assert done.returncode == 0, done.stderr
    assert content(tmp_path / "gz.img") == reference_tree


def test_token_auth_retries_resume_and_redirects_without_leaking_auth(
    convert: Convert,
    registry_plain: Registry,
    busybox_pushed: str,
    tmp_path: Path,
    reference_tree: dict[str, tuple[object, ...]],
) -> None:
    proxy = Proxy(registry_plain.host)
    try:
        out = tmp_path / "proxied.img"
        done = convert(f"{proxy.host}/test/busybox:oci", "-o", str(out))
        assert done.returncode == 0, done.stderr
        record = proxy.record
    finally:
        proxy.stop()
    assert content(out) == reference_tree
    assert record.unauthorised >= 1 and record.tokens_issued
    assert record.tokens_issued[0] == {
        "service": [SERVICE],
        "scope": ["repository:test/busybox:pull"],
    }
    assert record.manifest_503 == 1
    assert len(record.cut_blobs) == 4  # config and three layers, each cut off once
    assert record.ranges and all(r.startswith("bytes=") and r != "bytes=0-" for r in record.ranges)
    assert record.store_gets >= 4 and record.store_auth_headers == []


def test_docker_archive_docker25_oci_form(
    convert: Convert, tmp_path: Path, reference_tree: dict[str, tuple[object, ...]]
) -> None:
    """Docker 25+ `docker save`: an OCI layout plus a manifest.json pointing into blobs/."""
    tars = [layer_tar(entries) for entries in busybox_layers()]
    layout = write_layout(tmp_path / "layout", tars, [plain] * 3, BUSYBOX_CONFIG)
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(
        (layout / "blobs/sha256" / index["manifests"][0]["digest"][7:]).read_text()
    )
    (layout / "manifest.json").write_text(
        json.dumps(
            [
                {
                    "Config": "blobs/sha256/" + manifest["config"]["digest"][7:],
                    "RepoTags": ["test/busybox:latest"],
                    "Layers": [
                        "blobs/sha256/" + layer["digest"][7:] for layer in manifest["layers"]
                    ],
                }
            ]
        )
    )
    archive = tmp_path / "saved.tar"
    subprocess.run(["tar", "-C", str(layout), "-cf", str(archive), "."], check=True)
    out = tmp_path / "saved.img"
    done = convert(f"docker-archive:{archive}", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert content(out) == reference_tree


def test_corrupt_cached_blob_is_dropped_and_fetched_again(
    convert: Convert, busybox_pushed: str, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    assert convert(busybox_pushed, "-o", str(tmp_path / "a.img"), cache=cache).returncode == 0
    biggest = max((cache / "sha256").iterdir(), key=lambda p: p.stat().st_size)
    data = bytearray(biggest.read_bytes())
    data[-5000] ^= 0x01  # same size, so only reading it can tell
    biggest.write_bytes(bytes(data))
    out = tmp_path / "b.img"
    done = convert(busybox_pushed, "-o", str(out), cache=cache)
    assert done.returncode == 5 and "removed from the blob cache" in done.stderr
    assert "does not match its digest" in done.stderr and "gzip:" not in done.stderr
    assert not biggest.exists() and not out.exists()
    done = convert(busybox_pushed, "-o", str(out), cache=cache)
    assert done.returncode == 0, done.stderr
    assert content(out) == content(tmp_path / "a.img")
