"""What a container action runs, decided as Docker would for Tinkerbell's worker. Pure.

argv is the image's Entrypoint followed by the action's `command`, or by the image's Cmd
when the action gives none (Tinkerbell passes `command` as the Cmd). The environment is
Docker's for a container without a terminal (PATH and HOSTNAME defaults, the image's Env
over them, HOME from the user), then the action's own environment on top. User and groups
come from the image's /etc/passwd and /etc/group, through the same resolution as a booted
image's entrypoint (`agent.entrypoint`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from agent.container import ContainerError
from agent.container.volumes import Volume, parse_volumes
from agent.entrypoint import EntrypointError, Launch, build_env, resolve_user, working_dir
from rootfs_tools.image_config import ImageConfig

HOST_NAME_MAX = 64  # bytes, as the kernel's UTS name
PID_MODES = ("", "host")


@dataclass(frozen=True)
class Spec:
    launch: Launch
    hostname: str
    volumes: tuple[Volume, ...]
    share_pid: bool  # `pid: host`: no PID namespace of its own


def hostname_for(action_name: str) -> str:
    """The action's name, cut to what the kernel keeps (whole characters only)."""
    raw = action_name.encode()[:HOST_NAME_MAX]
    return raw.decode("utf-8", "ignore") or "action"


def plan(
    *,
    name: str,
    image: ImageConfig,
    command: tuple[str, ...] = (),
    env: Mapping[str, str] | None = None,
    volumes: tuple[str, ...] = (),
    pid: str = "",
    passwd: str | None = None,
    group: str | None = None,
) -> Spec:
    """`passwd` and `group`: the image's files' text, None when it has no such file."""
    if pid not in PID_MODES:
        raise ContainerError(f"pid: {pid!r} is not supported: leave it out, or say host")
    argv = image.entrypoint + (command or image.cmd)
    if not argv:
        raise ContainerError(
            "nothing to run: the image has neither Entrypoint nor Cmd and the action gives "
            "no command"
        )
    try:
        user = resolve_user(image.user, passwd, group)
        cwd = working_dir(image)
    except EntrypointError as err:
        raise ContainerError(f"the image's config: {err}") from None
    hostname = hostname_for(name)
    full_env = {**build_env(image.env, user.home, hostname=hostname), **(env or {})}
    launch = Launch(argv, full_env, cwd, user.uid, user.gid, user.groups)
    return Spec(launch, hostname, parse_volumes(volumes), share_pid=pid == "host")
