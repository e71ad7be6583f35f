"""Session fixtures for the builder's tests: the real Debian kernel (fetched once, cached
in ~/.cache/metalinit), the agent frozen once, and one full build."""

from __future__ import annotations

import pytest

from initramfs.build import Options, Result, build
from initramfs.freeze import Frozen, freeze
from kernels.fetch import Kernel, fetch
from kernels.manifest import DEFAULT, load


@pytest.fixture(scope="session")
def kernel() -> Kernel:
    return fetch(load(DEFAULT))


@pytest.fixture(scope="session")
def frozen() -> Frozen:
    return freeze()


@pytest.fixture(scope="session")
def built(tmp_path_factory: pytest.TempPathFactory, kernel: Kernel, frozen: Frozen) -> Result:
    return build(Options(out=tmp_path_factory.mktemp("out"), report=True, frozen=frozen))
