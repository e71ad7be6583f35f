"""Fixtures: real registries on 127.0.0.1, real test images, and the CLI as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.rootfs_tools import images, registry

Convert = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="session")
def registry_plain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[registry.Registry]:
    reg = registry.start(tmp_path_factory.mktemp("registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def registry_htpasswd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[registry.Registry]:
    reg = registry.start(tmp_path_factory.mktemp("registry-auth"), htpasswd=("tester", "s3cret"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def busybox_oci(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return images.busybox_layout(tmp_path_factory.mktemp("busybox") / "layout")


@pytest.fixture(scope="session")
def busybox_zstd_oci(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return images.busybox_layout(
        tmp_path_factory.mktemp("busybox-zstd") / "layout", zstd_middle=True
    )


@pytest.fixture(scope="session")
def nginx_oci() -> tuple[Path, str]:
    return images.nginx_layout()


@pytest.fixture
def convert(tmp_path: Path) -> Convert:
    """Run img-from-container in a fresh work dir with its own blob cache and HOME."""
    home = tmp_path / "home"
    home.mkdir(exist_ok=True)

    def run(
        *args: str,
        cache: Path | None = None,
        env: dict[str, str] | None = None,
        user: list[str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "rootfs_tools.cli", *args]
        argv += ["--cache-dir", str(cache or tmp_path / "cache"), "--quiet"]
        full_env = {
            **os.environ,
            "HOME": str(home),
            "XDG_CACHE_HOME": str(home / ".cache"),
            **(env or {}),
        }
        return subprocess.run(
            (user or []) + argv,
            capture_output=True,
            text=True,
            env=full_env,
            cwd=tmp_path,
            check=False,
        )

    return run
