"""`metalinit selfcheck`: the agent's parts load and work on this host, without booting.

Parses a sample command line, reads this host's module index, lists its disks and plans an
entrypoint from a sample image config: what a user runs first to see the agent is whole.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from agent import cmdline
from agent.entrypoint import plan_launch
from agent.modindex import ModuleIndex
from rootfs_tools.image_config import parse as parse_image_config

SAMPLE_CMDLINE = "root=UUID=0d5c1f5e-2b8a-4c1e-9d4f-7a2b3c4d5e6f rootwait ip=dhcp entrypoint=\"/bin/sh -c 'echo hi'\""  # noqa: E501
SAMPLE_IMAGE = b'{"config": {"Entrypoint": ["nginx"], "Cmd": ["-g", "daemon off;"], "Env": ["PATH=/usr/sbin:/usr/bin"]}}'  # noqa: E501


def main(argv: list[str]) -> int:
    started = time.monotonic()
    params = cmdline.parse(SAMPLE_CMDLINE)
    print(f"cmdline  ok: root={params.root} entrypoint={list(params.entrypoint or ())}")
    tree = Path("/lib/modules") / os.uname().release
    index = ModuleIndex.load(tree)
    print(f"modules  ok: {len(index.paths)} modules, {len(index.builtin)} builtin in {tree}")
    image = parse_image_config(SAMPLE_IMAGE)
    launch = plan_launch(cmdline.parse("root=/dev/vda"), image, "root:x:0:0:root:/root:/bin/sh")
    print(f"image    ok: would run {list(launch.argv)} as uid {launch.uid} in {launch.cwd}")
    from agent.blockdev.sysblock import list_block_devices

    disks = list_block_devices(Path("/sys"))
    print(f"disks    ok: {len(disks)} block devices ({', '.join(d.name for d in disks)})")
    print(f"selfcheck passed in {time.monotonic() - started:.2f} s")
    return 0
