"""The repository's Dockerfile, built for real by buildah (no Docker engine), gives the files
`metalinit build` writes: every file of out/, vmlinuz byte for byte, and each initramfs
archive byte for byte given the same inputs (compare.py says which inputs may differ).
The final stage's files are exported with `-o type=local,dest=DIR`, as `docker build -o
DIR .` exports them; the build stage is also tagged, to read what it was built from.

Heavy: debootstrap (cached), a full build inside buildah with apt and pip from the package
registries, and a host `metalinit build`; about 6 minutes here. Run it alone under
`flock /tmp/metalinit-heavy.lock`; `-m "not buildah"` leaves it out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.dockerfile import buildah, compare

REPO = Path(__file__).resolve().parents[2]
TOOLS = ("buildah", "runc", "debootstrap")
PIP_FREEZE = ("freeze", "--exclude-editable")
BUILD_STAGE = "localhost/metalinit-build-stage"

pytestmark = [
    pytest.mark.root,
    pytest.mark.buildah,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: buildah, debootstrap"),
]


@dataclass(frozen=True)
class Builds:
    image_out: Path  # the final image's files
    host_out: Path  # `metalinit build -o` on the host
    sides: compare.Sides
    image_pip: list[str]
    seconds: dict[str, float]


def _requirements(lines: list[str]) -> list[str]:
    return sorted(line for line in lines if line and not line.startswith("#"))


def _host_pip() -> list[str]:
    done = subprocess.run([sys.executable, "-m", "pip", *PIP_FREEZE],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return _requirements(done.stdout.splitlines())


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Builds]:
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    assert not missing, f"install {' '.join(missing)} (./dev setup does)"
    work = tmp_path_factory.mktemp("dockerfile")
    seconds: dict[str, float] = {}
    started = time.monotonic()
    tree = buildah.debian_tree()
    seconds["debian:bookworm tree (debootstrap, cached)"] = time.monotonic() - started
    mark = time.monotonic()
    store = buildah.store_in(work / "store")
    seconds[f"buildah store ({store.driver})"] = time.monotonic() - mark
    try:
        mark = time.monotonic()
        store.import_base(tree)
        seconds["import as debian:bookworm"] = time.monotonic() - mark
        mark = time.monotonic()
        store.build(REPO, "--target", "build", "-t", BUILD_STAGE)
        image_out = work / "image-out"  # the final stage's files, as `docker build -o` gives
        store.build(REPO, "-o", f"type=local,dest={image_out}")
        seconds["buildah bud (both targets)"] = time.monotonic() - mark
        mark = time.monotonic()
        host_out = work / "host-out"
        metalinit = Path(sys.executable).with_name("metalinit")
        subprocess.run([str(metalinit), "build", "-o", str(host_out)], check=True,
                       capture_output=True)  # fmt: skip
        seconds["host metalinit build"] = time.monotonic() - mark
        with store.container(BUILD_STAGE) as (name, root):
            image_pkgs = compare.versions(store.buildah("run", name, "--", *compare.DPKG_QUERY))
            pip = store.buildah("run", name, "--", "/venv/bin/pip", *PIP_FREEZE).splitlines()
            sides = compare.Sides(root, compare.host_versions(), image_pkgs)
            yield Builds(image_out, host_out, sides, _requirements(pip), seconds)
    finally:
        store.remove_all()
        seconds["total"] = time.monotonic() - started
        print("\n".join(f"{what}: {s:.0f} s" for what, s in seconds.items()))


def test_the_image_holds_every_file_the_build_writes_and_nothing_else(builds: Builds) -> None:
    made = sorted(p.name for p in builds.host_out.iterdir())
    assert "vmlinuz" in made and any(n.startswith("initramfs") for n in made), made
    assert sorted(p.name for p in builds.image_out.iterdir()) == made


def test_the_image_installed_the_host_venv_distributions(builds: Builds) -> None:
    """The frozen agent is made of them: the same versions, or a pip release landed between
    the host's ./dev setup and this build (then run ./dev setup again)."""
    assert builds.image_pip == _host_pip()


def test_vmlinuz_is_byte_identical(builds: Builds) -> None:
    assert (builds.image_out / "vmlinuz").read_bytes() == (builds.host_out / "vmlinuz").read_bytes()


def test_archives_are_byte_identical_but_for_differing_debian_packages(builds: Builds) -> None:
    archives = sorted(p for p in builds.host_out.iterdir() if p.name != "vmlinuz")
    for archive in archives:
        verdict = compare.compare_archive(archive, builds.image_out / archive.name, builds.sides)
        assert not verdict.unexplained, "\n".join(verdict.unexplained)
        if verdict.identical:
            print(f"{archive.name}: byte-identical")
        else:
            print(f"{archive.name}: differs only where the host's Debian packages are older "
                  f"or newer than the image's:\n{compare.table(verdict.excused)}")  # fmt: skip
            assert verdict.excused
