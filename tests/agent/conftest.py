from __future__ import annotations

from pathlib import Path

import pytest

from kernels.fetch import Kernel, fetch
from kernels.manifest import load


@pytest.fixture(scope="session")
def debian_kernel() -> Kernel:
    """Debian's pinned kernel, fetched (and depmod-ed) once and cached across runs."""
    return fetch(load())


@pytest.fixture(scope="session")
def module_tree(debian_kernel: Kernel) -> Path:
    return debian_kernel.modules
