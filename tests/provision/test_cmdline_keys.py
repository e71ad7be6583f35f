"""The worker's kernel arguments: metalinit.on_failure= and metalinit.registry_mirror=."""

from __future__ import annotations

import re

import pytest

from agent import cmdline
from agent.cmdline import CmdlineError, OnFailure


@pytest.mark.parametrize(
    ("text", "field", "value"),
    [
        ("provision=http://10.0.0.1:8080", "on_failure", OnFailure.RESCUE),
        ("metalinit.on_failure=reboot", "on_failure", OnFailure.REBOOT),
        ("metalinit.on-failure=retry", "on_failure", OnFailure.RETRY),
        ("metalinit.on_failure=rescue", "on_failure", OnFailure.RESCUE),
        ("metalinit.registry_mirror=mirror.lan:5000", "registry_mirror", "mirror.lan:5000"),
        (
            "metalinit.registry_mirror=http://10.0.0.5:5000",
            "registry_mirror",
            "http://10.0.0.5:5000",
        ),
        ("provision=http://s", "registry_mirror", None),
    ],
)
def test_keys(text: str, field: str, value: object) -> None:
    assert getattr(cmdline.parse(text), field) == value


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("metalinit.on_failure=explode", "must be one of rescue, reboot, retry"),
        ("metalinit.on_failure", "needs a value"),
        ("metalinit.registry_mirror=ftp://x", "registry host[:port] or an http(s):// URL"),
        ("metalinit.registry_mirror=", "needs a value"),
    ],
)
def test_bad_values_say_what_to_give(text: str, says: str) -> None:
    with pytest.raises(CmdlineError, match=re.escape(says)):
        cmdline.parse(text)


def test_on_exit_still_parses_through_the_shared_choice_handler() -> None:
    assert cmdline.parse("metalinit.on_exit=poweroff").on_exit is cmdline.OnExit.POWEROFF
    with pytest.raises(CmdlineError, match="must be one of rescue, poweroff, reboot, restart"):
        cmdline.parse("metalinit.on_exit=later")
