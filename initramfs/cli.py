"""`metalinit build`: out/vmlinuz and out/initramfs.cpio.zst (or .gz, .xz), and --report."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from initramfs.build import Options, build
from initramfs.compress import COMMANDS
from initramfs.errors import BuildError
from initramfs.freeze import ENTRY
from kernels.errors import KernelError
from kernels.manifest import DEFAULT


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="metalinit build", description="build out/vmlinuz and out/initramfs.cpio.zst"
    )
    parser.add_argument("--kernel", default=DEFAULT, help=f"kernel manifest (default {DEFAULT})")
    parser.add_argument("--compress", default="zst", choices=sorted(COMMANDS))
    parser.add_argument("--modules", default="", help="extra kernel modules, comma-separated")
    parser.add_argument(
        "--hardware", default="default", metavar="none|default|FILE",
        help="the hardware archive's modules: none (no second archive), default, or a file "
        "listing module names, one a line",
    )  # fmt: skip
    parser.add_argument("--report", action="store_true", help="print what takes the space")
    parser.add_argument("--entry", type=Path, default=ENTRY, help=argparse.SUPPRESS)
    parser.add_argument("-o", "--out", type=Path, default=Path("out"), help="output directory")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    extra = tuple(m.strip() for m in args.modules.split(",") if m.strip())
    options = Options(
        args.kernel, args.compress, extra, args.out, args.entry, args.report, None, args.hardware
    )
    try:
        result = build(options)
    except (BuildError, KernelError) as exc:
        print(f"metalinit build: {exc}", file=sys.stderr)
        return 1
    print(f"kernel     {result.vmlinuz}  ({result.release})")
    print(
        f"initramfs  {result.initramfs}  {result.compressed:,} bytes "
        f"({result.uncompressed:,} uncompressed, {len(result.entries)} entries)"
    )
    print(f"modules    {len(result.selection.modules)} files", end="")
    if result.selection.missing:
        print(f"; not in this kernel: {', '.join(result.selection.missing)}", end="")
    if result.hardware:
        hw = result.hardware
        print(
            f"\nhardware   {hw.path}  {hw.compressed:,} bytes ({hw.uncompressed:,} "
            f"uncompressed): {len(result.hardware_selection.modules)} modules, "
            f"{len(result.firmware.files)} firmware files",
            end="",
        )
        if result.hardware_selection.missing:
            print(f"; not in this kernel: {', '.join(result.hardware_selection.missing)}", end="")
        if result.firmware.missing:
            print(f"; firmware in no Debian package: {len(result.firmware.missing)}", end="")
    print(f"\nbuilt in {result.seconds:.1f} s")
    if result.report:
        print(f"\n{result.report}")
    return 0
