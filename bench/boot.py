"""Boot benchmark: our initramfs against a busybox-script initramfs doing the same work.

Both boot the same kernel, the same disk and the same QEMU flags, alternately, RUNS times
each. The baseline's /init mounts proc, sysfs and devtmpfs, modprobes the modules our agent
loads, waits for the disk, mounts it, moves the API filesystems in and execs the entrypoint
chrooted. The entrypoint prints /proc/uptime and PID 1's peak RSS, then powers off.

    .venv/bin/python bench/boot.py [--runs 5] [--out out/bench-boot]

Measures, medians over the runs:
- in-guest seconds from /init start (the kernel's "Run /init" line) to the entrypoint, also
  for our agent with `ip=dhcp` on QEMU's user network (no baseline row: the script does no DHCP);
- wall seconds from starting QEMU to the entrypoint's first line on the host;
- initramfs size, compressed and uncompressed; the agent's peak RSS (VmHWM of PID 1).
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "rootfs-tools")]

from initramfs import compress, cpio, layout  # noqa: E402
from initramfs.build import Options, add_modules, build  # noqa: E402
from initramfs.qemu import BootSpec, Guest, choose_accel  # noqa: E402
from kernels.fetch import fetch  # noqa: E402
from kernels.manifest import load  # noqa: E402
from tests.disks import make_ext4, make_tree  # noqa: E402

ENTRY_SCRIPT = """#!/bin/sh
echo "bench-entry uptime=$(cut -d' ' -f1 /proc/uptime) pid1-hwm-kb=$(grep VmHWM /proc/1/status | tr -s ' ' | cut -d' ' -f2)"
poweroff -f
"""
BASELINE_MODULES = "virtio_pci virtio_blk ata_piix crc32c_generic ext4"
BASELINE_INIT = f"""#!/bin/busybox sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in {BASELINE_MODULES}; do modprobe $m; done
while [ ! -b /dev/vda ]; do usleep 10000; done
mount -t ext4 /dev/vda /mnt
for d in dev proc sys; do mount --move /$d /mnt/$d; done
exec chroot /mnt /bin/bench-entry
"""
RUN_INIT = re.compile(r"^\[\s*([\d.]+)\] Run /init as init process")
ENTRY = re.compile(r"bench-entry uptime=([\d.]+) pid1-hwm-kb=(\d*)")


@dataclass
class Sample:
    in_guest: float
    wall: float
    hwm_kb: int | None


def baseline_initramfs(work: Path, kernel_name: str) -> tuple[Path, int]:
    kernel = fetch(load(kernel_name))
    stage = work / "baseline-root"
    for name in ("proc", "sys", "dev", "mnt", "bin"):
        (stage / name).mkdir(parents=True, exist_ok=True)
    layout.add_busybox(stage)
    add_modules(stage, kernel, ())
    layout.add_busybox_links(stage)
    (stage / "init").write_text(BASELINE_INIT)
    (stage / "init").chmod(0o755)
    fixed = [entry for entry in layout.fixed_entries() if entry.name != "init"]
    entries = layout.merge(cpio.scan(stage), fixed)
    archive = work / "baseline.cpio"
    with archive.open("wb") as out:
        cpio.write(entries, out)
    packed = work / "baseline.cpio.zst"
    compress.compress("zst", archive, packed)
    return packed, archive.stat().st_size


def bench_disk(work: Path) -> Path:
    tree = make_tree(work / "disk-tree")
    (tree / "bin/bench-entry").write_text(ENTRY_SCRIPT)
    (tree / "bin/bench-entry").chmod(0o755)
    for applet in ("tr", "usleep"):
        (tree / "bin" / applet).symlink_to("busybox")
    return make_ext4(tree, work / "bench.img", "bench", "9e0a7a4c-1d2b-4c3d-8e4f-5a6b7c8d9e0f")


def boot_once(spec: BootSpec) -> Sample:
    started = time.monotonic()
    first_line: list[float] = []

    def note(line: str) -> None:
        if not first_line and ENTRY.search(line):
            first_line.append(time.monotonic() - started)

    with Guest(spec, on_line=note) as guest:
        if guest.wait(300) is None:
            raise SystemExit(f"bench: guest did not finish:\n{guest.console}")
        console = guest.lines
    init = next((float(m.group(1)) for line in console if (m := RUN_INIT.search(line))), None)
    entry = next((m for line in console if (m := ENTRY.search(line))), None)
    if init is None or entry is None or not first_line:
        raise SystemExit("bench: console lacks the marks:\n" + "\n".join(console))
    hwm = int(entry.group(2)) if entry.group(2) else None
    return Sample(float(entry.group(1)) - init, first_line[0], hwm)


def median(values: list[float]) -> float:
    return statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench-boot")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ours = build(Options(out=args.out))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        baseline, baseline_raw = baseline_initramfs(work, Options().kernel)
        disk = bench_disk(work)
        accel = choose_accel(ours.vmlinuz)
        append = "root=/dev/vda metalinit.on_exit=poweroff entrypoint=/bin/bench-entry"
        specs = {
            "metalinit": BootSpec(ours.vmlinuz, ours.initramfs, disk, append=append, accel=accel),
            "busybox script": BootSpec(ours.vmlinuz, baseline, disk, accel=accel),
            "metalinit, ip=dhcp": BootSpec(
                ours.vmlinuz,
                ours.initramfs,
                disk,
                append=f"{append} ip=dhcp",
                net="user",
                accel=accel,
            ),
        }
        samples: dict[str, list[Sample]] = {name: [] for name in specs}
        for run in range(args.runs):
            for name, spec in specs.items():
                subprocess.run(["e2fsck", "-fy", str(disk)], capture_output=True, check=False)
                samples[name].append(boot_once(spec))
                print(f"run {run + 1}/{args.runs} {name}: {samples[name][-1]}", file=sys.stderr)
        sizes = {
            "metalinit": (ours.compressed, ours.uncompressed),
            "busybox script": (baseline.stat().st_size, baseline_raw),
            "metalinit, ip=dhcp": (ours.compressed, ours.uncompressed),
        }
    print(table(samples, sizes, accel, args.runs))
    return 0


def table(
    samples: dict[str, list[Sample]], sizes: dict[str, tuple[int, int]], accel: str, runs: int
) -> str:
    base = samples["busybox script"]
    rows = [
        f"Boot benchmark ({accel.upper()}, {runs} boots each, medians; ratio = metalinit / busybox script)",
        "",
        "| initramfs | /init → entrypoint (s, in guest) | QEMU start → entrypoint output (s, wall) "
        "| initramfs zst (MB) | uncompressed (MB) | PID 1 peak RSS (MB) |",
        "|---|---|---|---|---|---|",
    ]
    for name, runs_ in samples.items():
        guest = median([s.in_guest for s in runs_])
        wall = median([s.wall for s in runs_])
        hwms = [s.hwm_kb for s in runs_ if s.hwm_kb is not None]
        rss = f"{median([h / 1024 for h in hwms]):.1f}" if "metalinit" in name and hwms else "-"
        packed, raw = sizes[name]
        rows.append(
            f"| {name} | {guest:.2f} | {wall:.2f} | {packed / 1e6:.1f} | {raw / 1e6:.1f} | {rss} |"
        )
    ratio_guest = median([s.in_guest for s in samples["metalinit"]]) / median(
        [s.in_guest for s in base]
    )
    ratio_wall = median([s.wall for s in samples["metalinit"]]) / median([s.wall for s in base])
    rows.append(
        f"| ratio metalinit / busybox script | {ratio_guest:.2f}x | {ratio_wall:.2f}x | | | |"
    )
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
