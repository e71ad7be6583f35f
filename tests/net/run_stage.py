"""Run the boot's network stage in this process's namespace, as the agent would.

usage: run_stage.py CMDLINE WORKDIR [--release]. Prints {"lease": …} or {"error": …} as JSON;
the stage writes its /etc files under WORKDIR/initramfs and carries them to WORKDIR/newroot.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from agent.cmdline import parse
from agent.context import Context, Paths
from agent.errors import AgentError
from agent.log import Log
from agent.net.apply import EtcFiles
from agent.net.stage import carry_into_root, network, release
from agent.syscalls import Syscalls


def main(argv: list[str]) -> int:
    cmdline, work = argv[0], Path(argv[1])
    ctx = Context(
        sys=Syscalls(),
        log=Log(console=sys.stderr),
        paths=Paths(run=work / "run"),
        params=parse(cmdline),
    )
    etc = EtcFiles.under(work / "initramfs")
    try:
        network(ctx, etc=etc)
    except AgentError as err:
        print(json.dumps({"error": type(err).__name__, "message": str(err)}))
        return 3
    (work / "newroot" / "etc").mkdir(parents=True, exist_ok=True)
    carry_into_root(ctx, work / "newroot", etc=etc)
    lease = ctx.lease
    if "--release" in argv:
        release(ctx)
    print(json.dumps({"lease": lease, "after_release": ctx.lease}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
