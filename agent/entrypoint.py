"""What to run in the new root, decided as Docker would decide it. Pure.

`entrypoint=` replaces the image's Entrypoint and drops its Cmd (`docker run --entrypoint`);
arguments after `--` replace Cmd. The user is resolved through the root's own /etc/passwd
and /etc/group text, never the initramfs's, by the rules of runc's libcontainer/user (which
Docker, umoci and runc share): no User is uid 0, a number needs no passwd entry, and a name
brings its /etc/group memberships unless a group is given. A root with no /etc/passwd (every
`FROM scratch` image) is normal and runs as uid 0, gid 0, HOME=/.

Where Docker and a bare runtime differ, Docker wins (docs/entrypoint.md has the table):
PATH defaults to DEFAULT_PATH, HOSTNAME is set, the primary gid is also a supplementary
group, and a missing WorkingDir is created (by spawn). The container-action runtime uses the
same functions for an action image's User, Env and WorkingDir.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import NamedTuple

from agent.cmdline import BootParams
from agent.errors import AgentError
from rootfs_tools.image_config import ImageConfig

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CONSOLE_TERM = "linux"  # the kernel's TERM for init: the entrypoint's terminal is the console
MAX_ID = 2**31 - 1  # libcontainer's range for a numeric uid or gid
NO_HOSTNAME = ("", "(none)")  # the kernel's nodename before anyone set one


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
        """The PATH argv[0] is looked up in; none if the environment has none (as runc)."""
        return self.env.get("PATH", "")


class PasswdEntry(NamedTuple):
    name: str
    uid: int
    gid: int
    home: str


class GroupEntry(NamedTuple):
    name: str
    gid: int
    members: tuple[str, ...]


class ExecUser(NamedTuple):
    uid: int
    gid: int
    groups: tuple[int, ...]  # setgroups(2) list: the primary gid first, as Docker passes it
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


def _number(text: str) -> int | None:
    return int(text) if text.isascii() and text.isdigit() else None


def _fields(text: str | None) -> list[list[str]]:
    return [line.strip().split(":") for line in (text or "").splitlines() if line.strip()]


def parse_passwd(text: str | None) -> list[PasswdEntry]:
    """name:password:uid:gid:gecos:home:shell; lines whose uid or gid is no number are skipped."""
    entries = []
    for f in _fields(text):
        uid, gid = (_number(f[2]), _number(f[3])) if len(f) >= 4 else (None, None)
        if uid is not None and gid is not None:
            entries.append(PasswdEntry(f[0], uid, gid, f[5] if len(f) > 5 else ""))
    return entries


def parse_group(text: str | None) -> list[GroupEntry]:
    """name:password:gid:member,member,…"""
    groups = []
    for f in _fields(text):
        gid = _number(f[2]) if len(f) >= 3 else None
        if gid is not None:
            members = f[3].split(",") if len(f) > 3 else []
            groups.append(GroupEntry(f[0], gid, tuple(m.strip() for m in members if m.strip())))
    return groups


def _in_range(value: int, what: str, spec: str) -> int:
    if value > MAX_ID:
        raise EntrypointError(f"User {spec!r}: {what} {value} is out of range (0 to {MAX_ID})")
    return value


def _explicit_gid(group_arg: str, groups: list[GroupEntry], group: str | None, spec: str) -> int:
    number = _number(group_arg)
    if number is not None:  # a number is always a gid
        return _in_range(number, "gid", spec)
    found = next((g for g in groups if g.name == group_arg), None)
    if found is not None:
        return found.gid
    if group is None:
        raise EntrypointError(
            f"group {group_arg!r} (User {spec!r}) cannot be looked up: the root has no "
            "/etc/group; give the group as a number"
        )
    raise EntrypointError(
        f"group {group_arg!r} (User {spec!r}) is not in the root's /etc/group; give it as a "
        "number, or as a group the image's /etc/group has"
    )


def resolve_user(user: str, passwd: str | None = None, group: str | None = None) -> ExecUser:
    """`name`, `uid`, `name:group`, `uid:gid`, or nothing → (uid, gid, groups, home).

    `passwd` and `group` are the root's files' text, None when the file does not exist.
    """
    user_arg, group_arg = [*user.split(":"), ""][:2]
    users = parse_passwd(passwd)
    groups = parse_group(group)
    number = _number(user_arg)
    if user_arg == "":
        entry = next((e for e in users if e.uid == 0), None)
    elif number is not None:  # a number is always a uid, even if a user has it as a name
        entry = next((e for e in users if e.uid == number), None)
    else:
        entry = next((e for e in users if e.name == user_arg), None)
    if entry is not None:
        uid, gid = entry.uid, entry.gid
    elif user_arg == "":
        uid, gid = 0, 0
    elif number is not None:
        uid, gid = _in_range(number, "uid", user), 0
    elif passwd is None:
        raise EntrypointError(
            f"user {user_arg!r} cannot be looked up: the root has no /etc/passwd; "
            "give User as a number (e.g. 1000 or 1000:1000), which needs no entry"
        )
    else:
        raise EntrypointError(
            f"user {user_arg!r} is not in the root's /etc/passwd; give User as a name the "
            "image's /etc/passwd has, or as a number (which needs no entry)"
        )
    supplementary: list[int] = []
    if group_arg:
        gid = _explicit_gid(group_arg, groups, group, user)
    elif entry is not None:  # memberships only come with a user name and no explicit group
        supplementary = [g.gid for g in groups if entry.name in g.members]
    # HOME is what runc would set: the first entry with the final uid, else /.
    home = next((e.home for e in users if e.uid == uid), "/")
    return ExecUser(uid, gid, (gid, *supplementary), home)


def build_env(
    image_env: tuple[str, ...], home: str, *, hostname: str = "", term: str = ""
) -> dict[str, str]:
    """Docker's environment: its defaults, the image's Env over them, then HOME if unset.

    An Env entry without `=` unsets one of Docker's defaults (PATH, HOSTNAME, TERM) and is
    otherwise ignored; a later entry for a name replaces an earlier one.
    """
    env = {"PATH": DEFAULT_PATH}
    if hostname not in NO_HOSTNAME:
        env["HOSTNAME"] = hostname
    if term:
        env["TERM"] = term
    defaults = set(env)
    for item in image_env:
        key, sep, value = item.partition("=")
        if not sep:
            if key in defaults:
                env.pop(key, None)
        elif key:
            env[key] = value
    if not env.get("HOME"):
        env["HOME"] = home
    return env


def working_dir(image: ImageConfig | None) -> str:
    path = image.working_dir if image else ""
    if not path:
        return "/"
    if not path.startswith("/"):
        raise EntrypointError(
            f"the image's WorkingDir {path!r} is not an absolute path (Docker refuses it too)"
        )
    return "/" + posixpath.normpath(path).lstrip("/")  # Go's filepath.Clean: one leading /


def plan_launch(
    params: BootParams,
    image: ImageConfig | None,
    passwd: str | None = None,
    group: str | None = None,
    *,
    hostname: str = "",
) -> Launch:
    """The boot's entrypoint: on the console, so TERM is the console's."""
    argv = choose_argv(params, image)
    user = resolve_user(image.user if image else "", passwd, group)
    env = build_env(image.env if image else (), user.home, hostname=hostname, term=CONSOLE_TERM)
    return Launch(argv, env, working_dir(image), user.uid, user.gid, user.groups)
