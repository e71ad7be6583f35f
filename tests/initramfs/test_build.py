"""One full `metalinit build`, read back; a second build compared byte for byte."""

from __future__ import annotations

import stat
import subprocess
from pathlib import Path

import pytest

from initramfs import cli, compress, cpio, elf, layout
from initramfs.build import Options, Result, add_ctypes_libraries, build
from initramfs.errors import BuildError
from initramfs.freeze import ENTRY, Frozen, cache_key, freeze
from kernels.fetch import Kernel


@pytest.fixture(scope="module")
def members(built: Result) -> dict[str, cpio.Member]:
    blob = compress.decompress("zst", built.initramfs)
    return {m.name: m for m in cpio.read(blob)}


def test_outputs_and_sizes(built: Result, kernel: Kernel) -> None:
    assert built.vmlinuz.read_bytes() == kernel.vmlinuz.read_bytes()
    assert built.initramfs.name == "initramfs.cpio.zst"
    assert built.initramfs.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"  # zstd frame
    assert built.compressed == built.initramfs.stat().st_size
    assert 5_000_000 < built.compressed < 25_000_000
    assert built.compressed < built.uncompressed / 2
    assert built.hardware is not None
    assert built.hardware.path.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"
    assert [p.name for p in sorted(built.vmlinuz.parent.iterdir())] == [
        "initramfs-hardware.cpio.zst",
        "initramfs.cpio.zst",
        "vmlinuz",
    ]  # fmt: skip  (no temporary files left behind)


def test_gnu_cpio_agrees(built: Result, members: dict[str, cpio.Member]) -> None:
    unpacked = subprocess.run(
        ["zstd", "-dc", str(built.initramfs)], capture_output=True, check=True
    )
    listing = subprocess.run(
        ["cpio", "-t", "--quiet"], input=unpacked.stdout, capture_output=True, check=True
    )
    assert listing.stdout.decode().split() == sorted(members)


def test_init_busybox_and_agent(members: dict[str, cpio.Member]) -> None:
    init = members["init"]
    assert stat.S_ISLNK(init.mode) and init.data == b"opt/metalinit/metalinit"
    assert members["opt/metalinit/metalinit"].data[:4] == b"\x7fELF"
    assert "opt/metalinit/_internal/libpython3.11.so.1.0" in members
    assert members["bin/busybox"].data == Path("/bin/busybox").read_bytes()
    assert members["bin/sh"].data == b"/bin/busybox"
    assert members["sbin/modprobe"].data == b"/bin/busybox"
    assert stat.S_ISREG(members["lib64/ld-linux-x86-64.so.2"].mode)


def test_fixed_entries(members: dict[str, cpio.Member]) -> None:
    for name, major, minor in [("dev/console", 5, 1), ("dev/null", 1, 3), ("dev/urandom", 1, 9)]:
        assert stat.S_ISCHR(members[name].mode) and members[name].rdev == (major, minor)
    for name in ["mnt", "root", "tmp", "run", "proc", "sys", "dev"]:
        assert stat.S_ISDIR(members[name].mode)
    assert stat.S_IMODE(members["tmp"].mode) == 0o1777
    assert members["etc/passwd"].data.startswith(b"root:x:0:0:")
    assert members["etc/resolv.conf"].data == b""
    assert {m.mtime for m in members.values()} == {cpio.source_date_epoch()}


def test_modules_are_plain_and_indexed(built: Result, members: dict[str, cpio.Member]) -> None:
    base = f"lib/modules/{built.release}/"
    for ko in ["kernel/fs/ext4/ext4.ko", "kernel/crypto/crc32c_generic.ko",
               "kernel/drivers/block/virtio_blk.ko", "kernel/drivers/virtio/virtio_pci.ko"]:  # fmt: skip
        assert members[base + ko].data[:4] == b"\x7fELF"
    for index in ["modules.dep", "modules.alias", "modules.softdep", "modules.builtin"]:
        assert members[base + index].data
    dep = members[base + "modules.dep"].data.decode()
    assert len(dep.splitlines()) == len(built.selection.modules)
    assert not [n for n in members if n.endswith((".ko.xz", ".ko.zst", ".ko.gz"))]


