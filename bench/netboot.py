"""Network-boot benchmark: a blank BIOS machine from power-on to its installed system, and
image2disk over the provisioning bridge against `curl | zstd -dc | dd`, in the same run.

    flock /tmp/metalinit-heavy.lock .venv/bin/python bench/netboot.py [--runs 3] [--size-mib 512]

The rack of tests/qemu/test_netboot.py: bridge br0 in a server namespace, `metalinit serve
--pxe --dhcp full` on 10.77.0.1 with our build, QEMU machines on taps of the bridge. Each
run powers on a new blank machine (SeaBIOS with QEMU's iPXE ROM, virtio disk; KVM when
it works, else TCG) with the install workflow of test 1 (image2disk with a checksum,
writefile, cexec, kexec), times its console lines against QEMU's start, then powers it on
again (netboot is off by then) until its installed system is up from the disk by syslinux.

Each run also writes a --size-mib image (bench/image2disk.py's mix), zstd'd and served by
the same server, from the rack's client namespace (a veth on br0) into a loop device over
a file in /dev/shm, by:
- ours: the image2disk action, CHECKSUM given (sha256 verified in the same pass), fsync;
- pipeline: `curl -sf URL | tee >(sha256sum) | zstd -dc | dd bs=4M`, failing unless the
  sum is right;
- pipeline+fsync: the same with conv=fsync, which ends with the data on the disk as ours
  does; the ratio that counts (target: at least 0.9x) is against this one.
The tables give medians over the runs.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "rootfs-tools")]

from bench.image2disk import loop_device, make_image, ours, pipeline, sha256, timed  # noqa: E402
from initramfs.build import Options, build  # noqa: E402
from initramfs.qemu import Guest, choose_accel  # noqa: E402
from tests.net.topology import Lan, sh  # noqa: E402
from tests.netboot.lan import SERVER_ADDR, net_serve, netboot_lan  # noqa: E402
from tests.qemu import installed  # noqa: E402
from tests.qemu.netboot import (  # noqa: E402
    HOSTNAME,
    MARK,
    Machine,
    Rack,
    expect,
    install_actions,
    publish,
    stage_boot_files,
    up_line,
)

BOOT_SECONDS = 600  # TCG on a busy host: a run is about two minutes
CLIENT_ADDR = "10.77.0.2/16"  # below the DHCP range (the upper half of 10.77.0.0/16)
# The first boot's console marks, in the order they come; each phase ends at one.
FIRST_BOOT = (
    ("firmware", r"iPXE"),
    ("ipxe", r"metalinit: \S+ boots the agent for workflow"),
    ("download", r"Linux version"),
    ("lease", r"^agent: \[\s*[\d.]+\] lease "),
    ("lookup", r"lookup: this is "),
    ("workflow", r"action kexec-installed: SUCCESS"),
    ("up", up_line("kexec")),
)
SECOND_BOOT = (("local", r"metalinit: \S+ boots its local disk"), ("up", up_line("syslinux")))
PHASES = {
    "firmware": "firmware: QEMU start → first iPXE line",
    "ipxe": "iPXE: DHCP, script, server's answer → “boots the agent”",
    "download": "kernel + initramfs download → “Linux version”",
    "lease": "kernel boot + agent → its DHCP lease",
    "lookup": "lease → “lookup: this is …”",
    "workflow": "the workflow → kexec action's SUCCESS (console)",
    "up": "kexec + installed system's boot → its entrypoint",
}
COPIES = ("ours", "pipeline", "pipeline+fsync")


@dataclass
class Stamps:
    """When each mark's first console line came, in seconds since QEMU started."""

    marks: tuple[tuple[str, str], ...]
    at: dict[str, float] = field(default_factory=dict)
    guest: Guest | None = None

    def note(self, line: str) -> None:
        assert self.guest is not None
        for name, pattern in self.marks:
            if name not in self.at and re.search(pattern, line):
                self.at[name] = time.monotonic() - self.guest.started

    def phases(self) -> dict[str, float]:
        """Each mark's time since the mark before it (the first: since QEMU's start)."""
        missing = [name for name, _ in self.marks if name not in self.at]
        if missing:
            raise SystemExit(f"bench: the console lacks {missing}")
        times = [0.0, *(self.at[name] for name, _ in self.marks)]
        return {name: times[i + 1] - times[i] for i, (name, _) in enumerate(self.marks)}


