"""One container action's whole life, inside the runner's child (which is already in the
attempt's cgroup and a private mount namespace with a tmpfs at ctx.scratch).

pull into the tmpfs → plan (argv, env, user, volumes) → /etc/hostname, hosts and
resolv.conf → create (namespaces) → start (mounts, root switch, exec) → wait. The
container's exit code is the action's. Everything it made dies with the namespaces.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from agent.actions import ActionContext
from agent.container import create
from agent.container.paths import scoped_join
from agent.container.pull import pull_into
from agent.container.spec import plan
from agent.supervise import exit_code

HOST_FILES = ("resolv.conf", "hosts")


def _read_in(tree: Path, path: str) -> str | None:
    """The file's text as the image sees it, or None when the image has no such file."""
    try:
        return Path(scoped_join(str(tree), path)).read_text(errors="replace")
    except OSError:
        return None


def _put(etc: str, name: str, text: str) -> None:
    path = os.path.join(etc, name)
    if os.path.islink(path) or os.path.isfile(path):
        os.unlink(path)  # a symlink (into /run, say) is replaced, not followed
    elif os.path.lexists(path):
        return  # a directory: the image's own business
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
    with os.fdopen(fd, "w") as out:
        out.write(text)


def write_etc(tree: Path, hostname: str) -> None:
    """What Docker's host network gives a container: the host's resolv.conf and hosts (the
    latter naming the container's hostname), and its own /etc/hostname."""
    etc = scoped_join(str(tree), "/etc")
    os.makedirs(etc, exist_ok=True)
    _put(etc, "hostname", hostname + "\n")
    hosts = _read_in(Path("/"), "/etc/hosts") or "127.0.0.1\tlocalhost\n::1\tlocalhost\n"
    _put(etc, "hosts", hosts.rstrip("\n") + f"\n127.0.1.1\t{hostname}\n")
    resolv = _read_in(Path("/"), "/etc/resolv.conf")
    if resolv:
        _put(etc, "resolv.conf", resolv)


def run_container(ctx: ActionContext) -> int:
    tree = ctx.scratch / "rootfs"
    image = pull_into(ctx, tree, ctx.scratch / "blobs")
    spec = plan(
        name=ctx.name,
        image=image,
        command=ctx.command,
        env=ctx.env,
        volumes=ctx.volumes,
        pid=ctx.pid,
        passwd=_read_in(tree, "/etc/passwd"),
        group=_read_in(tree, "/etc/group"),
    )
    write_etc(tree, spec.hostname)
    launch = spec.launch
    what = shlex.join(launch.argv)
    ctx.say(
        f"metalinit: starting {what} (uid {launch.uid}, gid {launch.gid}, cwd {launch.cwd}"
        + (", host PID namespace)" if spec.share_pid else ")")
    )
    created = create.create(ctx.sys, spec, str(tree), ctx.say)
    create.start(created, what)
    _, status = os.waitpid(created.pid, 0)
    return exit_code(status)
