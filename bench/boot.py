"""Boot benchmark: our core initramfs against a busybox-script initramfs doing the same work.

Both boot the same kernel, the same disk and the same kernel arguments under the same QEMU
flags, alternately, RUNS times each. The baseline's /init mounts proc, sysfs and devtmpfs,
modprobes the core modules the agent's coldplug loads for this machine, waits for the disk,
mounts it, moves the API filesystems in and execs the entrypoint chrooted; its DHCP variant
loads virtio_net and runs busybox `udhcpc` before mounting, as ours does with `ip=dhcp`.
The entrypoint prints /proc/uptime and PID 1's peak RSS, then powers off.

    .venv/bin/python bench/boot.py [--runs 5] [--out out/bench-boot]

Medians over the runs, against the issue's targets:
- kernel start -> entrypoint (the uptime the entrypoint prints): <= 1.5x the script's;
- "Run /init" -> entrypoint: <= 2.0x;
- with ip=dhcp on QEMU's user network, kernel start -> entrypoint: <= 2.0x;
- the core archive compressed <= 10 MB; PID 1 peak RSS (VmHWM) with DHCP <= 40 MB.
One more row boots ours with the hardware archive too, for the unpacking cost of its size.
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

from initramfs import compress, cpio, layout, modules  # noqa: E402
from initramfs.build import Options, build  # noqa: E402
from initramfs.qemu import BootSpec, Guest, choose_accel  # noqa: E402
from kernels.fetch import fetch  # noqa: E402
from kernels.manifest import load  # noqa: E402
from tests.disks import make_ext4, make_tree  # noqa: E402

ENTRY_SCRIPT = """#!/bin/sh
echo "bench-entry uptime=$(cut -d' ' -f1 /proc/uptime) pid1-hwm-kb=$(grep VmHWM /proc/1/status | tr -s ' ' | cut -d' ' -f2)"
poweroff -f
"""
# What coldplug loads on this machine (virtio disk, IDE controller, ext4 and its checksum).
BASELINE_MODULES = "virtio_pci virtio_blk ata_piix crc32c_generic ext4"
DHCP_MODULES = "virtio_net"
BASELINE_INIT = """#!/bin/busybox sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
for m in {modules}; do modprobe $m; done
{dhcp}while [ ! -b /dev/vda ]; do usleep 10000; done
mount -t ext4 /dev/vda /mnt
for d in dev proc sys; do mount --move /$d /mnt/$d; done
exec chroot /mnt /bin/bench-entry
"""
DHCP_STEP = """while [ ! -e /sys/class/net/eth0 ]; do usleep 10000; done
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -q -f -n -t 10 -T 1 -s /bin/dhcp-script
"""
DHCP_SCRIPT = """#!/bin/busybox sh
[ "$1" = bound ] || exit 0
ifconfig "$interface" "$ip" netmask "$subnet"
[ -n "$router" ] && route add default gw "$router" dev "$interface"
exit 0
"""
RUN_INIT = re.compile(r"^\[\s*([\d.]+)\] Run /init as init process")
ENTRY = re.compile(r"bench-entry uptime=([\d.]+) pid1-hwm-kb=(\d*)")


@dataclass
class Sample:
    uptime: float  # kernel start -> entrypoint
    after_init: float  # "Run /init" -> entrypoint
    wall: float
    hwm_kb: int | None


def baseline_initramfs(work: Path, kernel_name: str, dhcp: bool) -> tuple[Path, int]:
    kernel = fetch(load(kernel_name))
    stage = work / ("baseline-dhcp-root" if dhcp else "baseline-root")
    for name in ("proc", "sys", "dev", "mnt", "bin"):
        (stage / name).mkdir(parents=True, exist_ok=True)
    layout.add_busybox(stage)
    index = modules.load_index(kernel.modules)
    core = modules.resolve(index, (), modules.CORE_MODULES)  # the same .ko files as ours
    modules.install(kernel.modules, kernel.release, core, stage, index)
    layout.add_busybox_links(stage)
    wanted = f"{BASELINE_MODULES} {DHCP_MODULES}" if dhcp else BASELINE_MODULES
    (stage / "init").write_text(
        BASELINE_INIT.format(modules=wanted, dhcp=DHCP_STEP if dhcp else "")
    )
    (stage / "init").chmod(0o755)
    if dhcp:
        (stage / "bin/dhcp-script").write_text(DHCP_SCRIPT)
        (stage / "bin/dhcp-script").chmod(0o755)
    fixed = [entry for entry in layout.fixed_entries() if entry.name != "init"]
    entries = layout.merge(cpio.scan(stage), fixed)
    archive = work / f"{stage.name}.cpio"
    with archive.open("wb") as out:
        cpio.write(entries, out)
    packed = work / f"{stage.name}.cpio.zst"
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
    uptime = float(entry.group(1))
    return Sample(uptime, uptime - init, first_line[0], hwm)


def median(values: list[float]) -> float:
    return statistics.median(values)


OURS, SCRIPT = "metalinit", "busybox script"
OURS_DHCP, SCRIPT_DHCP = "metalinit, ip=dhcp", "busybox script + udhcpc"
OURS_HW = "metalinit, core + hardware archives"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench-boot")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    ours = build(Options(out=args.out))
    assert ours.hardware is not None
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        baseline, _ = baseline_initramfs(work, Options().kernel, dhcp=False)
        baseline_dhcp, _ = baseline_initramfs(work, Options().kernel, dhcp=True)
        disk = bench_disk(work)
        accel = choose_accel(ours.vmlinuz)
        # The same arguments on both sides; the script ignores them.
        append = "root=/dev/vda metalinit.on_exit=poweroff entrypoint=/bin/bench-entry"
        dhcp = f"{append} ip=dhcp"
        kernel, core = ours.vmlinuz, ours.initramfs
        specs = {
            OURS: BootSpec(kernel, core, disk, append=append, accel=accel),
            SCRIPT: BootSpec(kernel, baseline, disk, append=append, accel=accel),
            OURS_DHCP: BootSpec(kernel, core, disk, append=dhcp, net="user", accel=accel),
            SCRIPT_DHCP: BootSpec(
                kernel, baseline_dhcp, disk, append=dhcp, net="user", accel=accel
            ),
            OURS_HW: BootSpec(
                kernel, core, disk, append=append, accel=accel,
                more_initrds=(ours.hardware.path,),
            ),
        }  # fmt: skip
        samples: dict[str, list[Sample]] = {name: [] for name in specs}
        for run in range(args.runs):
            for name, spec in specs.items():
                subprocess.run(["e2fsck", "-fy", str(disk)], capture_output=True, check=False)
                samples[name].append(boot_once(spec))
                print(f"run {run + 1}/{args.runs} {name}: {samples[name][-1]}", file=sys.stderr)
        sizes = (ours.compressed, ours.hardware.compressed, baseline.stat().st_size)
    print(table(samples, sizes, accel, args.runs))
    return 0


def _med(samples: list[Sample], attr: str) -> float:
    return median([getattr(s, attr) for s in samples])


def table(
    samples: dict[str, list[Sample]], sizes: tuple[int, int, int], accel: str, runs: int
) -> str:
    core, hardware, script = sizes
    rows = [
        f"Boot benchmark ({accel.upper()}, {runs} boots each, medians; "
        "ratio = metalinit / busybox script)",
        "",
        "| measure | metalinit | busybox script | ratio | target | met |",
        "|---|---|---|---|---|---|",
    ]

    def pair(label: str, ours: str, theirs: str, attr: str, target: float) -> None:
        a, b = _med(samples[ours], attr), _med(samples[theirs], attr)
        ratio = a / b
        met = "yes" if ratio <= target else f"no (+{(ratio / target - 1) * 100:.0f}%)"
        rows.append(f"| {label} | {a:.2f} s | {b:.2f} s | {ratio:.2f}x | ≤ {target}x | {met} |")

    pair("kernel start → entrypoint", OURS, SCRIPT, "uptime", 1.5)
    pair('"Run /init" → entrypoint', OURS, SCRIPT, "after_init", 2.0)
    pair("kernel start → entrypoint, ip=dhcp (script: udhcpc)", OURS_DHCP, SCRIPT_DHCP,
         "uptime", 2.0)  # fmt: skip
    hw = _med(samples[OURS_HW], "uptime")
    rows.append(f"| kernel start → entrypoint, core + hardware archives | {hw:.2f} s | "
                f"{_med(samples[SCRIPT], 'uptime'):.2f} s | "
                f"{hw / _med(samples[SCRIPT], 'uptime'):.2f}x | (information) | |")  # fmt: skip
    met = "yes" if core <= 10e6 else f"no (+{(core / 10e6 - 1) * 100:.0f}%)"
    rows.append(f"| core archive, zstd | {core / 1e6:.2f} MB | {script / 1e6:.2f} MB | | "
                f"≤ 10 MB | {met} |")  # fmt: skip
    rows.append(f"| hardware archive, zstd | {hardware / 1e6:.2f} MB | | | | |")
    hwms = [s.hwm_kb / 1024 for s in samples[OURS_DHCP] if s.hwm_kb is not None]
    if hwms:
        rss = median(hwms)
        rows.append(f"| PID 1 peak RSS, ip=dhcp | {rss:.1f} MB | | | ≤ 40 MB | "
                    f"{'yes' if rss <= 40 else 'no'} |")  # fmt: skip
    wall = _med(samples[OURS], "wall") / _med(samples[SCRIPT], "wall")
    rows.append(f"| QEMU start → entrypoint output (wall) | {_med(samples[OURS], 'wall'):.2f} s "
                f"| {_med(samples[SCRIPT], 'wall'):.2f} s | {wall:.2f}x | | |")  # fmt: skip
    return "\n".join(rows)


if __name__ == "__main__":
    raise SystemExit(main())
