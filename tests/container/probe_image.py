"""The container tests' action image, built here from Debian's busybox-static.

One gzip layer: /bin/busybox with a link per applet, /bin/probe (the entrypoint), and
/etc/passwd and /etc/group naming a user `tester` (1234) who is also in group `extra`
(2000). Three tags share the layer and differ in their config:

- `latest`: Entrypoint [/bin/probe, entry], Cmd [default, cmd], User tester, WorkingDir
  /work/dir (not in the image: the runtime creates it), Env with PATH and two variables;
- `root`: the same, with no User (so root);
- `broken`: an Entrypoint that does not exist.

/bin/probe prints its argv, or with `script TEXT` runs TEXT with sh in its place (so the
shell keeps the entrypoint's pid).
"""

from __future__ import annotations

import subprocess
import tarfile
from collections.abc import Callable
from pathlib import Path

from tests.rootfs_tools.images import BUSYBOX, D, Entry, gz, layer_tar, write_layout

REPOSITORY = "metalinit-test/probe"
PROBE = b"""#!/bin/sh
echo "entrypoint: $0 $1"
shift
if [ "$1" = script ]; then exec /bin/sh -c "$2"; fi
for a in "$@"; do echo "arg: $a"; done
"""
PASSWD = b"root:x:0:0:root:/root:/bin/sh\ntester:x:1234:1234:tester:/home/tester:/bin/sh\n"
GROUP = b"root:x:0:\ntester:x:1234:\nextra:x:2000:tester\n"
ENV = ["PATH=/bin", "FROM_IMAGE=image", "OVERRIDDEN=by the image"]
CONFIGS: dict[str, dict[str, object]] = {
    "latest": {
        "Entrypoint": ["/bin/probe", "entry"],
        "Cmd": ["default", "cmd"],
        "Env": ENV,
        "WorkingDir": "/work/dir",
        "User": "tester",
    },
    "root": {"Entrypoint": ["/bin/probe", "entry"], "Cmd": ["default"], "Env": ENV},
    "broken": {"Entrypoint": ["/bin/nonexistent"], "Env": ENV},
}


def _layer() -> bytes:
    applets = subprocess.run(
        [str(BUSYBOX), "--list"], capture_output=True, text=True, check=True
    ).stdout.split()
    entries = [
        D("bin"),
        D("etc"),
        D("tmp", 0o1777),
        D("home"),
        D("home/tester", 0o755, 1234, 1234),
        Entry("bin/busybox", data=BUSYBOX.read_bytes(), mode=0o755),
        Entry("bin/probe", data=PROBE, mode=0o755),
        Entry("etc/passwd", data=PASSWD),
        Entry("etc/group", data=GROUP),
    ]
    entries += [
        Entry(f"bin/{name}", tarfile.SYMTYPE, link="busybox", mode=0o777)
        for name in applets
        if name not in ("busybox", "probe")
    ]
    return layer_tar(entries)


def push_probe(registry_push: Callable[[str, str], str], work: Path) -> dict[str, str]:
    """Build each tag as an OCI layout and push it; returns tag → reference."""
    layer = _layer()
    refs = {}
    for tag, config in CONFIGS.items():
        layout = write_layout(work / tag, [layer], [gz], config, tag=tag)
        refs[tag] = registry_push(f"oci:{layout}:{tag}", f"{REPOSITORY}:{tag}")
    return refs