@dataclass
class Run:
    first: dict[str, float]  # phase -> seconds
    actions: dict[str, float]  # action -> seconds, as the server recorded them
    total: float
    second: dict[str, float]  # the second boot's marks, since QEMU's start
    copies: dict[str, float]  # way -> seconds to write the image


def power_on(
    rack: Rack, machine: Machine, marks: tuple[tuple[str, str], ...]
) -> tuple[Guest, Stamps]:
    stamps = Stamps(marks)
    stamps.guest = rack.power_on(machine, on_line=stamps.note)
    return stamps.guest, stamps


def boot_once(rack: Rack) -> tuple[dict[str, float], dict[str, float], float, dict[str, float]]:
    """One blank machine installed and booted twice: the first boot's phases, the server's
    action seconds, the total, and the second boot's marks."""
    machine = rack.machine("bench")
    rack.add_hardware(machine)
    checksum = f"sha256:{rack.image.sha256}"
    wf = rack.add_workflow(machine, install_actions(rack, machine, checksum, "kexec"))
    guest, first = power_on(rack, machine, FIRST_BOOT)
    up = expect(guest, up_line("kexec"), BOOT_SECONDS)
    want = (HOSTNAME.format(name=machine.name), MARK.format(name=machine.name))
    if up.groups() != want or guest.wait(60) != 0:
        raise SystemExit(f"bench: {machine.name} came up as {up.groups()}, not {want}")
    view = rack.workflow(wf)
    if view["state"] != "SUCCESS":
        raise SystemExit(f"bench: workflow {wf}: {view}")
    actions = {a["name"]: float(a["seconds"]) for a in view["actions"]}
    guest, second = power_on(rack, machine, SECOND_BOOT)
    expect(guest, up_line("syslinux"), BOOT_SECONDS)
    guest.wait(60)
    panicked = rack.stop_guests()
    if panicked:
        raise SystemExit(f"bench: a kernel panic:\n{panicked[0]}")
    return first.phases(), actions, first.at["up"], dict(second.at)


def client_link(net: Lan) -> None:
    """A veth on br0 in the client namespace at CLIENT_ADDR, where the copies run."""
    net.add_client_link("eth0")
    sh(*net.client("ip", "addr", "add", CLIENT_ADDR, "dev", "eth0"))
    sh(*net.client("ip", "link", "set", "eth0", "up"))


