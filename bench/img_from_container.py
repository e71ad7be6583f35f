"""Benchmark img-from-container against the peer pipeline, from the same local registry.

    .venv/bin/python bench/img_from_container.py [--runs 5] [--images nginx,large,small,deleted]

For each image: ours with a cold blob cache, ours with a warm one, ours with `--writer mkfs`
(staging tree + mkfs.ext4 -d, warm cache), and `skopeo copy` → `umoci unpack` →
`mkfs.ext4 -d` (same image size and inode count as ours, -E nodiscard).
Runs are interleaved; the table gives medians of wall time, ratios to the peer, the largest
single process's peak RSS (GNU time %M), and image size against the unpacked content.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.rootfs_tools import images, registry

FREE = 0.20  # img-from-container's default --free
SMALL_FILES = 30_000


def small_files_layout() -> tuple[Path, str]:
    """30 000 files of 0.2-3 KB in 300 directories, one gzip layer (same bytes every run)."""
    dest = images.CACHE / "bench-small-files"
    if not (dest / "index.json").exists():
        rng = random.Random(12)
        entries = [images.D(f"d{i}") for i in range(SMALL_FILES // 100)]
        entries += [
            images.Entry(f"d{i // 100}/f{i}", data=rng.randbytes(rng.randint(200, 3000)))
            for i in range(SMALL_FILES)
        ]
        images.write_layout(dest, [images.layer_tar(entries)], [images.gz], {})
    return dest, "latest"


def deleted_layout() -> tuple[Path, str]:
    """200 MiB of build cache added by one layer and whited out by the next, which adds
    100 MiB that must then move down over it (the direct writer's compaction)."""
    dest = images.CACHE / "bench-deleted"
    if not (dest / "index.json").exists():
        rng = random.Random(13)
        cache = [images.Entry(f"cache/c{i}", data=rng.randbytes(4 << 20)) for i in range(50)]
        keep = [images.Entry(f"app/a{i}", data=rng.randbytes(2 << 20)) for i in range(50)]
        lower = images.layer_tar([images.D("cache"), images.D("app"), *cache])
        upper = images.layer_tar([images.Entry(".wh.cache"), *keep])
        images.write_layout(dest, [lower, upper], [images.plain, images.plain], {})
    return dest, "latest"


IMAGES: dict[str, Callable[[], tuple[Path, str]]] = {
    "nginx": images.nginx_layout,
    "large": images.large_layout,
    "small": small_files_layout,
    "deleted": deleted_layout,
}


@dataclass
class Runs:
    wall: list[float] = field(default_factory=list)
    rss_kib: list[int] = field(default_factory=list)

    def median(self) -> float:
        return statistics.median(self.wall)


def timed(steps: list[list[str]], work: Path) -> tuple[float, int]:
    """Wall seconds of the steps run one after another, and the largest peak RSS (KiB)."""
    peak = 0
    start = time.monotonic()
    for argv in steps:
        rss = work / "rss"
        subprocess.run(
            ["/usr/bin/time", "-f", "%M", "-o", str(rss), *argv],
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        peak = max(peak, int(rss.read_text().split()[-1]))
    return time.monotonic() - start, peak


def ours(ref: str, out: Path, cache: Path, work: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "rootfs_tools.cli",
        ref,
        "-o",
        str(out),
        "-q",
        "--cache-dir",
        str(cache),
        "--work-dir",
        str(work),
    ]


def inode_count(image: Path) -> int:
    text = subprocess.run(
        ["dumpe2fs", "-h", str(image)], capture_output=True, text=True, check=True
    ).stdout
    return int(
        next(line for line in text.splitlines() if line.startswith("Inode count:")).split()[-1]
    )


def content_bytes(layout: Path, tag: str, work: Path) -> int:
    bundle = work / "content"
    subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:{tag}", str(bundle)],
        check=True,
        capture_output=True,
    )
    size = int(subprocess.check_output(["du", "-sb", str(bundle / "rootfs")]).split()[0])
    shutil.rmtree(bundle)
    return size


def bench(name: str, reg: registry.Registry, runs: int, work: Path) -> list[str]:
    layout, tag = IMAGES[name]()
    ref = reg.push(f"oci:{layout}:{tag}", f"bench/{name}:latest")
    content = content_bytes(layout, tag, work)
    warm_cache, out = work / "cache-warm", work / "out.img"
    subprocess.run(ours(ref, out, warm_cache, work), check=True)  # fills the warm cache
    size, inodes = out.stat().st_size, inode_count(out)
    results = {"cold": Runs(), "warm": Runs(), "mkfs": Runs(), "peer": Runs()}
    for _ in range(runs):
        cold_cache = work / "cache-cold"
        shutil.rmtree(cold_cache, ignore_errors=True)
        for key, steps in (
            ("cold", [ours(ref, out, cold_cache, work)]),
            ("warm", [ours(ref, out, warm_cache, work)]),
            ("mkfs", [[*ours(ref, out, warm_cache, work), "--writer", "mkfs"]]),
            (
                "peer",
                [
                    [
                        "skopeo",
                        "copy",
                        "-q",
                        "--src-tls-verify=false",
                        f"docker://{ref}",
                        f"oci:{work}/peer-oci:latest",
                    ],
                    [
                        "umoci",
                        "unpack",
                        "--image",
                        f"{work}/peer-oci:latest",
                        f"{work}/peer-bundle",
                    ],
                    [
                        "mkfs.ext4",
                        "-q",
                        "-F",
                        "-E",
                        "nodiscard",
                        "-N",
                        str(inodes),
                        "-d",
                        f"{work}/peer-bundle/rootfs",
                        str(out),
                        f"{size // 1024}k",
                    ],
                ],
            ),
        ):
            subprocess.run(["sync"], check=True)
            wall, rss = timed(steps, work)
            results[key].wall.append(wall)
            results[key].rss_kib.append(rss)
            for leftover in ("peer-oci", "peer-bundle", "cache-cold"):
                shutil.rmtree(work / leftover, ignore_errors=True)
            out.unlink(missing_ok=True)
    peer = results["peer"].median()
    rows = [
        f"| {name} | {label} | {r.median():.2f} | {r.median() / peer:.2f}x | "
        f"{max(r.rss_kib) / 1024:.0f} |"
        for label, r in (
            ("ours, cold cache", results["cold"]),
            ("ours, warm cache", results["warm"]),
            ("ours --writer mkfs, warm cache", results["mkfs"]),
            ("skopeo → umoci → mkfs.ext4 -d", results["peer"]),
        )
    ]
    mib = 1 << 20
    rows.append(
        f"| {name} | image {size / mib:.0f} MiB for {content / mib:.0f} MiB content "
        f"+ {FREE:.0%} free | size / (content + free) = {size / (content * (1 + FREE)):.2f} | "
        f"size / (1.15 x content + free) = {size / (content * (1.15 + FREE)):.2f} | |"
    )
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--images", default="nginx,large,small,deleted")
    parser.add_argument("--work", type=Path, default=None, help="work dir (default: in /var/tmp)")
    args = parser.parse_args()
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-ifc-", dir="/var/tmp"))
    work.mkdir(parents=True, exist_ok=True)
    reg = registry.start(work / "registry")
    try:
        rows = []
        for name in args.images.split(","):
            rows += bench(name, reg, args.runs, work)
    finally:
        reg.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"medians of {args.runs} runs, interleaved; peak RSS is the largest single process\n")
    print("| image | pipeline | wall s (median) | vs peer | peak RSS MiB |")
    print("|---|---|---|---|---|")
    print("\n".join(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
