"""Create and start a container, runc's split: the parent forks a child into new
namespaces, the child says it is there and waits on a pipe; once the parent lets it go it
mounts, switches root, names its host, takes its user and execs.

Three close-on-exec pipes: `ready` (child → parent: the namespaces exist), `go` (parent →
child: start) and `failed` (child → parent: why it could not start; EOF means the exec
succeeded). The PID namespace is the parent's to make (unshare applies to the next child,
which becomes its PID 1); mount, UTS and IPC are the child's.

The root switch is pivot_root, and the old root is detached. The initramfs's rootfs cannot
be pivoted away from (EINVAL), so there the new root is moved over / and chrooted into,
as switch_root does; for a privileged container, which could leave either, it is the same.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

from agent.container import ContainerError
from agent.container import mounts as container_mounts
from agent.container.spec import Spec
from agent.entrypoint import Launch
from agent.spawn import exit_code_for_errno, find_program
from agent.syscalls import (
    CLONE_NEWIPC,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUTS,
    MNT_DETACH,
    MS_BIND,
    MS_MOVE,
    MS_REC,
    MS_SLAVE,
    SyscallError,
    Syscalls,
)

EXIT_SETUP_FAILED = 125  # as Docker says when the container itself could not run
GO = b"g"


@dataclass(frozen=True)
class Created:
    pid: int  # the container's first process, as the host numbers it
    go_fd: int
    failed_fd: int


def _read_all(fd: int) -> str:
    chunks = []
    while chunk := os.read(fd, 4096):
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def prepare_root(sys: Syscalls, spec: Spec, root: str, say: Callable[[str], None]) -> None:
    """Every mount of the container, then its hostname (in its own namespaces)."""
    sys.mount("none", "/", None, MS_REC | MS_SLAVE)  # nothing below reaches the host
    sys.mount(root, root, None, MS_BIND | MS_REC)  # pivot_root wants a mount point
    for mount in container_mounts.table(spec.volumes):
        container_mounts.apply(sys, root, mount, say)
    sys.sethostname(spec.hostname)


def enter_root(sys: Syscalls, root: str) -> None:
    os.chdir(root)
    try:
        sys.pivot_root(".", ".")  # the old root ends up stacked on "."; detach it
    except SyscallError as err:
        if err.errno != errno.EINVAL:
            raise
        sys.mount(root, "/", None, MS_MOVE)  # the initramfs's rootfs
        sys.chroot(".")
    else:
        sys.mount("none", ".", None, MS_REC | MS_SLAVE)
        sys.umount(".", MNT_DETACH)
    os.chdir("/")


def become(launch: Launch) -> NoReturn:
    os.makedirs(launch.cwd, exist_ok=True)  # as runc does for a missing WorkingDir
    os.chdir(launch.cwd)
    os.setgroups(list(launch.groups))
    os.setgid(launch.gid)
    os.setuid(launch.uid)
    program = find_program(launch.argv[0], launch.path_env)
    os.execve(program, list(launch.argv), launch.env)


def _container(
    sys: Syscalls, spec: Spec, root: str, fds: tuple[int, int, int], say: Callable[[str], None]
) -> NoReturn:
    ready_w, go_r, failed_w = fds
    code = EXIT_SETUP_FAILED
    try:
        sys.unshare(CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC)
        os.write(ready_w, b"1")
        os.close(ready_w)
        if os.read(go_r, 1) != GO:
            os._exit(code)  # the parent went away
        os.close(go_r)
        prepare_root(sys, spec, root, say)
        enter_root(sys, root)
        become(spec.launch)
    except BaseException as err:
        if isinstance(err, OSError) and not isinstance(err, SyscallError):
            code = exit_code_for_errno(err.errno or 0)
        reason = err.strerror if isinstance(err, OSError) and err.strerror else str(err)
        try:
            os.write(failed_w, f"{code}:{reason}".encode(errors="replace"))
        except OSError:
            pass
    finally:
        os._exit(code)


def create(sys: Syscalls, spec: Spec, root: str, say: Callable[[str], None]) -> Created:
    """Fork the container's first process and wait until its namespaces exist."""
    if not spec.share_pid:
        sys.unshare(CLONE_NEWPID)
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    failed_r, failed_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:  # pragma: no cover - ends in exec or os._exit
        for fd in (ready_r, go_w, failed_r):
            os.close(fd)
        _container(sys, spec, root, (ready_w, go_r, failed_w), say)
    for fd in (ready_w, go_r, failed_w):
        os.close(fd)
    created = os.read(ready_r, 1)
    os.close(ready_r)
    if not created:
        reason = _read_all(failed_r).partition(":")[2]
        os.close(go_w)
        os.waitpid(pid, 0)
        raise ContainerError(f"cannot create the container's namespaces: {reason}")
    return Created(pid, go_w, failed_r)


def start(created: Created, what: str) -> None:
    """Let the created container go; returns once it has exec'd `what`."""
    os.write(created.go_fd, GO)
    os.close(created.go_fd)
    failure = _read_all(created.failed_fd)
    if failure:
        os.waitpid(created.pid, 0)
        code, _, reason = failure.partition(":")
        raise ContainerError(
            f"cannot start {what}: {reason}", int(code) if code.isdigit() else None
        )
