"""`cexec`: run commands on (CHROOT set: inside) the filesystem on a disk.

The hub action's variables: BLOCK_DEVICE, FS_TYPE, CHROOT (non-empty: chroot into the
filesystem with /dev, /proc and /sys bound in), DEFAULT_INTERPRETER (split on spaces, with
CMD_LINE appended as one argument: `/bin/sh -c`), else CMD_LINE split on `;` and each part
on spaces, run one after another; UPDATE_RESOLV_CONF (the agent's /etc/resolv.conf bound
over the chroot's). The action's whole environment is the commands' environment, as in the
hub's container. Without CHROOT the filesystem is mounted at /mountAction, where the hub
action mounts it, and the commands run in the agent's own root.

Differences: runs of spaces count as one (the hub's split makes empty words, so
`a; b` fails there); each command's output goes to the worker line by line; a command left
running in the background is stopped when the command itself has ended (as a container's
processes are when it ends), so it neither holds the action up nor the filesystem mounted.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

from agent.actions import ActionContext, ActionError, Then
from agent.actions.envvars import flag, required, text
from agent.actions.inroot import resolve_in_root
from agent.actions.mounting import bound, mounted

MOUNT_ACTION = Path("/mountAction")  # where the hub action mounts BLOCK_DEVICE
BOUND = ("dev", "proc", "sys")
RESOLV_CONF = "etc/resolv.conf"
RESOLV_BACKUP = "etc/.resolv.conf.cexec-backup"
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
OUTPUT_GRACE = 2.0  # seconds to wait for output after the command ended (a daemon holds it)


def commands(cmd_line: str, interpreter: str) -> list[list[str]]:
    """The argv lists to run, by the hub's rules. Pure."""
    if interpreter.strip():
        return [[*interpreter.split(), cmd_line]]
    return [part.split() for part in cmd_line.split(";") if part.strip()]


def _environment(ctx: ActionContext) -> dict[str, str]:
    env = {"PATH": DEFAULT_PATH, "HOME": "/root"}
    env.update(ctx.env)
    return env


def run_command(ctx: ActionContext, argv: list[str], root: Path | None) -> None:
    """Run one command (chrooted into `root` if given); its output goes to ctx.say."""

    def chroot() -> None:  # in the child, between fork and exec
        assert root is not None
        ctx.sys.chroot(str(root))
        os.chdir("/")

    where = " inside BLOCK_DEVICE's filesystem" if root is not None else ""
    ctx.say(f"running: {' '.join(argv)}")
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=_environment(ctx),
            preexec_fn=chroot if root is not None else None,
            start_new_session=True,
            cwd=None if root is not None else "/",
        )
    except (OSError, subprocess.SubprocessError) as e:
        detail = getattr(e, "strerror", None) or str(e)
        raise ActionError(f"cannot run {argv[0]}{where}: {detail}") from None
    assert process.stdout is not None
    reader = threading.Thread(target=_pass_lines, args=(process.stdout, ctx), daemon=True)
    reader.start()
    code = _wait(process, ctx)
    _stop_leftovers(process.pid, argv[0], ctx)
    reader.join(OUTPUT_GRACE)
    if reader.is_alive():
        ctx.say(f"{argv[0]} left a process that still holds its output; not waiting for it")
    if code < 0:
        raise ActionError(f"{' '.join(argv)} was killed by {signal.Signals(-code).name}")
    if code:
        raise ActionError(f"{' '.join(argv)} exited with status {code}")


def _stop_leftovers(group: int, name: str, ctx: ActionContext) -> None:
    """Processes the command left in its process group are stopped, as a container's
    are when it ends; they would hold the mounted filesystem."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return
    ctx.say(f"{name} left processes running; stopping them")
    with contextlib.suppress(ProcessLookupError):
        os.killpg(group, signal.SIGKILL)


def _pass_lines(stream: object, ctx: ActionContext) -> None:
    with contextlib.suppress(OSError, ValueError):
        for raw in stream:  # type: ignore[attr-defined]
            ctx.say(raw.decode(errors="replace").rstrip("\n"))


def _wait(process: subprocess.Popen[bytes], ctx: ActionContext) -> int:
    while True:
        try:
            return process.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            if ctx.cancelled.is_set():
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()
                raise ActionError("cancelled") from None


@contextlib.contextmanager
def _resolv_conf(ctx: ActionContext, root: Path) -> Iterator[None]:
    """The agent's resolv.conf bound over the chroot's. A chroot's own resolv.conf that is
    a symlink (systemd-resolved's) or missing is set aside for the while, as the hub does."""
    target = root / RESOLV_CONF
    if not target.parent.is_dir():
        ctx.say("UPDATE_RESOLV_CONF: the filesystem has no /etc; left as it is")
        yield
        return
    set_aside = os.path.lexists(target) and (target.is_symlink() or not target.is_file())
    if set_aside:
        os.rename(target, root / RESOLV_BACKUP)
    made = set_aside or not os.path.lexists(target)
    if made:
        target.touch()
    try:
        with bound(ctx, "/etc/resolv.conf", target, readonly=True):
            yield
    finally:
        if made:
            target.unlink(missing_ok=True)
        if set_aside:
            os.rename(root / RESOLV_BACKUP, target)


@contextlib.contextmanager
def _chroot_tree(ctx: ActionContext, root: Path, resolv: bool) -> Iterator[None]:
    with contextlib.ExitStack() as stack:
        for name in BOUND:
            place = resolve_in_root(root, name)
            if not place.is_dir():
                raise ActionError(f"the filesystem has no /{name} directory to bind into")
            stack.enter_context(bound(ctx, f"/{name}", place))
        if resolv:
            stack.enter_context(_resolv_conf(ctx, root))
        yield


def run(ctx: ActionContext) -> Then | None:
    env = ctx.env
    device = required(env, "BLOCK_DEVICE", "the partition holding the filesystem")
    cmd_line = required(env, "CMD_LINE", "the command to run")
    chroot = bool(env.get("CHROOT", ""))
    argvs = commands(cmd_line, env.get("DEFAULT_INTERPRETER", ""))
    if not argvs:
        raise ActionError(f"CMD_LINE={cmd_line!r} holds no command")
    resolv = flag(env, "UPDATE_RESOLV_CONF")
    at = None if chroot else MOUNT_ACTION
    with contextlib.ExitStack() as stack:
        root = stack.enter_context(
            mounted(ctx, device, text(env, "FS_TYPE"), "BLOCK_DEVICE", at=at)
        )
        if chroot:
            stack.enter_context(_chroot_tree(ctx, root, resolv))
        for argv in argvs:
            run_command(ctx, argv, root if chroot else None)
    return None
