"""image.json + kernel arguments → argv, env, working directory and user."""

from __future__ import annotations

import json

import pytest

from agent import cmdline
from agent.entrypoint import DEFAULT_PATH, EntrypointError, plan_launch, resolve_user
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
    assert launch.groups == (44, 101)


def test_defaults_without_image_env() -> None:
    launch = plan_launch(cmdline.parse("entrypoint=/x"), None, PASSWD, GROUP)
    assert launch.env == {"PATH": DEFAULT_PATH, "HOME": "/root", "TERM": "linux"}
    assert (launch.uid, launch.gid, launch.cwd) == (0, 0, "/")


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("", (0, 0, (0,), "/root")),
        ("root", (0, 0, (0,), "/root")),
        ("app", (1000, 1000, (6, 44, 1000), "/home/app")),
        ("1000", (1000, 1000, (6, 44, 1000), "/home/app")),
        ("app:video", (1000, 44, (6, 44), "/home/app")),
        ("app:44", (1000, 44, (6, 44), "/home/app")),
        ("4242", (4242, 0, (0,), "/")),
        ("4242:4343", (4242, 4343, (4343,), "/")),
    ],
)
def test_resolve_user(user: str, expected: tuple[int, int, tuple[int, ...], str]) -> None:
    assert resolve_user(user, PASSWD, GROUP) == expected


@pytest.mark.parametrize(
    ("user", "words"), [("nobody", "not in the root's /etc/passwd"), ("app:wheel", "/etc/group")]
)
def test_unknown_user_or_group_is_a_clear_error(user: str, words: str) -> None:
    with pytest.raises(EntrypointError, match=words):
        resolve_user(user, PASSWD, GROUP)


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
