"""The entrypoint started as a container runtime starts it: each image configuration below
runs `probe` once under `runc run` (bundle by `umoci unpack`) and once under the agent as
PID 1 on the same image made a disk by img-from-container, and what the probe saw must be
the same but for the documented differences (oracle.docker_view, docs/entrypoint.md).

Override rows (`entrypoint=`, `--`) boot the disk of another row; runc runs the image
`docker run --entrypoint … IMAGE ARGS` would run: Entrypoint replaced and Cmd dropped by
`--entrypoint`, Cmd replaced by ARGS.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.agent import oracle

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root: runc, namespaces, loop devices"),
]

POWEROFF = -signal.SIGINT
REBOOT = -signal.SIGHUP
PROBE = "/usr/local/bin/probe"
PATH = "PATH=/usr/local/bin:/bin"


@dataclass(frozen=True)
class Case:
    name: str
    base: str  # a layer of oracle.base_layers
    config: dict[str, object]
    entrypoint: str | None = None  # entrypoint= on the kernel command line
    args: tuple[str, ...] | None = None  # after `--`
    fails_naming: str = ""  # the image must not start, and both must say this

    def docker_config(self) -> dict[str, object]:
        """The config `docker run [--entrypoint E] IMAGE [ARGS]` runs."""
        config = dict(self.config)
        if self.entrypoint is not None:
            config["Entrypoint"] = shlex.split(self.entrypoint)
            config["Cmd"] = list(self.args or ())
        elif self.args is not None:
            config["Cmd"] = list(self.args)
        return config

    def cmdline(self, device: str) -> str:
        line = f"root={device} metalinit.on_exit=poweroff"
        if self.entrypoint is not None:
            line += f' entrypoint="{self.entrypoint}"'
        if self.args is not None:
            line += " -- " + " ".join(self.args)
        return line


BOTH: dict[str, object] = {"Entrypoint": [PROBE, "e1"], "Cmd": ["c1", "c2"], "Env": [PATH]}
CASES = [
    Case("scratch, no User, no Env", "scratch", {"Entrypoint": ["/probe"]}),
    Case("scratch, User a number", "scratch", {"Entrypoint": ["/probe"], "User": "1000"}),
    Case("scratch, User uid:gid", "scratch", {"Cmd": ["/probe", "a"], "User": "1000:2000"}),
    Case("scratch, User a name", "scratch", {"Cmd": ["/probe"], "User": "app"}, fails_naming="app"),
    Case("no User, passwd has root", "busybox", {"Cmd": ["probe"], "Env": [PATH]}),
    Case("User a number in passwd", "busybox", {"Cmd": ["probe"], "Env": [PATH], "User": "1000"}),
    Case("User uid:gid", "busybox", {"Cmd": ["probe"], "Env": [PATH], "User": "1000:50"}),
    Case("User a name", "busybox", {"Cmd": ["probe"], "Env": [PATH], "User": "web"}),
    Case("User name:group", "busybox", {"Cmd": ["probe"], "Env": [PATH], "User": "app:staff"}),
    Case("User name:gid", "busybox", {"Cmd": ["probe"], "Env": [PATH], "User": "web:4321"}),
    Case("User name, groups in /etc/group", "busybox", {"Cmd": ["probe"], "User": "app"}),
    Case("User name not in passwd", "busybox", {"Cmd": ["probe"], "User": "nosuch"},
         fails_naming="nosuch"),
    Case("User group not in /etc/group", "busybox", {"Cmd": ["probe"], "User": "app:wheel"},
         fails_naming="wheel"),
    Case("Env without PATH", "busybox", {"Entrypoint": ["probe"], "Env": ["GREETING=hi there"]}),
    Case("Env with HOME", "busybox", {"Cmd": ["probe"], "Env": [PATH, "HOME=/data"]}),
    Case("Env with HOME, User a name", "busybox",
         {"Cmd": ["probe"], "Env": ["HOME=/data"], "User": "app"}),
    Case("Env with empty HOME", "busybox", {"Cmd": ["probe"], "Env": ["HOME="], "User": "web"}),
    Case("Env names twice, HOSTNAME, TERM", "busybox",
         {"Cmd": ["probe"], "Env": ["A=1", "A=2", "HOSTNAME=from-image", "TERM=dumb", "B=x=y"]}),
    Case("WorkingDir missing", "busybox",
         {"Cmd": ["probe"], "WorkingDir": "/srv/new/deep", "User": "app"}),
    Case("WorkingDir existing, not cleaned", "busybox",
         {"Cmd": ["probe"], "WorkingDir": "/home//app/", "User": "app"}),
    Case("Entrypoint only", "busybox", {"Entrypoint": [PROBE, "e1", "two words"]}),
    Case("Cmd only", "busybox", {"Cmd": [PROBE, "c1"]}),
    Case("Entrypoint and Cmd", "busybox", BOTH),
    Case("shell-form Entrypoint", "busybox",
         {"Entrypoint": ["/bin/sh", "-c", 'exec probe "$@"', "sh"], "Cmd": ["s1"], "Env": [PATH]}),
    Case("entrypoint= override", "busybox", BOTH, entrypoint=PROBE),
    Case("entrypoint= with arguments", "busybox", BOTH, entrypoint=f"{PROBE} o1 o2"),
    Case("-- override", "busybox", BOTH, args=("x", "y")),
    Case("entrypoint= and --", "busybox", BOTH, entrypoint=PROBE, args=("x",)),
]  # fmt: skip


@dataclass(frozen=True)
class Built:
    layouts: Path
    disks: Path
    layers: dict[str, bytes]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    work = tmp_path_factory.mktemp("oracle")
    probe = oracle.build_probe(work / "probe")
    return Built(work / "layouts", work / "disks", oracle.base_layers(probe.read_bytes()))


def _key(base: str, config: dict[str, object]) -> str:
    return hashlib.sha256(json.dumps([base, config], sort_keys=True).encode()).hexdigest()[:16]


def layout_for(built: Built, base: str, config: dict[str, object]) -> Path:
    """One OCI layout per (base, config), made once and shared by the rows that use it."""
    dest = built.layouts / _key(base, config)
    if not (dest / "index.json").exists():
        oracle.make_layout(dest, built.layers[base], config)
    return dest


def disk_for(built: Built, base: str, config: dict[str, object]) -> Path:
    """The layout made a disk by img-from-container, once per (base, config)."""
    disk = built.disks / (_key(base, config) + ".img")
    if not disk.exists():
        built.disks.mkdir(parents=True, exist_ok=True)
        layout = layout_for(built, base, config)
        subprocess.run(
            [sys.executable, "-m", "rootfs_tools.cli", f"oci:{layout}:latest", "-o", str(disk),
             "--cache-dir", str(built.disks / "cache"), "--quiet"],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return disk


@pytest.fixture
def loop() -> Iterator[list[str]]:
    attached: list[str] = []
    yield attached
    for device in attached:
        subprocess.run(["losetup", "-d", device], check=False)


def attach(disk: Path, attached: list[str]) -> str:
    device = subprocess.run(
        ["losetup", "-f", "--show", str(disk)], capture_output=True, text=True, check=True
    ).stdout.strip()
    attached.append(device)
    return device


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_agent_starts_the_image_as_docker_would(
    case: Case, built: Built, loop: list[str], tmp_path: Path
) -> None:
    runc = oracle.runc_run(layout_for(built, case.base, case.docker_config()), tmp_path)
    device = attach(disk_for(built, case.base, case.config), loop)
    code, output = oracle.agent_run(case.cmdline(device))
    seen = oracle.parse_probe(output)
    if case.fails_naming:
        assert runc.seen is None and case.fails_naming in runc.error, runc
        assert seen is None, output
        assert "stage 'run_entrypoint' failed" in output, output
        why = f"error: stage 'run_entrypoint' failed: .*'{case.fails_naming}'"
        assert re.search(why, output), output  # the log line carries the reason
        assert "rescue shell exited" in output
        assert code == REBOOT
        return
    assert runc.seen is not None, runc.error
    assert seen is not None, output
    env = case.docker_config().get("Env")
    expected = oracle.docker_view(runc.seen, list(env) if isinstance(env, list) else [])
    assert seen == expected, f"runc saw {runc.seen}\nagent output:\n{output}"
    assert code == POWEROFF, output
