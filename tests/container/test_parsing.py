"""The container's pure parts as tables: volumes, mirrors, what to run, paths in a tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.container import ContainerError
from agent.container.paths import scoped_join
from agent.container.pull import mirror_for, parse_mirrors
from agent.container.spec import hostname_for, plan
from agent.container.volumes import Volume, parse_volume
from agent.entrypoint import DEFAULT_PATH
from rootfs_tools.image_config import ImageConfig


@pytest.mark.parametrize(
    ("text", "volume"),
    [
        ("/dev:/dev", Volume("/dev", "/dev")),
        ("/lib/firmware:/lib/firmware:ro", Volume("/lib/firmware", "/lib/firmware", True)),
        ("/statedir/:/statedir/:rw", Volume("/statedir", "/statedir")),
        ("/a:/b:ro,z", Volume("/a", "/b", True)),
        ("/a:/b:rslave", Volume("/a", "/b")),
        ("/a//x/../y:/b/./c", Volume("/a/y", "/b/c")),
    ],
)
def test_parse_volume(text: str, volume: Volume) -> None:
    assert parse_volume(text) == volume


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("/dev", "expected SRC:DST"),
        ("/a:/b:ro:x", "expected SRC:DST"),
        (":/b", "expected SRC:DST"),
        ("data:/data", "named volume"),
        ("/a:relative", "absolute path"),
        ("/a:/b:exec", "unknown option 'exec'"),
    ],
)
def test_parse_volume_refuses(text: str, says: str) -> None:
    with pytest.raises(ContainerError, match=says):
        parse_volume(text)


@pytest.mark.parametrize(
    ("spec", "mirrors"),
    [
        ("", {}),
        ("http://10.0.0.1:5000", {"*": "http://10.0.0.1:5000"}),
        ("quay.io=http://m:5000/", {"quay.io": "http://m:5000"}),
        (
            "quay.io=https://a, ghcr.io=http://b,http://c",
            {"quay.io": "https://a", "ghcr.io": "http://b", "*": "http://c"},
        ),
    ],
)
def test_parse_mirrors(spec: str, mirrors: dict[str, str]) -> None:
    assert parse_mirrors(spec) == mirrors


@pytest.mark.parametrize("spec", ["10.0.0.1:5000", "quay.io=", "quay.io=ftp://x", "=http://x"])
def test_parse_mirrors_refuses(spec: str) -> None:
    with pytest.raises(ContainerError, match="registry mirror"):
        parse_mirrors(spec)


@pytest.mark.parametrize(
    ("domain", "specs", "mirror"),
    [
        ("quay.io", ("", ""), ""),
        ("quay.io", ("http://cmdline", ""), "http://cmdline"),
        ("quay.io", ("http://cmdline", "http://env"), "http://env"),
        ("quay.io", ("quay.io=http://cmdline", "ghcr.io=http://env"), "http://cmdline"),
        ("docker.io", ("quay.io=http://q",), ""),
    ],
)
def test_mirror_for(domain: str, specs: tuple[str, ...], mirror: str) -> None:
    assert mirror_for(domain, *specs) == mirror


@pytest.mark.parametrize(
    ("name", "hostname"),
    [
        ("stream-image", "stream-image"),
        ("write netplan config", "write netplan config"),
        ("", "action"),
        ("x" * 80, "x" * 64),
        ("é" * 40, "é" * 32),
    ],
)
def test_hostname_for(name: str, hostname: str) -> None:
    assert hostname_for(name) == hostname


PASSWD = "root:x:0:0:root:/root:/bin/sh\ntester:x:1234:1234::/home/tester:/bin/sh\n"
GROUP = "tester:x:1234:\nextra:x:2000:tester\n"
IMAGE = ImageConfig(
    entrypoint=("/usr/bin/tool",),
    cmd=("--default",),
    env=("PATH=/usr/bin", "A=image", "B=image"),
    working_dir="/work",
    user="tester",
)


@pytest.mark.parametrize(
    ("command", "argv"),
    [
        ((), ("/usr/bin/tool", "--default")),
        (("--flag", "x y"), ("/usr/bin/tool", "--flag", "x y")),
    ],
)
def test_plan_argv(command: tuple[str, ...], argv: tuple[str, ...]) -> None:
    spec = plan(name="a", image=IMAGE, command=command, passwd=PASSWD, group=GROUP)
    assert spec.launch.argv == argv


def test_plan_everything_else() -> None:
    spec = plan(
        name="write-file", image=IMAGE, env={"B": "action", "C": "action"},
        volumes=("/dev:/dev", "/x:/y:ro"), pid="host", passwd=PASSWD, group=GROUP,
    )  # fmt: skip
    launch = spec.launch
    assert launch.env == {
        "HOSTNAME": "write-file",
        "PATH": "/usr/bin",
        "A": "image",
        "B": "action",
        "C": "action",
        "HOME": "/home/tester",
    }  # no TERM: Docker sets none for a container without a terminal
    assert (launch.uid, launch.gid, launch.groups, launch.cwd) == (
        1234,
        1234,
        (1234, 2000),
        "/work",
    )
    assert spec.volumes == (Volume("/dev", "/dev"), Volume("/x", "/y", True))
    assert spec.share_pid and spec.hostname == "write-file"


def test_plan_an_image_without_passwd_runs_as_root() -> None:
    """FROM scratch: no /etc/passwd, no User → uid 0, gid 0, HOME=/ (as runc and Docker)."""
    spec = plan(name="static", image=ImageConfig(entrypoint=("/app",)), passwd=None, group=None)
    launch = spec.launch
    assert (launch.uid, launch.gid, launch.env["HOME"], launch.cwd) == (0, 0, "/", "/")
    assert launch.env["PATH"] == DEFAULT_PATH


@pytest.mark.parametrize(
    ("image", "pid", "says"),
    [
        (ImageConfig(), "", "neither Entrypoint nor Cmd"),
        (IMAGE, "container:other", "pid: 'container:other'"),
        (ImageConfig(cmd=("x",), user="nobody"), "", "user 'nobody' is not in"),
        (ImageConfig(cmd=("x",), working_dir="rel"), "", "WorkingDir 'rel'"),
    ],
)
def test_plan_refuses(image: ImageConfig, pid: str, says: str) -> None:
    with pytest.raises(ContainerError, match=says):
        plan(name="a", image=image, pid=pid, passwd=PASSWD, group=GROUP)


@pytest.fixture
def tree(tmp_path: Path) -> str:
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "run").mkdir()
    (root / "var").mkdir()
    os.symlink("../run", root / "var/run")
    os.symlink("/run", root / "abs")
    os.symlink("../../../../../etc", root / "escape")
    os.symlink("/etc/passwd", root / "etc/pw")
    os.symlink("loop", root / "loop")
    os.symlink("gone/deeper", root / "dangling")
    return str(root)


@pytest.mark.parametrize(
    ("path", "inside"),
    [
        ("/etc/passwd", "etc/passwd"),
        ("/var/run/x", "run/x"),
        ("/abs/x", "run/x"),
        ("/escape/shadow", "etc/shadow"),
        ("/../../etc", "etc"),
        ("/etc/pw", "etc/passwd"),
        ("/dangling/x", "gone/deeper/x"),
        ("/new/a/../b", "new/b"),
        ("/", ""),
    ],
)
def test_scoped_join_stays_in_the_tree(tree: str, path: str, inside: str) -> None:
    assert scoped_join(tree, path) == (os.path.join(tree, inside) if inside else tree)


def test_scoped_join_gives_up_on_a_symlink_loop(tree: str) -> None:
    with pytest.raises(ContainerError, match="too many levels of symlinks"):
        scoped_join(tree, "/loop/x")
