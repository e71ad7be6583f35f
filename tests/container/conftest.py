"""The busybox probe image, pushed to the private docker-registry on 127.0.0.1 that the
rootfs_tools tests start (their `registry_plain` fixture, shared)."""

from __future__ import annotations

import pytest

from tests.container.probe_image import push_probe
from tests.rootfs_tools import registry
from tests.rootfs_tools.conftest import registry_plain

__all__ = ["probe", "registry_plain"]


@pytest.fixture(scope="session")
def probe(
    registry_plain: registry.Registry, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, str]:
    """tag → reference of the probe image in the registry."""
    return push_probe(registry_plain.push, tmp_path_factory.mktemp("probe-image"))
