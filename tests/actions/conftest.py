from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.actions.harness import GPT_TWO_PARTS, MIB, loop_disk
from tests.disks import make_tree
from tests.server.serving import Served, serving


@pytest.fixture
def gpt_disk(tmp_path: Path) -> Iterator[str]:
    """A 32 MiB loop disk with a GPT of two partitions; partition 1 is ext4 holding a
    busybox root tree (/bin/sh, /etc/passwd, /dev, /proc, /sys …)."""
    tree = make_tree(tmp_path / "tree")
    with loop_disk(tmp_path / "disk", 32 * MIB, GPT_TWO_PARTS) as disk:
        subprocess.run(["mkfs.ext4", "-q", "-F", "-L", "target", "-d", str(tree), f"{disk}p1"],
                       check=True)  # fmt: skip
        yield disk


def debugfs(partition: str, request: str) -> str:
    """debugfs' answer about a filesystem, read without mounting it."""
    done = subprocess.run(["debugfs", "-R", request, partition], capture_output=True, text=True)
    return done.stdout


@pytest.fixture(scope="module")
def serve(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """A real `metalinit serve` (SQLite) for the module; its --artifacts directory is
    what /artifacts/ serves, with Range and ETag."""
    with serving(tmp_path_factory.mktemp("serve")) as served:
        yield served


def artifact_url(served: Served, name: str) -> str:
    return f"{served.url}/artifacts/{name}"