def test_every_elf_finds_its_libraries_inside(
    tmp_path: Path, members: dict[str, cpio.Member]
) -> None:
    """Unpack the archive and walk it with the host hidden: nothing may be missing."""
    for name, member in members.items():
        path = tmp_path / name
        if stat.S_ISDIR(member.mode):
            path.mkdir(parents=True, exist_ok=True)
        elif stat.S_ISREG(member.mode):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(member.data)
    elfs = ["/" + n for n, m in members.items() if stat.S_ISREG(m.mode) and m.data[:4] == b"\x7fELF"
            and not n.startswith("lib/modules/")]  # fmt: skip
    agent = ["/opt/metalinit/metalinit"]
    nowhere = tmp_path / "no-host"
    assert not elf.closure(tmp_path, agent, host=nowhere).copies
    inside = elf.closure(tmp_path, elfs, ["/opt/metalinit/_internal"], host=nowhere)
    assert not inside.copies
    assert inside.found["libc.so.6"] == "/lib/x86_64-linux-gnu/libc.so.6"


def test_ctypes_libraries_are_inside(tmp_path: Path, members: dict[str, cpio.Member]) -> None:
    """libzstd is opened by ctypes (agent/actions/zstd.py), so no DT_NEEDED brings it."""
    assert [soname for soname, _ in layout.CTYPES_LIBRARIES] == ["libzstd.so.1"]
    member = members["lib/x86_64-linux-gnu/libzstd.so.1"]
    assert stat.S_ISREG(member.mode)
    (tmp_path / "libzstd.so.1").write_bytes(member.data)
    assert elf.read(tmp_path / "libzstd.so.1").soname == "libzstd.so.1"


def test_a_missing_ctypes_library_names_its_package(tmp_path: Path) -> None:
    with pytest.raises(BuildError, match="install Debian's libzstd1"):
        add_ctypes_libraries(tmp_path / "stage", host=tmp_path / "empty-host")
    assert not (tmp_path / "stage").exists()


def test_report_names_the_parts(built: Result) -> None:
    for part in ["agent: Python bytecode", "kernel modules (.ko)", "busybox", "total:"]:
        assert part in built.report
    assert "scapy" in built.report


def test_second_build_is_byte_identical(built: Result, frozen: Frozen, tmp_path: Path) -> None:
    """Same kernel, same frozen agent, same busybox, same firmware: the same bytes."""
    again = build(Options(out=tmp_path, frozen=frozen))
    assert again.initramfs.read_bytes() == built.initramfs.read_bytes()
    assert again.hardware is not None and built.hardware is not None
    assert again.hardware.path.read_bytes() == built.hardware.path.read_bytes()
    assert again.vmlinuz.read_bytes() == built.vmlinuz.read_bytes()


