"""Fixtures for the worker's tests: loop devices over sparse files, partitioned with
sfdisk (partx adds the partitions: this host's kernel parses no tables), and a private
/dev directory holding only their nodes."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

needs_root = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("losetup") is None or shutil.which("partx") is None,
    reason="loop devices need root, losetup and partx",
)


def run(*argv: str, stdin: str | None = None) -> str:
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, check=True).stdout


def partitions_of(loop: str) -> list[str]:
    name = Path(loop).name
    return sorted(
        p.name for p in Path("/sys/class/block").iterdir() if p.name.startswith(f"{name}p")
    )


def make_nodes(dev: Path, loop: str) -> None:
    """Device nodes for the loop device and its partitions, as devtmpfs would have them;
    nodes of partitions that are gone are removed."""
    name = Path(loop).name
    wanted = {name, *partitions_of(loop)}
    for node in dev.glob(f"{name}*"):
        if node.name not in wanted:
            node.unlink()
    for entry in wanted:
        major, minor = (Path("/sys/class/block") / entry / "dev").read_text().strip().split(":")
        node = dev / entry
        if not node.exists():
            os.mknod(node, 0o600 | 0o060000, os.makedev(int(major), int(minor)))


LoopMaker = Callable[[str, str], str]


@pytest.fixture
def loops(tmp_path: Path) -> Iterator[LoopMaker]:
    """make(name, sfdisk_script) → a loop device over a 64 MiB sparse file, partitioned."""
    made: list[str] = []

    def make(name: str, table: str) -> str:
        image = tmp_path / f"{name}.img"
        image.touch()
        os.truncate(image, 64 * 1024 * 1024)
        if table:
            run("sfdisk", "-q", str(image), stdin=table)
        loop = run("losetup", "-f", "--show", str(image)).strip()
        made.append(loop)
        if table:
            run(
                "partx", "-u", loop
            )  # -u: adds them, and succeeds if a stale entry is already there
        return loop

    yield make
    for loop in made:
        subprocess.run(["partx", "-d", loop], capture_output=True, check=False)
        subprocess.run(["losetup", "-d", loop], capture_output=True, check=False)


@pytest.fixture
def dev(tmp_path: Path) -> Path:
    path = tmp_path / "dev"
    path.mkdir()
    return path


# The busybox probe image in a private docker-registry on 127.0.0.1, as the container tests
# use it: the worker's tests run container actions through the real runner.
from tests.container.conftest import probe  # noqa: E402
from tests.provision.workers import SERVE_TIMINGS  # noqa: E402
from tests.rootfs_tools.conftest import registry_plain  # noqa: E402
from tests.server.fleet import Fleet  # noqa: E402
from tests.server.serving import Served, serving  # noqa: E402

__all__ = ["probe", "registry_plain"]


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    with serving(tmp_path / "server", extra=SERVE_TIMINGS) as srv:
        yield srv


@pytest.fixture
def fleet(served: Served) -> Fleet:
    return Fleet(served)
