"""What to run in the new root, decided as a container runtime would. Pure.

`entrypoint=` replaces the image's Entrypoint and drops its Cmd (`docker run --entrypoint`);
arguments after `--` replace Cmd. The user is resolved through the root's own /etc/passwd
and /etc/group text, never the initramfs's.
"""

from __future__ import annotations

from dataclasses import dataclass

from agent.cmdline import BootParams
from agent.errors import AgentError
from rootfs_tools.image_config import ImageConfig

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class EntrypointError(AgentError):
    pass


@dataclass(frozen=True)
class Launch:
    argv: tuple[str, ...]
    env: dict[str, str]
    cwd: str = "/"
    uid: int = 0
    gid: int = 0
    groups: tuple[int, ...] = ()

    @property
    def path_env(self) -> str:
        return self.env.get("PATH", DEFAULT_PATH)


@dataclass(frozen=True)
class PasswdEntry:
    name: str
    uid: int
    gid: int
    home: str


def choose_argv(params: BootParams, image: ImageConfig | None) -> tuple[str, ...]:
    if params.entrypoint is not None:
        return params.entrypoint + (params.init_args or ())
    if image is None:
        raise EntrypointError(
            "nothing to run: the root has no /.metalinit/image.json and the kernel command "
            "line has no entrypoint= (add entrypoint=/path/to/program, or make the disk "
            "with img-from-container)"
        )
    cmd = params.init_args if params.init_args is not None else image.cmd
    argv = image.entrypoint + cmd
    if not argv:
        raise EntrypointError("the image's config has neither Entrypoint nor Cmd: add entrypoint=")
    return argv


def parse_passwd(text: str) -> list[PasswdEntry]:
    entries = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 7 and fields[2].isdigit() and fields[3].isdigit():
            entries.append(PasswdEntry(fields[0], int(fields[2]), int(fields[3]), fields[5]))
    return entries


def parse_group(text: str) -> list[tuple[str, int, tuple[str, ...]]]:
    groups = []
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 4 and fields[2].isdigit():
            members = tuple(m for m in fields[3].split(",") if m)
            groups.append((fields[0], int(fields[2]), members))
    return groups


def resolve_user(user: str, passwd: str, group: str) -> tuple[int, int, tuple[int, ...], str]:
    """`name`, `uid`, `name:group`, `uid:gid` → (uid, gid, supplementary gids, home)."""
    if not user:
        user = "root"
    name, _, group_part = user.partition(":")
    users = parse_passwd(passwd)
    groups = parse_group(group)
    entry = next((e for e in users if e.name == name or str(e.uid) == name), None)
    if entry is None:
        if not name.isdigit():
            raise EntrypointError(f"user {name!r} is not in the root's /etc/passwd")
        entry = PasswdEntry(name, int(name), 0, "/")
    gid = entry.gid
    if group_part:
        found = next((g for g in groups if g[0] == group_part or str(g[1]) == group_part), None)
        if found is None and not group_part.isdigit():
            raise EntrypointError(f"group {group_part!r} is not in the root's /etc/group")
        gid = found[1] if found else int(group_part)
    extra = tuple(sorted({gid} | {g[1] for g in groups if entry.name in g[2]}))
    return entry.uid, gid, extra, entry.home or "/"


def build_env(image_env: tuple[str, ...], home: str) -> dict[str, str]:
    env: dict[str, str] = {}
    for item in image_env:
        key, sep, value = item.partition("=")
        if sep and key:
            env[key] = value
    env.setdefault("PATH", DEFAULT_PATH)
    env.setdefault("HOME", home)
    env.setdefault("TERM", "linux")
    return env


def plan_launch(
    params: BootParams, image: ImageConfig | None, passwd: str = "", group: str = ""
) -> Launch:
    argv = choose_argv(params, image)
    uid, gid, groups, home = resolve_user(image.user if image else "", passwd, group)
    env = build_env(image.env if image else (), home)
    cwd = (image.working_dir if image else "") or "/"
    return Launch(argv=argv, env=env, cwd=cwd, uid=uid, gid=gid, groups=groups)
