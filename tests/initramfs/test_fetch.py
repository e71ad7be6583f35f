"""The kernel fetcher: the real kernel, and its failure paths leaving the cache clean."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from kernels import cli
from kernels.errors import KernelError
from kernels.fetch import Kernel, fetch
from kernels.manifest import DEFAULT, available, load, parse


def test_fetched_kernel_is_complete(kernel: Kernel) -> None:
    assert kernel.release == "6.1.0-56-amd64"
    assert kernel.vmlinuz.stat().st_size > 5_000_000
    assert (kernel.modules / "modules.dep").stat().st_size > 100_000  # made by depmod
    assert (kernel.modules / "kernel/fs/ext4/ext4.ko").is_file()
    assert kernel.root.name == "debian-12-amd64-6.1.192-2"


def test_second_fetch_is_a_cache_hit(kernel: Kernel) -> None:
    assert fetch(load(DEFAULT)) == kernel


def test_wrong_checksum_caches_nothing(tmp_path: Path) -> None:
    bad = dataclasses.replace(load("debian-12-cloud-amd64"), sha256="0" * 64)
    with pytest.raises(KernelError) as caught:
        fetch(bad, tmp_path)
    message = str(caught.value)
    assert "debian-12-cloud-amd64" in message and "0" * 64 in message
    assert "Nothing was cached" in message and "apt-cache show" in message
    assert list(tmp_path.iterdir()) == []  # no entry, no half-extracted temp dir


def test_unknown_package_is_a_clear_error(tmp_path: Path) -> None:
    bad = dataclasses.replace(load(DEFAULT), name="nope", package="linux-image-0.0.0-nope")
    with pytest.raises(KernelError, match=r"nope: apt-get download linux-image-0\.0\.0-nope="):
        fetch(bad, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_every_shipped_manifest_parses() -> None:
    names = {m.name for m in available()}
    assert {"debian-12-amd64", "debian-12-cloud-amd64"} <= names


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("{", "not valid JSON"),
        ("[]", "expected a JSON object"),
        ('{"name": "x", "package": "p", "version": "1"}', "missing or empty keys: sha256"),
        ('{"name": "x", "package": "p", "version": "1", "sha256": "abc"}', "64 lowercase hex"),
    ],
)
def test_bad_manifests(text: str, error: str) -> None:
    with pytest.raises(KernelError, match=error):
        parse(text)


def test_unknown_manifest_lists_the_known_ones() -> None:
    with pytest.raises(KernelError, match="known: debian-12-amd64, debian-12-cloud-amd64"):
        load("windows-95")


def test_cli_list_and_fetch(kernel: Kernel, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["list"]) == 0
    assert "debian-12-amd64          linux-image-6.1.0-56-amd64=6.1.192-2  cached" in (
        capsys.readouterr().out
    )
    assert cli.main(["fetch"]) == 0
    assert str(kernel.vmlinuz) in capsys.readouterr().out
    assert cli.main(["fetch", "nope"]) == 1
    assert "no kernel manifest named 'nope'" in capsys.readouterr().err
