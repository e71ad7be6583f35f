"""image.json + kernel arguments → argv, env, working directory and user."""

from __future__ import annotations

import json

import pytest

from agent import cmdline
from agent.entrypoint import DEFAULT_PATH, EntrypointError, build_env, plan_launch, resolve_user
from rootfs_tools.image_config import ImageConfigError, parse

PASSWD = """root:x:0:0:root:/root:/bin/sh
nginx:x:101:101:nginx:/var/lib/nginx:/usr/sbin/nologin
app:x:1000:1000::/home/app:/bin/sh
broken line
"""
GROUP = """root:x:0:
nginx:x:101:
app:x:1000:
video:x:44:app,nginx
disk:x:6:app
"""


def image(**config: object) -> bytes:
    return json.dumps({"config": config, "metalinit": {"reference": "x:1"}}).encode()


NGINX = image(
    Entrypoint=["/docker-entrypoint.sh"],
    Cmd=["nginx", "-g", "daemon off;"],
    Env=["PATH=/usr/local/bin:/usr/bin", "NGINX_VERSION=1.25"],
    WorkingDir="/srv",
    User="nginx",
)


@pytest.mark.parametrize(
    ("args", "config", "argv"),
    [
        ("", NGINX, ("/docker-entrypoint.sh", "nginx", "-g", "daemon off;")),
        ("-- nginx -T", NGINX, ("/docker-entrypoint.sh", "nginx", "-T")),
        ("entrypoint=/bin/sh", NGINX, ("/bin/sh",)),  # replaces Entrypoint, drops Cmd
        ("entrypoint=/bin/sh -- -c 'echo hi'", NGINX, ("/bin/sh", "-c", "'echo", "hi'")),
        ("entrypoint=\"/bin/sh -c 'echo hi'\"", NGINX, ("/bin/sh", "-c", "echo hi")),
        ("", image(Cmd=["/bin/busybox", "sh"]), ("/bin/busybox", "sh")),
        ("", image(Entrypoint=["/init"]), ("/init",)),
        ("-- a b", image(Entrypoint=["/init"], Cmd=["x"]), ("/init", "a", "b")),
        ("entrypoint=/bin/true", None, ("/bin/true",)),
    ],
)
def test_argv(args: str, config: bytes | None, argv: tuple[str, ...]) -> None:
    params = cmdline.parse(args)
    launch = plan_launch(params, parse(config) if config else None, PASSWD, GROUP)
    assert launch.argv == argv


def test_env_workdir_and_user_come_from_the_image() -> None:
    launch = plan_launch(cmdline.parse(""), parse(NGINX), PASSWD, GROUP)
    assert launch.env["PATH"] == "/usr/local/bin:/usr/bin"
    assert launch.env["NGINX_VERSION"] == "1.25"
    assert launch.env["HOME"] == "/var/lib/nginx"
    assert launch.cwd == "/srv"
    assert (launch.uid, launch.gid) == (101, 101)
    assert launch.groups == (101, 44)


def test_defaults_without_image_env() -> None:
    launch = plan_launch(cmdline.parse("entrypoint=/x"), None, PASSWD, GROUP, hostname="box")
    assert launch.env == {"PATH": DEFAULT_PATH, "HOSTNAME": "box", "TERM": "linux", "HOME": "/root"}
    assert (launch.uid, launch.gid, launch.groups, launch.cwd) == (0, 0, (0,), "/")


def test_a_root_with_no_passwd_runs_as_root() -> None:
    launch = plan_launch(cmdline.parse(""), parse(image(Entrypoint=["/app"])), None, None)
    assert (launch.uid, launch.gid, launch.groups, launch.env["HOME"]) == (0, 0, (0,), "/")


@pytest.mark.parametrize(
    ("user", "passwd", "group", "expected"),
    [
        # Docker's AdditionalGids: the primary gid first, then /etc/group memberships in
        # file order, and memberships only for a user name with no explicit group.
        ("", PASSWD, GROUP, (0, 0, (0,), "/root")),
        ("root", PASSWD, GROUP, (0, 0, (0,), "/root")),
        ("app", PASSWD, GROUP, (1000, 1000, (1000, 44, 6), "/home/app")),
        ("1000", PASSWD, GROUP, (1000, 1000, (1000, 44, 6), "/home/app")),
        ("app:video", PASSWD, GROUP, (1000, 44, (44,), "/home/app")),
        ("app:44", PASSWD, GROUP, (1000, 44, (44,), "/home/app")),
        ("1000:1000", PASSWD, GROUP, (1000, 1000, (1000,), "/home/app")),
        ("4242", PASSWD, GROUP, (4242, 0, (0,), "/")),
        ("4242:4343", PASSWD, GROUP, (4242, 4343, (4343,), "/")),
        (":44", PASSWD, GROUP, (0, 44, (44,), "/root")),
        ("nginx:app", PASSWD, GROUP, (101, 1000, (1000,), "/var/lib/nginx")),
        # No /etc/passwd, no /etc/group (FROM scratch): root, or any number.
        ("", None, None, (0, 0, (0,), "/")),
        ("0", None, None, (0, 0, (0,), "/")),
        ("65534", None, None, (65534, 0, (0,), "/")),
        ("1000:1000", None, None, (1000, 1000, (1000,), "/")),
        # A number is a uid even where a user has it as a name; the first match wins.
        ("7", "7:x:99:99::/seven:/bin/sh\n", None, (7, 0, (0,), "/")),
        ("", "toor:x:0:5::/t:/bin/sh\nroot:x:0:0::/root:/bin/sh\n", None, (0, 5, (5,), "/t")),
        # HOME is the passwd entry of the final uid, even an empty one (runc sets it so).
        ("x", "x:x:5:5:::/bin/sh\n", None, (5, 5, (5,), "")),
        ("x", "x:x:5:5\n", None, (5, 5, (5,), "")),
        # Lines runc would read as uid 0 are skipped rather than trusted.
        ("bad", "bad:x:zero:0::/b:/bin/sh\n", "", None),
    ],
)
def test_resolve_user(
    user: str,
    passwd: str | None,
    group: str | None,
    expected: tuple[int, int, tuple[int, ...], str] | None,
) -> None:
    if expected is None:
        with pytest.raises(EntrypointError):
            resolve_user(user, passwd, group)
    else:
        assert resolve_user(user, passwd, group) == expected


