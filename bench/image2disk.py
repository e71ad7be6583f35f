"""Benchmark image2disk against `curl | zstd -dc | dd` into a loop device, same run.

    flock /tmp/metalinit-heavy.lock .venv/bin/python bench/image2disk.py [--runs 5] [--size-mib 1024]

A real `metalinit serve --artifacts DIR` on 127.0.0.1 serves a GPT disk image of
--size-mib (a third incompressible, a third zeros, a third text, in 1 MiB pieces, as a
used disk's mix) raw, gzip'd (-6) and zstd'd (-3). Each run writes it to a loop device over
a preallocated file, by:

- ours: the image2disk action, CHECKSUM given (sha256 of the file as served, verified in the
  same pass), fsync at the end, in a process of its own;
- pipeline: `curl -s URL | zstd -dc | dd of=DEV bs=4M` (gzip: `gzip -dc`; raw: no
  decompressor), as written;
- pipeline+fsync: the same with `conv=fsync`, so that it too ends with the data on the
  disk, as ours does; the ratio that counts is against this one.

Runs are interleaved; the table gives medians of MiB/s (of the image, uncompressed), ours
against the pipelines, and peak RSS (GNU time %M; for a pipeline, its largest process).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MIB = 1 << 20
DECOMPRESS = {"raw": "", "gzip": "gzip -dc | ", "zstd": "zstd -dc | "}
SUFFIX = {"raw": "", "gzip": ".gz", "zstd": ".zst"}
NAMES = ("ours", "pipeline", "pipeline+fsync")


def make_image(path: Path, size_mib: int) -> None:
    """A disk image: GPT, then 1 MiB pieces in turn random, zero and text, reproducibly."""
    rng = random.Random(1)
    line = b"the quick brown fox jumps over the lazy dog 0123456789\n"
    text = (line * (MIB // len(line) + 1))[:MIB]
    with open(path, "wb") as out:
        for i in range(size_mib):
            out.write((rng.randbytes(MIB), bytes(MIB), text)[i % 3])
    script = f"label: gpt\nstart=2048, size={(size_mib - 2) * 2048}\n"
    subprocess.run(["sfdisk", "-q", str(path)], input=script, text=True, check=True)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while piece := f.read(4 * MIB):
            digest.update(piece)
    return digest.hexdigest()


def timed(argv: list[str], work: Path) -> tuple[float, int]:
    rss = work / "rss"
    start = time.monotonic()
    subprocess.run(["/usr/bin/time", "-f", "%M", "-o", str(rss), *argv], check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip
    return time.monotonic() - start, int(rss.read_text().split()[-1])


def ours(url: str, disk: str, checksum: str) -> list[str]:
    return [sys.executable, __file__, "--one", url, disk, checksum]


def pipeline(url: str, disk: str, kind: str, fsync: bool, sha256: str | None = None) -> list[str]:
    """The shell baseline; with `sha256`, the bytes as served are also summed in the same
    pass (tee into sha256sum) and the pipeline fails unless the sum is that one."""
    sync = " conv=fsync" if fsync else ""
    write = f"{DECOMPRESS[kind]}dd of={disk} bs=4M status=none{sync}"
    if sha256 is None:
        script = f"curl -sf {url} | {write}"
    else:
        # grep ends only when sha256sum (writing to fd 4, grep's pipe) has written its sum.
        script = (
            f"{{ curl -sf {url} | tee >(sha256sum >&4) | {write}; }} 4>&1 | grep -qx '{sha256}  -'"
        )
    return ["bash", "-o", "pipefail", "-c", script]


@contextmanager
def loop_device(backing_dir: Path, size_mib: int) -> Iterator[str]:
    """A loop device over a preallocated, zeroed file of size_mib + 64 MiB in backing_dir."""
    backing = backing_dir / f"bench-image2disk-target-{os.getpid()}"
    subprocess.run(["fallocate", "-l", f"{size_mib + 64}M", str(backing)], check=True)
    disk = subprocess.run(["losetup", "-f", "--show", str(backing)], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    try:
        subprocess.run(["dd", "if=/dev/zero", f"of={disk}", "bs=4M", "conv=fsync",
                        f"count={(size_mib + 64) // 4}", "status=none"], check=True)  # fmt: skip
        yield disk
    finally:
        subprocess.run(["losetup", "-d", disk], check=False)
        backing.unlink()


def run_one(url: str, disk: str, checksum: str) -> int:
    """--one: the action itself, in this process."""
    from agent.actions import ActionContext, image2disk

    env = {"IMG_URL": url, "DEST_DISK": disk, "CHECKSUM": f"sha256:{checksum}"}
    ctx = ActionContext("bench", "image2disk", env, say=lambda line: None)
    image2disk.run(ctx)
    return 0


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--size-mib", type=int, default=1024)
    p.add_argument("--backing", default="/dev/shm",
                   help="where the loop device's file is (default /dev/shm: no disk noise)")  # fmt: skip
    p.add_argument("--one", nargs=3, metavar=("URL", "DEV", "SHA256"))
    args = p.parse_args()
    if args.one:
        return run_one(*args.one)
    from tests.server.serving import serving

    with tempfile.TemporaryDirectory(prefix="bench-image2disk-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        with serving(work / "serve") as served:
            image = served.artifacts / "disk.img"
            print(f"making a {args.size_mib} MiB image and its gzip and zstd forms …", flush=True)
            make_image(image, args.size_mib)
            subprocess.run(["gzip", "-k", "-6", str(image)], check=True)
            subprocess.run(["zstd", "-q", "-k", "-3", "-T0", str(image)], check=True)
            sums = {kind: sha256(Path(f"{image}{SUFFIX[kind]}")) for kind in DECOMPRESS}
            with loop_device(Path(args.backing), args.size_mib) as disk:
                results = measure(args, served.url, disk, sums, work)
    table(results, args.size_mib, args.backing)
    return 0


def measure(args: argparse.Namespace, base: str, disk: str, sums: dict[str, str],
            work: Path) -> dict[tuple[str, str], list[tuple[float, int]]]:  # fmt: skip
    results: dict[tuple[str, str], list[tuple[float, int]]] = {}
    for run in range(args.runs):
        for kind in DECOMPRESS:
            url = f"{base}/artifacts/disk.img{SUFFIX[kind]}"
            for name, argv in (("ours", ours(url, disk, sums[kind])),
                               ("pipeline", pipeline(url, disk, kind, False)),
                               ("pipeline+fsync", pipeline(url, disk, kind, True))):  # fmt: skip
                results.setdefault((kind, name), []).append(timed(argv, work))
            line = "  ".join(f"{n} {results[(kind, n)][-1][0]:.2f} s" for n in NAMES)
            print(f"run {run + 1}/{args.runs} {kind}: {line}", flush=True)
    return results


def table(results: dict[tuple[str, str], list[tuple[float, int]]], size_mib: int,
          backing: str) -> None:  # fmt: skip
    def rate(kind: str, name: str) -> float:
        return size_mib / statistics.median(s for s, _ in results[(kind, name)])

    def rss(kind: str, name: str) -> int:
        return max(r for _, r in results[(kind, name)]) // 1024

    runs = len(results[("raw", "ours")])
    print(
        f"\nimage2disk, {size_mib} MiB image into a loop device over a file in {backing}, "
        f"from metalinit serve on 127.0.0.1; medians of {runs} runs (MiB/s)\n"
    )
    print("| image | ours (checksum verified) | pipeline | pipeline+fsync | ours / pipeline | "
          "ours / pipeline+fsync | peak RSS ours | peak RSS pipeline |")  # fmt: skip
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for kind in DECOMPRESS:
        o, p, f = rate(kind, "ours"), rate(kind, "pipeline"), rate(kind, "pipeline+fsync")
        print(f"| {kind} | {o:.0f} | {p:.0f} | {f:.0f} | {o / p:.2f}x | {o / f:.2f}x | "
              f"{rss(kind, 'ours')} MiB | {rss(kind, 'pipeline+fsync')} MiB |")  # fmt: skip


if __name__ == "__main__":
    if shutil.which("curl") is None:
        sys.exit("curl is needed for the baseline")
    sys.exit(main())
