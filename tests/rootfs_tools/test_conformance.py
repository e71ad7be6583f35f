"""The ext4 tree equals `umoci unpack` of the same image, entry by entry."""

from __future__ import annotations

import gzip
import json
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from rootfs_tools import image_config
from tests.rootfs_tools.conftest import Convert
from tests.rootfs_tools.images import (
    BUSYBOX_CONFIG,
    OCI_LAYER,
    busybox_layers,
    layer_tar,
    plain,
    write_layout,
)
from tests.rootfs_tools.registry import Registry
from tests.rootfs_tools.trees import (
    assert_fsck_clean,
    ext4_tree,
    image_only,
    mounted,
    tree,
    umoci_unpacked,
)


def assert_same(
    ours: dict[str, tuple[object, ...]], reference: dict[str, tuple[object, ...]]
) -> None:
    ours = image_only(ours, reference)
    missing = sorted(set(reference) - set(ours))
    extra = sorted(set(ours) - set(reference))
    differ = sorted(k for k in set(ours) & set(reference) if ours[k] != reference[k])
    assert not missing and not extra and not differ, (
        missing[:10],
        extra[:10],
        [(k, ours[k], reference[k]) for k in differ[:5]],
    )


@pytest.mark.parametrize("writer", ["direct", "mkfs"])
def test_busybox_layout_matches_umoci(
    convert: Convert, busybox_oci: Path, tmp_path: Path, writer: str
) -> None:
    out = tmp_path / "busybox.img"
    done = convert(f"oci:{busybox_oci}:latest", "-o", str(out), "--writer", writer)
    assert done.returncode == 0, done.stderr
    assert_fsck_clean(out)
    with umoci_unpacked(busybox_oci, "latest") as rootfs:
        reference = tree(rootfs)
    ours = ext4_tree(out)
    assert_same(ours, reference)
    # The rules the image exercises, spelled out (umoci agreeing is not enough on its own).
    assert "etc/old.conf" not in ours and "etc/keep" in ours
    assert sorted(k for k in ours if k.startswith("opt/")) == ["opt/lower", "opt/lower/fresh"]
    assert ours["data/link3"][4][2] == 3  # type: ignore[index]
    assert ours["bin/su"][1] == 0o4755 and ours["usr/bin/newgrp"][1:4] == (0o2755, 0, 5)
    assert dict(ours["usr/bin/ping"][5])["security.capability"][:4] == b"\x01\x00\x00\x02"  # type: ignore[index]
    assert ours["dev/loop0"][4] == (7, 0) and ours["dev/null"][4] == (1, 3)
    assert ours["bin/l1"][4] == "l2" and ours["bin/l2"][4] == "/bin/busybox"
    assert ours["home/user/notes"][2:4] == (1000, 1000)


def test_image_json_is_config_plus_metalinit(
    convert: Convert, busybox_oci: Path, tmp_path: Path
) -> None:
    out = tmp_path / "busybox.img"
    assert convert(f"oci:{busybox_oci}", "-o", str(out)).returncode == 0
    index = json.loads((busybox_oci / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = json.loads((busybox_oci / "blobs/sha256" / manifest_digest[7:]).read_bytes())
    served = (busybox_oci / "blobs/sha256" / manifest["config"]["digest"][7:]).read_bytes()
    with mounted(out) as root:
        raw = (root / ".metalinit/image.json").read_bytes()
        config = image_config.load(root)
        for name in ("etc/resolv.conf", "etc/hosts", "etc/hostname"):
            assert (root / name).read_bytes() == b""
    assert raw.startswith(served.rstrip()[:-1].rstrip())  # the served blob, byte for byte
    assert config is not None
    assert config.entrypoint == ("/bin/sh", "-c") and config.cmd == ("echo hello from busybox",)
    assert config.env == ("PATH=/usr/bin:/bin", "GREETING=hi")
    assert config.working_dir == "/home/user" and config.user == "0:0"
    assert config.exposed_ports == ("8080/tcp",)
    assert config.labels == {"org.example.test": "busybox"}
    assert config.manifest_digest == manifest_digest and config.platform == "linux/amd64"
    assert json.loads(raw)["rootfs"] == json.loads(served)["rootfs"]


def test_zstd_layer_gives_the_same_tree(
    convert: Convert, busybox_oci: Path, busybox_zstd_oci: Path, tmp_path: Path
) -> None:
    gz_img, zst_img = tmp_path / "gz.img", tmp_path / "zst.img"
    assert convert(f"oci:{busybox_oci}", "-o", str(gz_img)).returncode == 0
    done = convert(f"oci:{busybox_zstd_oci}", "-o", str(zst_img))
    assert done.returncode == 0, done.stderr
    gz_tree, zst_tree = ext4_tree(gz_img), ext4_tree(zst_img)
    gz_tree.pop(".metalinit/image.json")
    zst_tree.pop(".metalinit/image.json")
    assert gz_tree == zst_tree


def test_nginx_pulled_from_the_registry_matches_umoci(
    convert: Convert, nginx_oci: tuple[Path, str], registry_plain: Registry, tmp_path: Path
) -> None:
    """The Debian nginx image, pushed with skopeo as Docker v2 schema 2 and pulled back."""
    layout, tag = nginx_oci
    ref = registry_plain.push(f"oci:{layout}:{tag}", "debian/nginx:latest", "--format", "v2s2")
    out = tmp_path / "nginx.img"
    done = convert(ref, "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert_fsck_clean(out)
    with umoci_unpacked(layout, tag) as rootfs:
        reference = tree(rootfs)
    ours = ext4_tree(out)
    assert_same(ours, reference)
    assert "usr/sbin/nginx" in ours and len(ours) > 5000
    with mounted(out) as root:
        config = image_config.load(root)
    assert config is not None and config.entrypoint == ("/usr/sbin/nginx",)
    assert config.cmd == ("-g", "daemon off;") and config.exposed_ports == ("80/tcp",)


def _split(tar: bytes, pack: Callable[[bytes], bytes]) -> bytes:
    """The tar cut in three, each part packed on its own and concatenated."""
    third = len(tar) // 3
    return b"".join(pack(part) for part in (tar[:third], tar[third : 2 * third], tar[2 * third :]))


def _zstd(data: bytes) -> bytes:
    return subprocess.run(["zstd", "-q", "-c"], input=data, capture_output=True, check=True).stdout


def test_several_gzip_members_and_zstd_frames(
    convert: Convert, busybox_oci: Path, tmp_path: Path
) -> None:
    tars = [layer_tar(entries) for entries in busybox_layers()]
    layout = write_layout(
        tmp_path / "layout",
        tars,
        [
            lambda t: (_split(t, gzip.compress), OCI_LAYER + "+gzip"),
            lambda t: (_split(t, _zstd), OCI_LAYER + "+zstd"),
            plain,
        ],
        BUSYBOX_CONFIG,
    )
    split_img, plain_img = tmp_path / "split.img", tmp_path / "plain.img"
    done = convert(f"oci:{layout}", "-o", str(split_img))
    assert done.returncode == 0, done.stderr
    assert convert(f"oci:{busybox_oci}", "-o", str(plain_img)).returncode == 0
    split_tree, plain_tree = ext4_tree(split_img), ext4_tree(plain_img)
    assert split_tree.pop(".metalinit/image.json") != plain_tree.pop(".metalinit/image.json")
    assert split_tree == plain_tree
