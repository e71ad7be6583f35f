"""The staging tree becomes an ext4 image with `mkfs.ext4 -d`: sized from the content.

Size = data blocks + inode tables + journal (1/64, 4-64 MiB) + metadata slack, plus `--free`
of the content; the inode count is set from the entry count (`-N`), so tightly sized images
do not run out.
If mkfs still finds the image too small, it is retried 25 % larger. Optional GPT (one Linux
partition at 1 MiB, written with `-E offset=`), optional qcow2 and compression. Everything is
written under a temporary name and renamed into place when complete.
"""

from __future__ import annotations

import os
import stat
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from rootfs_tools.errors import RootfsToolsError, UsageError

BLOCK = 4096
INODE_SIZE = 256
MIB = 1 << 20
GPT_START = MIB  # the partition starts at 1 MiB; the backup GPT needs the last 33 sectors
GPT_TAIL = MIB
LINUX_FS_GUID = "0FC63DAF-8483-4772-8E79-3D69D8477DE4"
COMPRESSORS = {"zst": ["zstd", "-q", "-T0", "-c"], "gz": ["gzip", "-c"], "xz": ["xz", "-T0", "-c"]}
QCOW2_COMPRESSION = {"zst": "zstd", "gz": "zlib"}


@dataclass(frozen=True)
class Ext4Options:
    size: int | None = None  # bytes; None = from the content
    free_percent: float = 20.0
    label: str = ""
    uuid: str = ""
    partition: str = "none"  # none | gpt
    fmt: str = "raw"  # raw | qcow2
    compress: str = ""  # "" | zst | gz | xz
    writer: str = "direct"  # direct | mkfs


@dataclass(frozen=True)
class Usage:
    data_bytes: int  # whole blocks
    apparent_bytes: int  # the content as `du -sb` counts it
    entries: int


def _walk(root: Path) -> Iterator[tuple[str, list[str], list[str]]]:
    """os.walk without following symlinks and without recursion (3.11's recurses)."""
    stack = [str(root)]
    while stack:
        top = stack.pop()
        dirs: list[str] = []
        files: list[str] = []
        with os.scandir(top) as entries:
            for entry in entries:
                (dirs if entry.is_dir(follow_symlinks=False) else files).append(entry.name)
        yield top, dirs, files
        stack.extend(os.path.join(top, d) for d in dirs)


