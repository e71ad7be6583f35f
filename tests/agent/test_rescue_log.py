"""The line a failed stage leaves in the log carries the reason, and the root's own files
are read as the root sees them."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from agent.cmdline import CmdlineError
from agent.entrypoint import EntrypointError
from agent.log import Log
from agent.rescue import Failure, banner, describe, summary
from agent.rootfile import read_in_root, resolve_in_root


@pytest.mark.parametrize(
    ("failure", "reason", "line"),
    [
        (Failure("run_entrypoint", EntrypointError("user 'x' is not in the root's /etc/passwd")),
         "", "stage 'run_entrypoint' failed: user 'x' is not in the root's /etc/passwd"),
        (Failure("read_cmdline", CmdlineError("ip", "x", "bad")), "",
         "stage 'read_cmdline' failed: kernel argument ip='x': bad"),
        (Failure("mount_root", OSError()), "", "stage 'mount_root' failed: OSError"),
        (Failure("modules", KeyError("virtio")), "", "stage 'modules' failed: KeyError('virtio')"),
        (Failure("find_root", KeyboardInterrupt()), "",
         "stage 'find_root' failed: KeyboardInterrupt()"),
        (None, "metalinit.rescue is on the kernel command line", "metalinit.rescue is on the "
         "kernel command line"),
        (Failure("run_entrypoint", EntrypointError("exited 3")), "metalinit.on_exit=rescue",
         "stage 'run_entrypoint' failed: exited 3; metalinit.on_exit=rescue"),
        (None, "", "the rescue shell was asked for"),
    ],
)  # fmt: skip
def test_the_error_line_says_why(failure: Failure | None, reason: str, line: str) -> None:
    assert summary(failure, reason) == line


def test_the_log_shows_the_reason_on_the_error_line_and_the_banner_after_it(
    tmp_path: Path,
) -> None:
    console = io.StringIO()
    log = Log(console, log_file=tmp_path / "agent.log")
    log.quiet = True  # the banner must show even with `quiet`
    failure = Failure("mount_root", OSError(5, "Input/output error"))
    log.error(summary(failure))
    log.banner(banner(failure))
    shown = console.getvalue()
    first = shown.splitlines()[0]
    assert first.endswith("error: stage 'mount_root' failed: [Errno 5] Input/output error"), shown
    assert "metalinit: stage 'mount_root' failed" in shown
    assert "  try: `metalinit disks`" in shown
    for text in (shown, (tmp_path / "agent.log").read_text()):
        for line in text.splitlines():
            assert not line.rstrip().endswith("error:"), text


def test_describe_is_never_empty() -> None:
    assert describe(OSError()) == "OSError"
    assert describe(EntrypointError()) == "EntrypointError"
    assert describe(SystemExit(2)) == "SystemExit(2)"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A root whose /etc/passwd is an absolute symlink, with loops and climbs."""
    (tmp_path / "usr/lib").mkdir(parents=True)
    (tmp_path / "usr/lib/passwd").write_text("inside\n")
    (tmp_path / "etc").mkdir()
    os.symlink("/usr/lib/passwd", tmp_path / "etc/passwd")
    os.symlink("../../../../usr/lib/passwd", tmp_path / "etc/climb")
    os.symlink("loop-b", tmp_path / "etc/loop-a")
    os.symlink("loop-a", tmp_path / "etc/loop-b")
    os.symlink("/etc", tmp_path / "conf")
    return tmp_path


@pytest.mark.parametrize(
    ("path", "inside"),
    [
        ("/etc/passwd", "usr/lib/passwd"),
        ("/etc/climb", "usr/lib/passwd"),  # .. stops at the root, as in a chroot
        ("/conf/passwd", "usr/lib/passwd"),
        ("/etc/group", "etc/group"),  # absent: the path it would have
        ("/../etc/./passwd", "usr/lib/passwd"),
    ],
)
def test_resolve_in_root(root: Path, path: str, inside: str) -> None:
    assert resolve_in_root(str(root), path) == str(root / inside)


def test_read_in_root(root: Path) -> None:
    assert read_in_root(str(root), "/etc/passwd") == "inside\n"
    assert read_in_root(str(root), "/etc/group") is None
    assert read_in_root(str(root), "/etc/loop-a") is None  # ELOOP: no file, as runc
    with pytest.raises(OSError, match="too many levels"):
        resolve_in_root(str(root), "/etc/loop-a")
