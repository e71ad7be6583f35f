"""The entrypoint's oracle: one image started by a real runtime (`umoci unpack` + `runc run`)
and by the agent (PID 1 of a PID namespace, on the same image made a disk by
img-from-container), each time running `probe` (probe.c), which prints what it was given.

`docker_view` turns what runc showed into what Docker would show, by exactly the differences
docs/entrypoint.md lists; the agent must show that.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import tarfile
import uuid
from dataclasses import dataclass, replace
from pathlib import Path

from tests.rootfs_tools import images
from tests.rootfs_tools.images import Entry

PROBE_SOURCE = Path(__file__).with_name("probe.c")
PASSWD = """root:x:0:0:root:/root:/bin/sh
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin
app:x:1000:1000:app:/home/app:/bin/sh
web:x:1001:1001::/var/www:/bin/sh
"""
GROUP = """root:x:0:
daemon:x:1:
audio:x:29:app,web
video:x:44:app
staff:x:50:web
app:x:1000:
web:x:1001:
"""


def build_probe(dest: Path) -> Path:
    subprocess.run(
        ["gcc", "-static", "-Os", "-s", "-o", str(dest), str(PROBE_SOURCE)],
        check=True,
        capture_output=True,
    )
    return dest


def base_layers(probe: bytes) -> dict[str, bytes]:
    """Layer tars: `scratch` is a static binary and nothing else (FROM scratch); `busybox`
    has busybox-static, /etc/passwd and /etc/group, and the probe on the default PATH."""
    D = images.D
    busybox = images.BUSYBOX.read_bytes()
    return {
        "scratch": images.layer_tar([Entry("probe", data=probe, mode=0o755)]),
        "busybox": images.layer_tar(
            [
                D("bin"),
                D("etc"),
                D("home"),
                D("home/app", 0o750, 1000, 1000),
                D("root", 0o700),
                D("tmp", 0o1777),
                D("usr"),
                D("usr/local"),
                D("usr/local/bin"),
                Entry("bin/busybox", data=busybox, mode=0o755),
                Entry("bin/sh", tarfile.SYMTYPE, link="busybox", mode=0o777),
                Entry("etc/passwd", data=PASSWD.encode()),
                Entry("etc/group", data=GROUP.encode()),
                Entry("usr/local/bin/probe", data=probe, mode=0o755),
            ]
        ),
    }


def make_layout(dest: Path, layer: bytes, config: dict[str, object]) -> Path:
    blob = images.gz(layer)
    return images.write_layout(dest, [layer], [lambda _tar: blob], config)


@dataclass(frozen=True)
class Seen:
    """What the probe printed: the process as it was started."""

    argv: tuple[str, ...]
    env: tuple[str, ...]  # sorted NAME=VALUE entries, duplicates kept
    uid: str
    gid: str
    groups: tuple[int, ...]  # as getgroups(2) returns them: sorted by the kernel
    cwd: str
    cwd_stat: str
    umask: str
    nodename: str

    def env_dict(self) -> dict[str, str]:
        return dict(item.partition("=")[::2] for item in self.env)


def _unescape(text: str) -> str:
    return text.replace("\\n", "\n").replace("\\\\", "\\")


def parse_probe(output: str) -> Seen | None:
    """The probe's lines out of everything on the console, or None if it did not finish."""
    facts: dict[str, list[str]] = {}
    for line in output.splitlines():
        if line.startswith("probe|"):
            _, key, value = line.split("|", 2)
            facts.setdefault(key, []).append(_unescape(value))
    if "end" not in facts:
        return None
    one = {key: values[0] for key, values in facts.items()}
    return Seen(
        argv=tuple(facts["argv"]),
        env=tuple(sorted(facts.get("env", []))),
        uid=one["uid"],
        gid=one["gid"],
        groups=tuple(int(g) for g in one["groups"].split()),
        cwd=one["cwd"],
        cwd_stat=one.get("cwd_stat", ""),
        umask=one["umask"],
        nodename=one["nodename"],
    )


@dataclass(frozen=True)
class RuncResult:
    seen: Seen | None
    error: str  # umoci's or runc's complaint when the image does not start


def runc_run(layout: Path, work: Path) -> RuncResult:
    """`umoci unpack` then `runc run`, with no terminal and the host's hostname (Docker gives
    a container a hostname and HOSTNAME; the agent sees the machine's, here the host's)."""
    bundle = work / "bundle"
    unpacked = subprocess.run(
        ["umoci", "unpack", "--image", f"{layout}:latest", str(bundle)],
        capture_output=True,
        text=True,
        check=False,
    )
    if unpacked.returncode != 0:
        return RuncResult(None, unpacked.stderr)
    config_path = bundle / "config.json"
    spec = json.loads(config_path.read_text())
    spec["process"]["terminal"] = False
    spec["hostname"] = socket.gethostname()
    config_path.write_text(json.dumps(spec))
    name = f"metalinit-oracle-{uuid.uuid4().hex[:12]}"
    try:
        done = subprocess.run(
            ["runc", "run", "--bundle", str(bundle), name],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        subprocess.run(["runc", "delete", "--force", name], capture_output=True, check=False)
    return RuncResult(parse_probe(done.stdout), done.stderr)


def agent_run(cmdline: str, timeout: float = 60) -> tuple[int, str]:
    """The agent as PID 1 of a private PID + mount namespace (as tests/agent/test_pid1.py)."""
    proc = subprocess.run(
        ["unshare", "--mount", "--pid", "--fork", "--kill-child", "--mount-proc",
         "--propagation", "private", sys.executable, "-m", "agent", f"--cmdline={cmdline}"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )  # fmt: skip
    return proc.returncode, proc.stdout + proc.stderr


def docker_view(runc: Seen, image_env: list[str]) -> Seen:
    """What Docker shows for the image runc showed `runc` for; each step is one documented
    difference (docs/entrypoint.md), the only ones the comparison allows."""
    env = runc.env_dict()
    own = {item.partition("=")[0]: item.partition("=")[2] for item in image_env if "=" in item}
    # umoci's runtime-spec template is made for a terminal and sets TERM=xterm; `docker run`
    # sets TERM only with -t. The agent's entrypoint has the console: TERM=linux, as the
    # kernel gives init.
    if "TERM" not in own:
        env["TERM"] = "linux"
    # Docker sets HOSTNAME to the container's hostname; runc sets none.
    if "HOSTNAME" not in own:
        env["HOSTNAME"] = runc.nodename
    # umoci writes the passwd entry's HOME over the image's own; Docker keeps the image's
    # (runc fills HOME only when it is unset or empty).
    if own.get("HOME"):
        env["HOME"] = own["HOME"]
    # Docker passes the primary gid as a supplementary group too; umoci does not.
    gid = int(runc.gid.split()[0])
    return replace(
        runc,
        env=tuple(sorted(f"{k}={v}" for k, v in env.items())),
        groups=tuple(sorted((*runc.groups, gid))),
    )
