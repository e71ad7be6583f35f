"""The kernel command-line parser: quoting, every key, every bad value."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from agent import cmdline
from agent.cmdline import CmdlineError, IpMode, OnExit
from agent.rootspec import RootKind


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("a b  c", ["a", "b", "c"]),
        ('entrypoint="/bin/sh -c x" ro', ["entrypoint=/bin/sh -c x", "ro"]),
        ('"key=a b"', ["key=a b"]),
        ('key=a"b c"d', ['key=a"b c"d']),  # inner quotes stay, as in the kernel
        ("  \tleading\nnewline  ", ["leading", "newline"]),
        ('x="unterminated value', ["x=unterminated value"]),
        ("", []),
    ],
)
def test_split_follows_kernel_quoting(text: str, args: list[str]) -> None:
    assert cmdline.split_args(text) == args


def test_root_uuid_survives_the_split_on_first_equals() -> None:
    params = cmdline.parse("root=UUID=0d5c1f5e-2b8a-4c1e-9d4f-7a2b3c4d5e6f")
    assert params.root is not None
    assert params.root.kind is RootKind.UUID
    assert params.root.value == "0d5c1f5e-2b8a-4c1e-9d4f-7a2b3c4d5e6f"


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("root=/dev/vda1", "root", "/dev/vda1"),
        ("root=LABEL=my disk", "root", "LABEL=my"),
        ('root="LABEL=my disk"', "root", "LABEL=my disk"),
        ("root=PARTUUID=1234abcd-01", "root", "PARTUUID=1234abcd-01"),
        ("root=PARTLABEL=rootfs", "root", "PARTLABEL=rootfs"),
        ("rootfstype=xfs", "rootfstype", "xfs"),
        ("rootflags=noatime,data=ordered", "rootflags", "noatime,data=ordered"),
        ("ro", "read_only", True),
        ("rw", "read_only", False),
        ("ro rw", "read_only", False),
        ("rootwait", "rootwait", True),
        ("rootdelay=7", "rootdelay", 7),
        ("rootwait=5", "rootwait_seconds", 5),
        ("rootwait", "rootwait_seconds", None),
        ("entrypoint=/bin/echo", "entrypoint", ("/bin/echo",)),
        ("entrypoint=\"/bin/sh -c 'echo a b'\"", "entrypoint", ("/bin/sh", "-c", "echo a b")),
        ("provision=http://10.0.0.1:8080/", "provision", "http://10.0.0.1:8080/"),
        ("metalinit.on_exit=poweroff", "on_exit", OnExit.POWEROFF),
        ("metalinit.on-exit=restart", "on_exit", OnExit.RESTART),
        ("metalinit.modules=e1000,virtio-net", "modules", ("e1000", "virtio-net")),
        ("metalinit.iface=52:54:00:12:34:56", "iface", "52:54:00:12:34:56"),
        ("metalinit.rescue", "rescue", True),
        ("metalinit.rescue=0", "rescue", False),
        ("quiet", "quiet", True),
        (
            "console=ttyS0 foo-bar=1 flag",
            "unknown",
            {"console": "ttyS0", "foo_bar": "1", "flag": "1"},
        ),
        ("entrypoint=/bin/a -- x 'y z'", "init_args", ("x", "'y", "z'")),
        ("-- a=b c", "init_args", ("a=b", "c")),
        ("root=/dev/vda", "init_args", None),
    ],
)
def test_every_key(text: str, field: str, value: object) -> None:
    params = cmdline.parse(text)
    got = getattr(params, field)
    assert (str(got) if field == "root" else got) == value


def test_defaults() -> None:
    params = cmdline.parse("console=ttyS0")
    assert params.on_exit is OnExit.RESCUE
    assert params.root is None and params.ip is None and not params.rescue
    assert params.read_only is False
    assert params.root_wait_seconds == cmdline.DEFAULT_ROOTWAIT_SECONDS
    assert cmdline.parse("rootwait").root_wait_seconds == float("inf")
    assert cmdline.parse("rootwait=4").root_wait_seconds == 4.0


@pytest.mark.parametrize(
    ("text", "mode", "fields"),
    [
        ("ip=dhcp", IpMode.DHCP, {"optional": False}),
        ("ip=dhcp,optional", IpMode.DHCP, {"optional": True}),
        ("ip=on", IpMode.DHCP, {}),
        ("ip=off", IpMode.OFF, {}),
        ("ip=none", IpMode.OFF, {}),
        (":::::eth1:dhcp", IpMode.DHCP, {"device": "eth1"}),
        (
            "10.1.2.3::10.1.2.1:255.255.255.0:node7:eth0:off:10.1.2.53:9.9.9.9",
            IpMode.STATIC,
            {
                "address": "10.1.2.3",
                "gateway": "10.1.2.1",
                "netmask": "255.255.255.0",
                "hostname": "node7",
                "device": "eth0",
                "dns": ("10.1.2.53", "9.9.9.9"),
                "prefixlen": 24,
            },
        ),
        ("192.168.9.9:::::eth0:none", IpMode.STATIC, {"netmask": "255.255.255.0"}),
        ("10.0.0.9::::::off", IpMode.STATIC, {"netmask": "255.0.0.0", "device": None}),
    ],
)
def test_ip_forms(text: str, mode: IpMode, fields: dict[str, object]) -> None:
    arg = text if text.startswith("ip=") else f"ip={text}"
    ip = cmdline.parse(arg).ip
    assert ip is not None and ip.mode is mode
    for name, value in fields.items():
        assert getattr(ip, name) == value


@pytest.mark.parametrize(
    ("text", "key", "words"),
    [
        ("rootdelay=abc", "rootdelay", "whole number"),
        ("rootdelay=-1", "rootdelay", "whole number"),
        ("rootdelay", "rootdelay", "needs a value"),
        ("rootwait=soon", "rootwait", "rootwait=SECONDS"),
        ("ip=garbage", "ip", "use dhcp, off"),
        ("ip=dhcp,sometimes", "ip", "optional"),
        ("ip=10.0.0.300::::::off", "ip", "not an IPv4 address"),
        ("ip=10.0.0.3::10.0.0.1:255.0.255.0:::off", "ip", "netmask"),
        ("ip=10.0.0.3::bad:255.255.255.0:::off", "ip", "gateway"),
        ("ip=10.0.0.3:::::eth0:maybe", "ip", "autoconf"),
        ("ip=10.0.0.3:::::eth0:off:dns", "ip", "DNS server"),
        ("metalinit.on_exit=explode", "metalinit.on_exit", "rescue, poweroff, reboot, restart"),
        ("root=sda1", "root", "use /dev/NAME"),
        ("root=/dev/", "root", "does not name a device"),
        ("root=/dev/../etc/passwd", "root", "does not name a device"),
        ("root=UUID=", "root", "needs a value"),
        ("root=UUID=not-a-uuid!", "root", "not a UUID"),
        ("root=", "root", "needs a value"),
        ('entrypoint="/bin/sh -c \'unbalanced"', "entrypoint", "shell command"),
        ('entrypoint=""', "entrypoint", "needs a value"),
        ('entrypoint=" "', "entrypoint", "names no program"),
        ("provision=ftp://x/", "provision", "http://"),
        ("provision=http://", "provision", "with a host"),
        ("metalinit.modules=ok,b@d", "metalinit.modules", "'b@d'"),
        ("ro=maybe", "ro", "is a flag"),
        ("metalinit.rescue=perhaps", "metalinit.rescue", "is a flag"),
    ],
)
def test_bad_values_name_the_key(text: str, key: str, words: str) -> None:
    with pytest.raises(CmdlineError) as caught:
        cmdline.parse(f"console=ttyS0 {text} quiet")
    assert caught.value.key == key
    assert f"kernel argument {key}=" in str(caught.value)
    assert words in str(caught.value)


def test_to_json_round_trips_through_json() -> None:
    params = cmdline.parse("root=LABEL=r ip=dhcp metalinit.on_exit=reboot x=1 -- a")
    data = json.loads(json.dumps(params.to_json()))
    assert data["root"] == "LABEL=r"
    assert data["ip"]["mode"] == "dhcp"
    assert data["on_exit"] == "reboot"
    assert data["unknown"] == {"x": "1"}
    assert data["init_args"] == ["a"]


def _metalinit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "agent.cli", *args], capture_output=True, text=True, check=False
    )


def test_cli_prints_json() -> None:
    done = _metalinit("cmdline", "root=UUID=0d5c1f5e-2b8a-4c1e-9d4f-7a2b3c4d5e6f rootwait")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["root"] == "UUID=0d5c1f5e-2b8a-4c1e-9d4f-7a2b3c4d5e6f"
    assert data["rootwait"] is True


def test_cli_reports_bad_value_with_exit_code_2() -> None:
    done = _metalinit("cmdline", "ip=garbage")
    assert done.returncode == 2
    assert "kernel argument ip='garbage'" in done.stderr
    assert done.stdout == ""


def test_cli_without_arguments_reads_this_hosts_cmdline() -> None:
    done = _metalinit("cmdline")
    assert done.returncode in (0, 2)
    if done.returncode == 0:
        assert "unknown" in json.loads(done.stdout)