def copy_once(net: Lan, url: str, disk: str, digest: str, work: Path) -> dict[str, float]:
    """The image written once each way, from the client namespace; seconds per way."""
    argvs = {
        "ours": ours(url, disk, digest),
        "pipeline": pipeline(url, disk, "zstd", False, digest),
        "pipeline+fsync": pipeline(url, disk, "zstd", True, digest),
    }
    return {way: timed(net.client(*argv), work)[0] for way, argv in argvs.items()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--backing", type=Path, default=Path("/dev/shm"),
                        help="where the loop device's file is (default /dev/shm)")  # fmt: skip
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench-netboot")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("bench: needs root (namespaces, taps, loop devices)")
    missing = installed.missing_tools()
    if missing:
        raise SystemExit(f"bench: the installed-system disk needs: {', '.join(missing)}")
    args.out.mkdir(parents=True, exist_ok=True)
    print("building the kernel + initramfs …", file=sys.stderr, flush=True)
    built = build(Options(out=args.out))
    accel = choose_accel(built.vmlinuz)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="bench-netboot-", dir="/var/tmp") as tmp:
        work = Path(tmp)
        print("making the installed-system image …", file=sys.stderr, flush=True)
        image = installed.build_installed(work / "installed", built.vmlinuz, built.initramfs)
        stage_boot_files(work, built.vmlinuz, built.initramfs)
        with (
            netboot_lan(f"b{os.getpid() % 10000}") as net,
            net_serve(net, work, "--pxe", "--dhcp", "full", "--dhcp-interface", "br0") as server,
        ):
            publish(server, image)
            rack = Rack(net, server, work, image, accel)
            client_link(net)
            print(f"making a {args.size_mib} MiB image, zstd -3 …", file=sys.stderr, flush=True)
            raw = work / "copy.img"
            make_image(raw, args.size_mib)
            served = server.artifacts / "copy.img.zst"
            subprocess.run(["zstd", "-q", "-3", "-T0", str(raw), "-o", str(served)], check=True)
            raw.unlink()
            digest = sha256(served)
            url = f"{server.url}/artifacts/{served.name}"
            with loop_device(args.backing, args.size_mib) as disk:
                for n in range(args.runs):
                    first, actions, total, second = boot_once(rack)
                    copies = copy_once(net, url, disk, digest, work)
                    runs.append(Run(first, actions, total, second, copies))
                    print(f"run {n + 1}/{args.runs}: total {total:.1f} s, {first}, "
                          f"actions {actions}, second boot {second}, copies {copies}",
                          file=sys.stderr, flush=True)  # fmt: skip
    print(boot_table(runs, accel))
    print()
    print(copy_table(runs, args.size_mib, args.backing))
    return 0


def _med(values: list[float]) -> str:
    return f"{statistics.median(values):.1f} s"


def _row(label: str, values: list[float]) -> str:
    return f"| {label} | {_med(values)} | {min(values):.1f} s | {max(values):.1f} s |"


def boot_table(runs: list[Run], accel: str) -> str:
    rows = [
        f"Network boot, BIOS (SeaBIOS + QEMU's iPXE ROM), virtio disk, {accel.upper()}, "
        f"from `metalinit serve --pxe --dhcp full` on {SERVER_ADDR}; {len(runs)} runs, "
        "wall time, medians",
        "",
        "| phase | median | min | max |",
        "|---|---:|---:|---:|",
    ]
    for phase, label in PHASES.items():
        rows.append(_row(label, [r.first[phase] for r in runs]))
        if phase == "workflow":
            for name in runs[0].actions:
                values = [r.actions[name] for r in runs]
                rows.append(_row(f"  of which action {name} (server's record)", values))
    rows.append(_row("**QEMU start → installed system's entrypoint**", [r.total for r in runs]))
    rows.append(_row("second boot: QEMU start → iPXE sends it to its disk",
                     [r.second["local"] for r in runs]))  # fmt: skip
    rows.append(_row("**second boot: QEMU start → entrypoint (syslinux)**",
                     [r.second["up"] for r in runs]))  # fmt: skip
    return "\n".join(rows)


def copy_table(runs: list[Run], size_mib: int, backing: Path) -> str:
    rate = {way: size_mib / statistics.median(r.copies[way] for r in runs) for way in COPIES}
    ratio = rate["ours"] / rate["pipeline+fsync"]
    return "\n".join([
        f"image2disk over br0 (client namespace → {SERVER_ADDR}), a {size_mib} MiB image "
        f"(zstd -3) into a loop device over a file in {backing}, sha256 verified by every "
        f"way; medians of {len(runs)} runs (MiB/s of the image, uncompressed)",
        "",
        "| ours | pipeline | pipeline+fsync | ours / pipeline | ours / pipeline+fsync | target |",
        "|---:|---:|---:|---:|---:|---|",
        f"| {rate['ours']:.0f} | {rate['pipeline']:.0f} | {rate['pipeline+fsync']:.0f} | "
        f"{rate['ours'] / rate['pipeline']:.2f}x | {ratio:.2f}x | ≥ 0.9x: "
        f"{'met' if ratio >= 0.9 else 'not met'} |",
    ])  # fmt: skip


if __name__ == "__main__":
    raise SystemExit(main())
