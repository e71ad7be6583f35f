"""Test images built from Debian packages, cached under ~/.cache/metalinit/test-images.

- `busybox_layout()`: a multi-layer OCI layout made here from busybox-static, layer by layer
  in Python, with every rule the applier must follow (whiteouts, an opaque directory, hard
  links across layers, setuid, a capability xattr, a symlink chain, device nodes, a fifo).
- `nginx_layout()`, `large_layout()`: Debian trees made OCI layouts by
  `rootfs_tools.example` (debootstrap + umoci), the same builder the demo uses.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import struct
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from rootfs_tools import example

BUSYBOX = Path("/bin/busybox")
CACHE = Path(os.environ.get("METALINIT_TEST_IMAGES", Path.home() / ".cache/metalinit/test-images"))
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
# cap_net_raw,cap_setuid=ep as a VFS_CAP_REVISION_2 security.capability value; the
# cap_setuid bit makes a byte 0x80, which is not UTF-8 on its own (PAX headers are text).
CAP_NET_RAW = struct.pack("<IIIII", 0x02000001, (1 << 13) | (1 << 7), 0, 0, 0)
MTIME = 1_700_000_000
LARGE_PACKAGES = "nginx-light,gcc,g++,make,python3,git,perl,libboost-dev"


def _key(*parts: object) -> str:
    return hashlib.sha256(json.dumps([str(p) for p in parts]).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Entry:
    name: str
    kind: bytes = tarfile.REGTYPE
    data: bytes = b""
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    link: str = ""
    dev: tuple[int, int] = (0, 0)
    xattrs: tuple[tuple[str, bytes], ...] = ()


def layer_tar(entries: list[Entry]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for e in entries:
            info = tarfile.TarInfo(e.name)
            info.type, info.mode, info.uid, info.gid = e.kind, e.mode, e.uid, e.gid
            info.mtime, info.linkname = MTIME, e.link
            info.devmajor, info.devminor = e.dev
            info.size = len(e.data) if e.kind == tarfile.REGTYPE else 0
            info.pax_headers = {
                f"SCHILY.xattr.{k}": v.decode("utf-8", "surrogateescape") for k, v in e.xattrs
            }
            tar.addfile(info, io.BytesIO(e.data) if info.size else None)
    return out.getvalue()


def D(name: str, mode: int = 0o755, uid: int = 0, gid: int = 0) -> Entry:
    return Entry(name, tarfile.DIRTYPE, mode=mode, uid=uid, gid=gid)


def busybox_layers() -> list[list[Entry]]:
    box = BUSYBOX.read_bytes()
    lower = [
        D("bin"),
        D("etc"),
        D("dev"),
        D("tmp", 0o1777),
        D("usr"),
        D("usr/bin"),
        D("opt"),
        D("opt/lower"),
        D("data"),
        D("home"),
        D("home/user", 0o750, 1000, 1000),
        Entry("bin/busybox", data=box, mode=0o755),
        Entry("bin/sh", tarfile.SYMTYPE, link="busybox", mode=0o777),
        Entry("etc/passwd", data=b"root:x:0:0:root:/root:/bin/sh\n"),
        Entry("etc/shadow", data=b"root:*:19000:0:99999:7:::\n", mode=0o640, gid=42),
        Entry("etc/old.conf", data=b"going away\n"),
        Entry("opt/lower/a", data=b"a\n"),
        Entry("opt/lower/b", data=b"b\n"),
        D("opt/lower/sub"),
        Entry("opt/lower/sub/deep", data=b"deep\n"),
        Entry("data/linked", data=b"shared inode\n", mode=0o600, uid=7, gid=7),
        Entry(
            "usr/bin/ping",
            data=b"#!/bin/sh\necho ping\n",
            mode=0o755,
            xattrs=(("security.capability", CAP_NET_RAW),),
        ),
        Entry("bin/su", data=b"#!/bin/sh\necho su\n", mode=0o4755),
        Entry("dev/null", tarfile.CHRTYPE, mode=0o666, dev=(1, 3)),
        Entry("tmp/fifo", tarfile.FIFOTYPE, mode=0o600),
        Entry("home/user/notes", data=b"mine\n", uid=1000, gid=1000),
    ]
    middle = [
        Entry("etc/.wh.old.conf"),
        Entry("opt/lower/.wh..wh..opq"),
        Entry("opt/lower/c", data=b"c, above the opaque whiteout\n"),
        Entry("data/link2", tarfile.LNKTYPE, link="data/linked"),
        Entry("bin/l1", tarfile.SYMTYPE, link="l2", mode=0o777),
        Entry("bin/l2", tarfile.SYMTYPE, link="/bin/busybox", mode=0o777),
        Entry("etc/keep", data=b"made and whited out in one layer: stays\n"),
        Entry("etc/.wh.keep"),
        Entry("etc/.wh..wh.aufs-meta"),
        Entry("usr/bin/newgrp", data=b"#!/bin/sh\n", mode=0o2755, gid=5),
    ]
    upper = [
        Entry("dev/loop0", tarfile.BLKTYPE, mode=0o660, gid=6, dev=(7, 0)),
        Entry(
            "home/user/notes",
            data=b"rewritten\n",
            uid=1000,
            gid=1000,
            xattrs=(("user.note", b"kept"),),
        ),
        Entry("data/link3", tarfile.LNKTYPE, link="data/link2"),
        Entry("opt/.wh.lower"),
        D("opt/lower", 0o700),
        Entry("opt/lower/fresh", data=b"same layer as the whiteout, after it\n"),
    ]
    return [lower, middle, upper]


def write_layout(
    dest: Path,
    layers: list[bytes],
    compress: list[Callable[[bytes], tuple[bytes, str]]],
    config_extra: dict[str, object],
    tag: str = "latest",
) -> Path:
    """An OCI image layout from raw layer tars; compress[i] turns tar i into (blob, type)."""
    blobs = dest / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)

    def put(data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return "sha256:" + digest

    descs = []
    for tar, squash in zip(layers, compress, strict=True):
        blob, media = squash(tar)
        descs.append({"mediaType": media, "digest": put(blob), "size": len(blob)})
    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2023-11-14T22:13:20Z",
        "config": config_extra,
        "rootfs": {
            "type": "layers",
            "diff_ids": ["sha256:" + hashlib.sha256(t).hexdigest() for t in layers],
        },
        "history": [{"created_by": f"layer {i}"} for i in range(len(layers))],
    }
    config_blob = json.dumps(config, indent=2).encode()
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": put(config_blob),
                "size": len(config_blob),
            },
            "layers": descs,
        }
    ).encode()
    index = {
        "schemaVersion": 2,
        "manifests": [
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": put(manifest),
                "size": len(manifest),
                "annotations": {"org.opencontainers.image.ref.name": tag},
            }
        ],
    }
    (dest / "index.json").write_text(json.dumps(index))
    (dest / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return dest


def gz(tar: bytes) -> tuple[bytes, str]:
    return gzip.compress(tar, mtime=0), OCI_LAYER + "+gzip"


def plain(tar: bytes) -> tuple[bytes, str]:
    return tar, OCI_LAYER


def zst(tar: bytes) -> tuple[bytes, str]:
    done = subprocess.run(["zstd", "-q", "-c"], input=tar, capture_output=True, check=True)
    return done.stdout, OCI_LAYER + "+zstd"


BUSYBOX_CONFIG: dict[str, object] = {
    "Entrypoint": ["/bin/sh", "-c"],
    "Cmd": ["echo hello from busybox"],
    "Env": ["PATH=/usr/bin:/bin", "GREETING=hi"],
    "WorkingDir": "/home/user",
    "User": "0:0",
    "ExposedPorts": {"8080/tcp": {}},
    "Labels": {"org.example.test": "busybox"},
}


def busybox_layout(dest: Path, *, zstd_middle: bool = False) -> Path:
    """The busybox image; zstd_middle compresses layer 2 with zstd (umoci cannot read it)."""
    tars = [layer_tar(entries) for entries in busybox_layers()]
    return write_layout(dest, tars, [gz, zst if zstd_middle else gz, plain], BUSYBOX_CONFIG)


def nginx_layout(cache: Path = CACHE) -> tuple[Path, str]:
    """The Debian nginx image (about 227 MB unpacked): the one the QEMU demo boots."""
    return example.nginx_layout(cache)


def large_layout(cache: Path = CACHE) -> tuple[Path, str]:
    """A Debian image over 500 MB unpacked, for the benchmark (nginx plus toolchains)."""
    return example.debian_layout(LARGE_PACKAGES, "large", example.NGINX_CONFIG, cache)