def test_pyinstaller_output_is_reproducible(tmp_path: Path) -> None:
    """Freezing twice gives identical trees (PyInstaller itself runs with a fixed hash
    seed; without it base_library.zip's member order changed from run to run)."""
    key = cache_key(ENTRY)
    first, second = freeze(cache=tmp_path / "a"), freeze(cache=tmp_path / "b")
    if cache_key(ENTRY) != key:
        pytest.skip("the agent's sources changed while freezing")
    assert tree(first.root) == tree(second.root)


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_cli_gzip_with_an_extra_module_and_a_hardware_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    listed = tmp_path / "nics"
    listed.write_text("# the only NIC\ne1000\n")
    out = tmp_path / "out"
    argv = ["--compress", "gz", "--modules", "loop,isofs", "--hardware", str(listed)]
    assert cli.main([*argv, "-o", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "initramfs.cpio.gz" in printed and "initramfs-hardware.cpio.gz" in printed
    names = set(gz_members(out / "initramfs.cpio.gz"))
    assert any(n.endswith("/loop.ko") for n in names)
    hardware = gz_members(out / "initramfs-hardware.cpio.gz")
    kos = sorted(n.rsplit("/", 1)[-1] for n in hardware if n.endswith(".ko"))
    assert kos == ["e1000.ko"]  # its closure is in the core already
    assert not [n for n in hardware if n.startswith("lib/firmware/")]  # e1000 names none


def test_cli_bad_hardware_name_and_none(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    listed = tmp_path / "typo"
    listed.write_text("e1000e\nigbx\n")
    out = tmp_path / "out"
    assert cli.main(["--hardware", str(listed), "-o", str(out)]) == 1
    err = capsys.readouterr().err
    assert "'igbx'" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    assert not out.exists()  # nothing staged or written
    assert cli.main(["--modules", "no_such_mod", "-o", str(tmp_path / "x")]) == 1
    assert "'no_such_mod'" in capsys.readouterr().err
    out.mkdir()
    for stale in ("initramfs-hardware.cpio.gz", "initramfs.cpio.zst", "initramfs-x.cpio.xz"):
        (out / stale).write_bytes(b"from an earlier build")
    assert cli.main(["--compress", "gz", "--hardware", "none", "-o", str(out)]) == 0
    assert not [n for n in capsys.readouterr().out.splitlines() if n.startswith("hardware")]
    assert sorted(p.name for p in out.iterdir()) == ["initramfs.cpio.gz", "vmlinuz"]
    core = gz_members(out / "initramfs.cpio.gz")
    assert_index_matches(core, "6.1.0-56-amd64")


def gz_members(path: Path) -> dict[str, cpio.Member]:
    return {m.name: m for m in cpio.read(compress.decompress("gz", path))}


def assert_index_matches(members: dict[str, cpio.Member], release: str) -> list[str]:
    """modules.dep lists exactly the .ko files present, with every dependency present."""
    base = f"lib/modules/{release}/"
    dep = members[base + "modules.dep"].data.decode()
    listed = {line.split(":")[0] for line in dep.splitlines()}
    needed = {d for line in dep.splitlines() for d in line.split(":")[1].split()}
    present = {n[len(base) :] for n in members if n.startswith(base) and n.endswith(".ko")}
    assert listed == present and needed <= present
    return sorted(listed)


@pytest.fixture(scope="module")
def hardware(built: Result) -> dict[str, cpio.Member]:
    assert built.hardware is not None
    return {m.name: m for m in cpio.read(compress.decompress("zst", built.hardware.path))}


def test_core_alone_has_a_consistent_index(built: Result, members: dict[str, cpio.Member]) -> None:
    listed = assert_index_matches(members, built.release)
    names = {p.rsplit("/", 1)[-1].removesuffix(".ko").replace("-", "_") for p in listed}
    assert {"virtio_net", "nvme", "ahci", "ata_piix", "ext4", "vfat"} <= names
    assert not {"e1000", "e1000e", "xfs", "mlx5_core"} & names  # those are hardware


def test_hardware_archive_modules_firmware_and_union_index(
    built: Result, members: dict[str, cpio.Member], hardware: dict[str, cpio.Member]
) -> None:
    base = f"lib/modules/{built.release}/"
    kos = {n.rsplit("/", 1)[-1] for n in hardware if n.endswith(".ko")}
    assert {"e1000e.ko", "igb.ko", "ice.ko", "bnx2x.ko", "tg3.ko", "r8169.ko", "mlx5_core.ko",
            "megaraid_sas.ko", "mpt3sas.ko", "smartpqi.ko", "hpsa.ko", "usb-storage.ko",
            "xfs.ko"} <= kos  # fmt: skip
    assert not [n for n in hardware if n.endswith(".ko") and n in members]  # no core copies
    for fw in ["tigon/tg3.bin", "bnx2x/bnx2x-e2-7.13.21.0.fw", "rtl_nic/rtl8168h-2.fw",
               "intel/ice/ddp/ice.pkg"]:  # fmt: skip
        assert hardware[f"lib/firmware/{fw}"].data, fw
    assert built.firmware.files and not [f for f in built.firmware.files if f not in hardware]
    # Unpacked over the core, the machine sees one tree whose index covers both sets.
    union = members | hardware
    listed = assert_index_matches(union, built.release)
    assert len(listed) == len(built.selection.modules) + len(built.hardware_selection.modules)
    alias = union[base + "modules.alias"].data.decode()
    assert " e1000e" in alias and " virtio_net" in alias
