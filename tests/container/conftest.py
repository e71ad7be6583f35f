"""A private docker-registry on 127.0.0.1 holding the busybox probe image."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.container.probe_image import push_probe
from tests.rootfs_tools import registry


@pytest.fixture(scope="session")
def probe_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[registry.Registry]:
    reg = registry.start(tmp_path_factory.mktemp("container-registry"))
    yield reg
    reg.stop()


@pytest.fixture(scope="session")
def probe(
    probe_registry: registry.Registry, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """tag → reference of the probe image in the registry."""
    return push_probe(probe_registry.push, tmp_path_factory.mktemp("probe-image"))
