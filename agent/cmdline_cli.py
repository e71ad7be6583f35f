"""`metalinit cmdline ['ARGS…']`: check kernel arguments before booting a machine with them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from agent import cmdline


def main(argv: list[str]) -> int:
    if argv and argv[0] in ("-h", "--help"):
        print("usage: metalinit cmdline ['KERNEL ARGS…']  (no argument: this host's /proc/cmdline)")
        return 0
    text = " ".join(argv) if argv else Path("/proc/cmdline").read_text()
    try:
        params = cmdline.parse(text)
    except cmdline.CmdlineError as err:
        print(f"metalinit cmdline: {err}", file=sys.stderr)
        return 2
    print(json.dumps(params.to_json(), indent=2, sort_keys=True))
    return 0
