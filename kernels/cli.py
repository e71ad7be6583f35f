"""`metalinit kernel fetch [NAME]` and `metalinit kernel list`."""

from __future__ import annotations

import argparse
import sys

from kernels.errors import KernelError
from kernels.fetch import cache_root, cached, fetch
from kernels.manifest import DEFAULT, available, load


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="metalinit kernel", description="pinned kernels")
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("fetch", help="download, verify and cache a kernel")
    get.add_argument("name", nargs="?", default=DEFAULT, help=f"manifest (default {DEFAULT})")
    sub.add_parser("list", help="list the manifests and whether each is cached")
    return parser


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "fetch":
            kernel = fetch(load(args.name))
            print(f"{kernel.name}: release {kernel.release}")
            print(f"  vmlinuz  {kernel.vmlinuz}")
            print(f"  modules  {kernel.modules}")
            return 0
        for manifest in available():
            hit = cached(manifest)
            state = f"cached, release {hit.release}" if hit else "not fetched"
            print(f"{manifest.name:24} {manifest.package}={manifest.version}  {state}")
        print(f"cache: {cache_root()}")
        return 0
    except KernelError as exc:
        print(f"metalinit kernel: {exc}", file=sys.stderr)
        return 1
