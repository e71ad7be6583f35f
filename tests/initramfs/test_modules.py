"""Module closure over the real Debian kernel tree (fetched by the fetcher, cached)."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.modindex import ModuleIndex
from initramfs import modules
from initramfs.errors import BuildError
from kernels.fetch import Kernel


@pytest.fixture(scope="module")
def index(kernel: Kernel) -> ModuleIndex:
    return modules.load_index(kernel.modules)


def test_ext4_pulls_its_deps_and_the_crc32c_softdep(index: ModuleIndex) -> None:
    chosen = modules.resolve(index, ["ext4"]).modules
    assert {"ext4", "jbd2", "mbcache", "crc16", "crc32c_generic", "crc32c_intel"} <= set(chosen)


def test_virtio_blk_pulls_virtio_and_ring(index: ModuleIndex) -> None:
    assert {"virtio_blk", "virtio", "virtio_ring"} <= set(
        modules.resolve(index, ["virtio_blk"]).modules
    )


def test_sd_mod_gets_a_crct10dif_implementation(index: ModuleIndex) -> None:
    chosen = set(modules.resolve(index, ["sd_mod"]).modules)
    assert {"scsi_mod", "crc_t10dif"} <= chosen
    assert chosen & {"crct10dif_generic", "crct10dif_pclmul"}


def test_builtin_and_missing(index: ModuleIndex) -> None:
    picked = modules.resolve(index, ["af_packet"], ["no_such_module_here"])
    assert picked.builtin == ["af_packet"] and picked.modules == []
    assert picked.missing == ["no_such_module_here"]
    with pytest.raises(BuildError, match="'no_such_module_here'"):
        modules.resolve(index, ["no_such_module_here"])


@pytest.mark.parametrize("names", [modules.CORE_MODULES, modules.HARDWARE_MODULES])
def test_both_sets_exist_in_the_generic_kernel(index: ModuleIndex, names: tuple[str]) -> None:
    picked = modules.resolve(index, [], names)
    assert picked.missing == []
    assert set(names) <= set(picked.modules)


def test_hardware_choice(tmp_path: Path) -> None:
    assert modules.hardware_choice("none") == ((), True)
    assert modules.hardware_choice("default") == (modules.HARDWARE_MODULES, False)
    listed = tmp_path / "nics"
    listed.write_text("# two NICs\ne1000e\n\nigb  # and its closure\n")
    assert modules.hardware_choice(str(listed)) == (("e1000e", "igb"), True)
    with pytest.raises(BuildError, match="not a readable list"):
        modules.hardware_choice(str(tmp_path / "absent"))
    (tmp_path / "empty").write_text("# nothing\n")
    with pytest.raises(BuildError, match="names no modules"):
        modules.hardware_choice(str(tmp_path / "empty"))


def test_install_indexes_the_subset(kernel: Kernel, index: ModuleIndex, tmp_path: Path) -> None:
    picked = modules.resolve(index, ["ext4", "virtio_blk"])
    tree = modules.install(kernel.modules, kernel.release, picked, tmp_path, index)
    dep = (tree / "modules.dep").read_text()
    assert "kernel/fs/ext4/ext4.ko: " in dep and "kernel/fs/jbd2/jbd2.ko" in dep
    assert len(dep.splitlines()) == len(picked.modules)
    assert "softdep ext4 pre: crypto-crc32c" in (tree / "modules.softdep").read_text()
    assert "alias crypto-crc32c crc32c_generic" in (tree / "modules.alias").read_text()
    assert (tree / "modules.builtin").read_text() == (
        kernel.modules / "modules.builtin"
    ).read_text()
    kos = sorted(tree.rglob("*.ko*"))
    assert len(kos) == len(picked.modules)
    assert all(p.suffix == ".ko" and p.read_bytes()[:4] == b"\x7fELF" for p in kos)
