"""`metalinit boot`: boot out/vmlinuz + out/initramfs.cpio.zst in QEMU with a disk attached,
the serial console on stdout, and exit with the guest's outcome."""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

from initramfs.qemu import BUS_ROOT, BootSpec, Guest, QemuError, choose_accel
from server.pxe import archive_order

ENTRYPOINT_EXIT = re.compile(r"agent: .*the entrypoint exited with code (\d+)")
RESCUE = re.compile(r"metalinit: stage '([^']+)' failed|metalinit: every stage finished")
PANIC = re.compile(r"Kernel panic|Attempted to kill init")
EXIT_PANIC = 3
EXIT_RESCUE = 4
EXIT_TIMEOUT = 124


@dataclass(frozen=True)
class Outcome:
    code: int
    message: str


def judge(lines: list[str], timed_out: bool) -> Outcome:
    """What the console says happened: the entrypoint's exit code, a rescue, a panic."""
    text = "\n".join(lines)
    if PANIC.search(text):
        return Outcome(EXIT_PANIC, "the kernel panicked")
    codes = ENTRYPOINT_EXIT.findall(text)
    rescue = RESCUE.search(text)
    if timed_out:
        where = " (at the rescue shell)" if rescue else ""
        return Outcome(EXIT_TIMEOUT, f"the guest was still running at the timeout{where}; killed")
    if rescue and not codes:
        return Outcome(EXIT_RESCUE, f"the guest ended at the rescue shell: {rescue.group(0)}")
    if codes:
        return Outcome(int(codes[-1]), f"the entrypoint exited with code {codes[-1]}")
    return Outcome(1, "the guest stopped before the entrypoint ran")


def kernel_args(args: argparse.Namespace) -> str:
    parts = [f"root={args.root or BUS_ROOT[args.disk_bus]}", "metalinit.on_exit=poweroff"]
    if args.net != "none":
        parts.append("ip=dhcp")
    if args.entrypoint:
        parts.append(f'entrypoint="{args.entrypoint}"')
    if args.append:
        parts.append(args.append)  # last, so it overrides any of ours
    return " ".join(parts)


def _forward(text: str) -> tuple[int, int]:
    host, sep, guest = text.partition(":")
    if not (sep and host.isdigit() and guest.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r}: use HOSTPORT:GUESTPORT, e.g. 8080:80")
    return int(host), int(guest)


def archives(directory: Path) -> list[Path]:
    """The archives `metalinit build` wrote there, in the order the kernel must unpack them
    (the same order the PXE server lists them in)."""
    names = [p.name for p in directory.iterdir()] if directory.is_dir() else []
    return [directory / n for n in archive_order(names)]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="metalinit boot", description=__doc__)
    p.add_argument("--disk", type=Path, required=True, help="disk image (raw or qcow2)")
    p.add_argument("--disk-bus", choices=sorted(BUS_ROOT), default="virtio")
    p.add_argument("--root", help="root= for the kernel (default: the disk: /dev/vda or /dev/sda)")
    p.add_argument("--entrypoint", help="program and arguments to run in the disk's root")
    p.add_argument("--append", default="", help="more kernel arguments (they win over ours)")
    p.add_argument("--net", default="none", help="user | none | tap:NAME")
    p.add_argument("--forward", type=_forward, action="append", default=[],
                   help="HOSTPORT:GUESTPORT on 127.0.0.1 (with --net user)")  # fmt: skip
    p.add_argument("--kernel", type=Path, default=Path("out/vmlinuz"))
    p.add_argument("--initrd", type=Path, action="append",
                   help="an initramfs archive; repeat for more, loaded in order (default: "
                   "every archive next to --kernel, the core one first)")  # fmt: skip
    p.add_argument("--memory", type=int, default=512, help="MiB")
    p.add_argument("--timeout", type=float, default=600, help="seconds before the guest is killed")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    if args.forward and args.net != "user":
        args.net = "user"
    initrds = args.initrd or archives(args.kernel.parent)
    if not initrds:
        print(f"metalinit boot: no initramfs archive in {args.kernel.parent}: run "
              "`metalinit build` first or name one with --initrd", file=sys.stderr)  # fmt: skip
        return 2
    spec = BootSpec(
        kernel=args.kernel,
        initrd=initrds[0],
        more_initrds=tuple(initrds[1:]),
        disk=args.disk,
        disk_bus=args.disk_bus,
        append=kernel_args(args),
        net=args.net,
        forwards=tuple(args.forward),
        memory_mb=args.memory,
        accel=choose_accel(args.kernel) if args.kernel.exists() else "tcg",
    )
    print(f"metalinit boot: {spec.accel}, kernel args: {spec.append}", file=sys.stderr)
    guest = Guest(
        spec, on_line=lambda line: print(line, flush=True), interactive=sys.stdin.isatty()
    )
    try:
        guest.start()
    except QemuError as err:
        print(f"metalinit boot: {err}", file=sys.stderr)
        return 2
    code = guest.wait(args.timeout)
    guest.kill()
    outcome = judge(guest.lines, timed_out=code is None)
    print(f"metalinit boot: {outcome.message}", file=sys.stderr)
    return outcome.code