@pytest.mark.parametrize(
    ("user", "passwd", "group", "words"),
    [
        ("nobody", PASSWD, GROUP, "user 'nobody' is not in the root's /etc/passwd"),
        ("nobody", None, None, "user 'nobody' cannot be looked up: the root has no /etc/passwd"),
        ("app:wheel", PASSWD, GROUP, "group 'wheel' .* is not in the root's /etc/group"),
        ("0:wheel", PASSWD, None, "group 'wheel' .* the root has no /etc/group"),
        ("2147483648", PASSWD, GROUP, "uid 2147483648 is out of range"),
        ("0:2147483648", PASSWD, GROUP, "gid 2147483648 is out of range"),
    ],
)
def test_unknown_user_or_group_is_a_clear_error(
    user: str, passwd: str | None, group: str | None, words: str
) -> None:
    with pytest.raises(EntrypointError, match=words):
        resolve_user(user, passwd, group)


@pytest.mark.parametrize(
    ("image_env", "home", "hostname", "term", "expected"),
    [
        ((), "/", "", "", {"PATH": DEFAULT_PATH, "HOME": "/"}),
        ((), "/root", "box", "linux",
         {"PATH": DEFAULT_PATH, "HOSTNAME": "box", "TERM": "linux", "HOME": "/root"}),
        (("PATH=/bin", "HOME=/data"), "/root", "(none)", "",
         {"PATH": "/bin", "HOME": "/data"}),
        (("HOME=",), "/root", "", "", {"PATH": DEFAULT_PATH, "HOME": "/root"}),
        (("A=1", "A=2", "B", "=x", "C=a=b"), "/", "", "",
         {"PATH": DEFAULT_PATH, "A": "2", "C": "a=b", "HOME": "/"}),
        (("PATH", "HOSTNAME", "TERM=xterm"), "/", "box", "linux", {"TERM": "xterm", "HOME": "/"}),
    ],
)  # fmt: skip
def test_build_env(
    image_env: tuple[str, ...], home: str, hostname: str, term: str, expected: dict[str, str]
) -> None:
    assert build_env(image_env, home, hostname=hostname, term=term) == expected


@pytest.mark.parametrize(
    ("working_dir", "cwd"), [("", "/"), ("/srv", "/srv"), ("/a/../b/./c/", "/b/c"), ("//x", "/x")]
)
def test_working_dir(working_dir: str, cwd: str) -> None:
    config = parse(image(Cmd=["x"], WorkingDir=working_dir))
    assert plan_launch(cmdline.parse(""), config).cwd == cwd


def test_relative_working_dir_is_refused() -> None:
    with pytest.raises(EntrypointError, match="not an absolute path"):
        plan_launch(cmdline.parse(""), parse(image(Cmd=["x"], WorkingDir="srv")))


def test_nothing_to_run_says_what_to_do() -> None:
    with pytest.raises(EntrypointError, match="entrypoint="):
        plan_launch(cmdline.parse(""), None)
    with pytest.raises(EntrypointError, match="neither Entrypoint nor Cmd"):
        plan_launch(cmdline.parse(""), parse(image()))


@pytest.mark.parametrize(
    "data",
    [b"not json", b"[1]", b'{"config": {"Cmd": "sh"}}', b'{"config": {"Env": [1]}}',
     b'{"config": {"WorkingDir": 3}}', b'{"config": []}', b'{"config": {"Labels": []}}'],
)  # fmt: skip
def test_malformed_image_json_is_rejected(data: bytes) -> None:
    with pytest.raises(ImageConfigError):
        parse(data)


def test_image_json_metadata() -> None:
    config = parse(
        json.dumps(
            {
                "config": {"ExposedPorts": {"80/tcp": {}}, "Labels": {"a": "b"}},
                "metalinit": {
                    "reference": "docker.io/library/nginx:latest",
                    "manifest_digest": "sha256:ab",
                    "platform": "linux/amd64",
                },
            }
        ).encode()
    )
    assert config.exposed_ports == ("80/tcp",)
    assert config.labels == {"a": "b"}
    assert config.reference == "docker.io/library/nginx:latest"
    assert config.platform == "linux/amd64"
