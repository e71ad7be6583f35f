"""Pure parts, as tables: references, platforms, tar paths, image.json splicing."""

from __future__ import annotations

import json

import pytest

from rootfs_tools import image_config
from rootfs_tools import manifest as mf
from rootfs_tools.build import image_json
from rootfs_tools.errors import IntegrityError, UnsafeLayerError, UsageError
from rootfs_tools.layers import clean
from rootfs_tools.reference import DockerArchive, OciLayout, Reference, parse_source
from rootfs_tools.sources import Resolved

D = "sha256:" + "a" * 64


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("nginx", Reference("docker.io", "library/nginx", "latest")),
        ("nginx:1.25", Reference("docker.io", "library/nginx", "1.25")),
        ("bitnami/nginx", Reference("docker.io", "bitnami/nginx", "latest")),
        ("index.docker.io/nginx", Reference("docker.io", "library/nginx", "latest")),
        ("docker://nginx", Reference("docker.io", "library/nginx", "latest")),
        ("quay.io/a/b/c:v1", Reference("quay.io", "a/b/c", "v1")),
        ("localhost/x", Reference("localhost", "x", "latest")),
        ("localhost:5000/x:t", Reference("localhost:5000", "x", "t")),
        ("127.0.0.1:5000/a/b", Reference("127.0.0.1:5000", "a/b", "latest")),
        (f"nginx@{D}", Reference("docker.io", "library/nginx", "", D)),
        (f"r.io/n:t@{D}", Reference("r.io", "n", "t", D)),
        ("docker-archive:/tmp/x.tar", DockerArchive("/tmp/x.tar")),
        ("oci:./layout", OciLayout("./layout")),
        ("oci:./layout:v2", OciLayout("./layout", "v2")),
        ("oci:/a:b/layout", OciLayout("/a:b/layout")),
    ],
)
def test_sources(text: str, expected: object) -> None:
    assert parse_source(text) == expected


@pytest.mark.parametrize("text", ["Nginx", "nginx:", "a//b", "nginx@sha256:xyz", "-a", "oci:"])
def test_bad_references(text: str) -> None:
    with pytest.raises(UsageError):
        parse_source(text)


def test_reference_str_and_ref() -> None:
    ref = parse_source(f"r.io/n:t@{D}")
    assert isinstance(ref, Reference)
    assert str(ref) == f"r.io/n:t@{D}" and ref.ref == D


def _index(*platforms: dict[str, str]) -> mf.Index:
    entries = [
        {"mediaType": mf.OCI_MANIFEST, "digest": "sha256:" + str(i) * 64, "size": 1, "platform": p}
        for i, p in enumerate(platforms)
    ]
    parsed = mf.parse(json.dumps({"mediaType": mf.OCI_INDEX, "manifests": entries}).encode())
    assert isinstance(parsed, mf.Index)
    return parsed


@pytest.mark.parametrize(
    ("wanted", "index_of"),
    [
        ("linux/amd64", 0),
        ("linux/arm64", 1),
        ("linux/arm64/v8", 1),
        ("linux/arm/v7", 2),
        ("linux/arm/v6", 3),
    ],
)
def test_platform_selection(wanted: str, index_of: int) -> None:
    index = _index(
        {"os": "linux", "architecture": "amd64"},
        {"os": "linux", "architecture": "arm64", "variant": "v8"},
        {"os": "linux", "architecture": "arm"},
        {"os": "linux", "architecture": "arm", "variant": "v6"},
    )
    assert mf.select(index, mf.Platform.parse(wanted)) == index.manifests[index_of]


def test_manifest_without_layers_is_refused() -> None:
    with pytest.raises(IntegrityError):
        mf.parse(json.dumps({"mediaType": mf.OCI_MANIFEST, "config": {}}).encode())
    with pytest.raises(UsageError, match="schema 1"):
        mf.parse(b'{"mediaType": "application/vnd.docker.distribution.manifest.v1+json"}')


@pytest.mark.parametrize(
    ("unsafe_path", "rel"),
    [("./a/b", "a/b"), ("a//b/", "a/b"), ("./", ""), ("a/./b", "a/b"), ("..a/b..", "..a/b..")],
)
def test_clean(unsafe_path: str, rel: str) -> None:
    assert clean(unsafe_path) == rel


@pytest.mark.parametrize("unsafe_path", ["/etc/shadow", "../x", "a/../../x", "a/.."])
def test_clean_refuses(unsafe_path: str) -> None:
    with pytest.raises(UnsafeLayerError):
        clean(unsafe_path)


@pytest.mark.parametrize("config", [b"{}", b'{"config": {"Cmd": ["x"]}}\n\n', b'{"a": 1 }'])
def test_image_json_round_trip(config: bytes) -> None:
    image = Resolved("r.io/n:t", D, "linux/amd64", config, ())
    data = image_json(image)
    assert data.startswith(config.rstrip()[:-1].rstrip())
    parsed = image_config.parse(data)
    assert (parsed.reference, parsed.manifest_digest, parsed.platform) == (
        "r.io/n:t",
        D,
        "linux/amd64",
    )
    assert json.loads(data)["metalinit"]["reference"] == "r.io/n:t"