def measure(root: Path) -> Usage:
    blocks, apparent, entries = 0, 0, 1
    seen: set[int] = set()
    for top, dirs, files in _walk(root):
        blocks += max(1, -(-os.lstat(top).st_size // BLOCK))
        for name in files:
            st = os.lstat(os.path.join(top, name))
            entries += 1
            if st.st_ino in seen:
                continue
            seen.add(st.st_ino)
            apparent += st.st_size
            if stat.S_ISREG(st.st_mode) or (stat.S_ISLNK(st.st_mode) and st.st_size >= 60):
                blocks += -(-st.st_size // BLOCK)
        entries += len(dirs)
    return Usage(blocks * BLOCK, apparent, entries)


def journal_mib(fs_bytes: int) -> int:
    """A journal of about 1/64 of the filesystem, 4 to 64 MiB: the image is mostly read."""
    return max(4, min(64, fs_bytes // 64 // MIB))


def plan(usage: Usage, free_percent: float) -> tuple[int, int]:
    """(image bytes, inode count): content in blocks, inode tables, metadata slack of 1 %
    + 1 MiB, reserved GDT blocks (1/256), the journal, and free space as a share of the
    content's apparent size."""
    inodes = usage.entries + usage.entries // 20 + 64
    content = usage.data_bytes
    base = content + inodes * INODE_SIZE + content // 100 + MIB
    base += int(usage.apparent_bytes * free_percent / 100)
    base += base // 256
    base += journal_mib(base) * MIB
    return -(-base // BLOCK) * BLOCK, inodes


def _run(argv: list[str], what: str) -> subprocess.CompletedProcess[str]:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
    except FileNotFoundError:
        raise RootfsToolsError(f"{argv[0]} not found: install it ({what})") from None
    return done


def _mkfs(root: Path, target: Path, size: int, inodes: int, opts: Ext4Options, offset: int) -> str:
    extended = ["nodiscard", "root_owner=0:0"] + ([f"offset={offset}"] if offset else [])
    argv = ["mkfs.ext4", "-q", "-F", "-b", str(BLOCK), "-I", str(INODE_SIZE), "-m", "0"]
    argv += ["-J", f"size={journal_mib(size)}"]
    argv += ["-N", str(inodes), "-E", ",".join(extended), "-d", str(root)]
    argv += ["-L", opts.label] if opts.label else []
    argv += ["-U", opts.uuid] if opts.uuid else []
    argv += [str(target), f"{size // 1024}k"]
    done = _run(argv, "e2fsprogs")
    return "" if done.returncode == 0 else (done.stderr or done.stdout).strip()


def partition_gpt(target: Path, fs_size: int) -> None:
    script = f"label: gpt\nstart={GPT_START // 512}, size={fs_size // 512}, type={LINUX_FS_GUID}\n"
    done = subprocess.run(
        ["sfdisk", "-q", "--no-reread", "--no-tell-kernel", str(target)],
        input=script,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise RootfsToolsError(f"sfdisk failed: {done.stderr.strip()}")


def _raw(root: Path, target: Path, usage: Usage, opts: Ext4Options) -> None:
    size, inodes = plan(usage, opts.free_percent)
    if opts.size is not None:
        size = opts.size - (GPT_START + GPT_TAIL if opts.partition == "gpt" else 0)
        size -= size % BLOCK
    for _ in range(6):
        offset = GPT_START if opts.partition == "gpt" else 0
        target.unlink(missing_ok=True)
        with open(target, "wb") as out:
            out.truncate(size + (GPT_START + GPT_TAIL if offset else 0))
        if offset:
            partition_gpt(target, size)
        error = _mkfs(root, target, size, inodes, opts, offset)
        if not error:
            return
        if opts.size is not None or ("Could not allocate" not in error and "No space" not in error):
            hint = " (--size too small?)" if opts.size is not None else ""
            raise RootfsToolsError(f"mkfs.ext4 failed{hint}: {error}")
        size = (size * 5 // 4) // BLOCK * BLOCK
    raise RootfsToolsError("mkfs.ext4 kept running out of space; give --size")


def finish_output(raw: Path, output: Path, opts: Ext4Options) -> None:
    """Turn the raw image into the requested format at a temporary name, then rename."""
    tmp = output.with_name(f".{output.name}.tmp{os.getpid()}")
    try:
        if opts.fmt == "qcow2":
            argv = ["qemu-img", "convert", "-q", "-O", "qcow2"]
            if opts.compress:
                argv += ["-c", "-o", f"compression_type={QCOW2_COMPRESSION[opts.compress]}"]
            done = _run([*argv, str(raw), str(tmp)], "qemu-utils")
            if done.returncode:
                raise RootfsToolsError(f"qemu-img failed: {done.stderr.strip()}")
        elif opts.compress:
            with open(raw, "rb") as src, open(tmp, "wb") as dst:
                done_p = subprocess.run(COMPRESSORS[opts.compress], stdin=src, stdout=dst)
            if done_p.returncode:
                raise RootfsToolsError(f"{COMPRESSORS[opts.compress][0]} failed")
        else:
            os.replace(raw, tmp)
        os.replace(tmp, output)
    finally:
        tmp.unlink(missing_ok=True)


def check(opts: Ext4Options) -> None:
    if opts.fmt not in ("raw", "qcow2") or opts.partition not in ("none", "gpt"):
        raise UsageError("--format is raw or qcow2; --partition is none or gpt")
    if opts.compress and opts.compress not in COMPRESSORS:
        raise UsageError("--compress is zst, gz or xz")
    if opts.fmt == "qcow2" and opts.compress not in ("", *QCOW2_COMPRESSION):
        raise UsageError("qcow2 compresses with zst or gz only")
    if opts.writer not in ("direct", "mkfs"):
        raise UsageError("--writer is direct or mkfs")
    if len(opts.label.encode()) > 16:
        raise UsageError(f"--label {opts.label!r}: an ext4 label is at most 16 bytes")
    if opts.uuid:
        try:
            uuid.UUID(opts.uuid)
        except ValueError:
            raise UsageError(f"--uuid {opts.uuid!r}: not a UUID") from None


def write_image(root: Path, output: Path, opts: Ext4Options) -> Usage:
    """Build the image for `root` at `output`; nothing is at `output` unless this returns."""
    check(opts)
    usage = measure(root)
    raw = output.with_name(f".{output.name}.raw{os.getpid()}")
    try:
        _raw(root, raw, usage, opts)
        finish_output(raw, output, opts)
    finally:
        raw.unlink(missing_ok=True)
    return usage
