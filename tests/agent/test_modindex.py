"""The module index against Debian's real kernel tree, with modprobe as the oracle."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from agent.modindex import ModuleIndex, module_name


@pytest.fixture(scope="module")
def index(module_tree: Path) -> ModuleIndex:
    return ModuleIndex.load(module_tree)


def modprobe_order(tree: Path, name: str) -> list[str]:
    release = tree.name
    base = tree.parent.parent.parent
    done = subprocess.run(
        ["modprobe", "-d", str(base), "-S", release, "--show-depends", name],
        capture_output=True,
        text=True,
        check=True,
    )
    return [
        module_name(line.split()[1])
        for line in done.stdout.splitlines()
        if line.startswith("insmod")
    ]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("kernel/fs/ext4/ext4.ko", "ext4"),
        ("kernel/arch/x86/crypto/crc32c-intel.ko.xz", "crc32c_intel"),
        ("virtio_blk.ko.zst", "virtio_blk"),
    ],
)
def test_module_name(path: str, name: str) -> None:
    assert module_name(path) == name


@pytest.mark.parametrize(
    "name", ["ext4", "virtio_net", "virtio_blk", "xfs", "vfat", "e1000e", "ahci", "nvme", "sd_mod"]
)
def test_load_order_matches_modprobe(index: ModuleIndex, module_tree: Path, name: str) -> None:
    """The same modules as modprobe (which may print one twice), each after what it needs."""
    order = index.load_order(name)
    assert order == list(dict.fromkeys(order))
    assert set(order) == set(modprobe_order(module_tree, name))
    assert order[-1] == name
    for position, module in enumerate(order):
        assert set(index.deps[module]) <= set(order[:position]), module


def test_ext4_pulls_crc32c_through_its_softdep(index: ModuleIndex) -> None:
    order = index.load_order("ext4")
    assert "crc32c_generic" in order
    assert order.index("crc32c_generic") < order.index("ext4")
    assert order.index("jbd2") < order.index("ext4")


@pytest.mark.parametrize(
    ("modalias", "module"),
    [
        ("virtio:d00000002v00001AF4", "virtio_blk"),
        ("virtio:d00000001v00001AF4", "virtio_net"),
        ("pci:v00001AF4d00001001sv00001AF4sd00000002bc01sc00i00", "virtio_pci"),
        ("pci:v00008086d0000100Esv00001AF4sd00001100bc02sc00i00", "e1000"),
        ("pci:v00008086d00002922sv00001AF4sd00001100bc01sc06i01", "ahci"),
        ("pci:v00008086d00007010sv00000000sd00000000bc01sc01i80", "ata_piix"),
        ("pci:v00001B36d00000010sv00001AF4sd00001100bc01sc08i02", "nvme"),
        ("scsi:t-0x00", "sd_mod"),
        ("fs-ext4", "ext4"),
        ("crypto-crc32c", "crc32c_generic"),
    ],
)
def test_modalias_matches_the_driver(index: ModuleIndex, modalias: str, module: str) -> None:
    assert module in index.match(modalias)


def test_unknown_modalias_matches_nothing(index: ModuleIndex) -> None:
    assert index.match("pci:v0000FFFFd0000FFFFsv00000000sd00000000bcFFscFFiFF") == []
    assert index.load_order("no_such_module") == []


def test_builtin_modules_are_not_loaded() -> None:
    index = ModuleIndex.parse(
        dep="kernel/a.ko: kernel/b.ko\nkernel/b.ko:\n",
        alias="alias pci:v0001* a\n",
        softdep="softdep a pre: c\n",
        builtin="kernel/c.ko\n",
    )
    assert index.resolve("c") == ["c"]
    assert index.load_order("a") == ["b", "a"]
    assert index.match("pci:v0001d02") == ["a"]


def test_every_alias_in_the_tree_resolves_to_a_known_module(index: ModuleIndex) -> None:
    unknown = {
        alias.module
        for aliases in index.aliases.values()
        for alias in aliases
        if alias.module not in index.paths
    }
    assert not unknown


def test_softdep_lines_for_one_module_add_up() -> None:
    index = ModuleIndex.parse(dep="a.ko:\n", softdep="softdep a pre: b post: c\nsoftdep a pre: d\n")
    assert index.softdeps["a"].pre == ("b", "d") and index.softdeps["a"].post == ("c",)
