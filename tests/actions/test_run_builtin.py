"""run_action with built-in actions written here: real forks, real cgroups, real kills.

Each built-in below is an ordinary `Action`; `lookup=` hands it to the runner the way the
table (`agent.actions.table`) will. Needs root (cgroups, mount namespaces), as CI has.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.actions import Action, ActionContext, ActionError, ActionOutcome, Then
from agent.actions.run import run_action
from agent.provision.wire import ActionState
from tests.actions.helpers import (
    LEAKED_FD,
    Watch,
    cgroup_mount,
    groups_named,
    inheritable_fd,
    mounts_under,
)

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: cgroups and mounts")


def run(
    tmp_path: Path, action: Action, timeout: float = 30, **fields: object
) -> tuple[ActionOutcome, Watch]:
    watch = Watch()
    ctx = ActionContext(
        name=str(fields.pop("name", f"t-{action.__name__}")),
        image=f"test/{action.__name__}",
        env={},
        say=watch.say,
        progress=watch.progress,
        scratch=tmp_path / "scratch",
        **fields,  # type: ignore[arg-type]
    )
    outcome = run_action(ctx, timeout, lookup=lambda image: action)
    return outcome, watch


def fails_with_message(ctx: ActionContext) -> Then | None:
    raise ActionError("DEST_DISK /dev/nope does not exist: name a disk the machine has")


def reboots(ctx: ActionContext) -> Then | None:
    return Then.REBOOT


def reports_progress(ctx: ActionContext) -> Then | None:
    for done in (0, 512, 1024):
        ctx.progress(done, 1024)
        time.sleep(0.05)  # apart, so that the parent sees each
    return None


def raises_key_error(ctx: ActionContext) -> Then | None:
    return {"a": 1}["missing"]  # type: ignore[return-value]


def talks(ctx: ActionContext) -> Then | None:
    print("print to stdout", flush=True)
    print("print to stderr", file=sys.stderr, flush=True)
    ctx.say("through say")
    subprocess.run(
        ["sh", "-c", "echo child out; echo child err >&2; printf 'no newline'"], check=True
    )
    return None


def kills_itself(ctx: ActionContext) -> Then | None:
    os.kill(os.getpid(), signal.SIGKILL)
    return None


SLEEPERS = "for i in 1 2 3; do (setsid sleep 1000 &); done; echo started; sleep 1000"


def hangs_with_daemons(ctx: ActionContext) -> Then | None:
    subprocess.run(["sh", "-c", SLEEPERS], check=False)
    return None


def talks_then_hangs(ctx: ActionContext) -> Then | None:
    script = SLEEPERS.replace("echo started;", "echo started; printf unfinished;")
    subprocess.run(["sh", "-c", script], check=False)
    return None


def leaves_a_daemon(ctx: ActionContext) -> Then | None:
    subprocess.run(["sh", "-c", "(setsid sleep 1000 >/dev/null 2>&1 &); echo started"], check=True)
    time.sleep(0.2)  # let the parent see "started" and list the group
    return None


def uses_scratch(ctx: ActionContext) -> Then | None:
    inner = ctx.scratch / "inner"
    inner.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "inner", str(inner)], check=True)
    (inner / "file").write_text("x")
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        if f" {ctx.scratch} " in line or f" {inner} " in line:
            ctx.say("mounted: " + line.split(" - ")[1].split()[0] + " " + line.split()[4])
    return None


def test_action_error_is_failed_with_its_message(tmp_path: Path) -> None:
    outcome, _ = run(tmp_path, fails_with_message)
    assert outcome.state is ActionState.FAILED
    assert outcome.message == "DEST_DISK /dev/nope does not exist: name a disk the machine has"


def test_then_reboot_is_success_with_then(tmp_path: Path) -> None:
    outcome, _ = run(tmp_path, reboots)
    assert (outcome.state, outcome.then, outcome.message) == (ActionState.SUCCESS, Then.REBOOT, "")


def test_progress_reaches_the_parent(tmp_path: Path) -> None:
    outcome, watch = run(tmp_path, reports_progress)
    assert outcome.state is ActionState.SUCCESS
    assert watch.progressed[-1] == (1024, 1024)
    assert watch.progressed == sorted(watch.progressed)
    assert (0, 1024) in watch.progressed or (512, 1024) in watch.progressed


def test_python_exception_is_one_line_failure(tmp_path: Path) -> None:
    outcome, _ = run(tmp_path, raises_key_error)
    assert outcome.state is ActionState.FAILED
    assert "\n" not in outcome.message
    assert outcome.message.startswith("internal error: KeyError: 'missing' (at ")
    assert "test_run_builtin.py:" in outcome.message


def test_output_lines_in_order_from_stdout_stderr_and_children(tmp_path: Path) -> None:
    outcome, watch = run(tmp_path, talks)
    assert outcome.state is ActionState.SUCCESS
    assert watch.lines == [
        "print to stdout",
        "print to stderr",
        "through say",
        "child out",
        "child err",
        "no newline",
    ]


def test_killed_by_a_signal_is_failed(tmp_path: Path) -> None:
    outcome, _ = run(tmp_path, kills_itself)
    assert outcome.state is ActionState.FAILED
    assert outcome.message == "the action's process was killed by SIGKILL"
    assert outcome.exit_code == 128 + signal.SIGKILL


def test_timeout_kills_every_grandchild_and_removes_the_group(tmp_path: Path) -> None:
    name = "t-hangs"
    watch = Watch(on_line=lambda line: watch.note_group(name) if line == "started" else None)
    ctx = ActionContext(
        name=name, image="test/hangs", env={}, say=watch.say, scratch=tmp_path / "s"
    )
    outcome = run_action(ctx, 2, lookup=lambda image: hangs_with_daemons)
    assert outcome.state is ActionState.TIMEOUT
    assert outcome.message == "timed out after 2 s"
    assert len(watch.pids) >= 5  # the child, sh, three sleepers
    assert all(not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in watch.pids)
    assert groups_named(name) == []
    assert mounts_under(tmp_path) == []


def test_cancel_kills_the_group(tmp_path: Path) -> None:
    name = "t-cancel"
    watch = Watch()
    ctx = ActionContext(
        name=name, image="test/hangs", env={}, say=watch.say, scratch=tmp_path / "s"
    )
    watch.on_line = lambda line: ctx.cancelled.set() if line == "started" else None
    outcome = run_action(ctx, 60, lookup=lambda image: hangs_with_daemons)
    assert outcome.state is ActionState.FAILED
    assert outcome.message == "cancelled by the worker"
    assert groups_named(name) == []


def test_processes_left_running_are_killed_after_success(tmp_path: Path) -> None:
    name = "t-daemon"
    watch = Watch(on_line=lambda line: watch.note_group(name) if line == "started" else None)
    ctx = ActionContext(
        name=name, image="test/daemon", env={}, say=watch.say, scratch=tmp_path / "s"
    )
    outcome = run_action(ctx, 30, lookup=lambda image: leaves_a_daemon)
    assert outcome.state is ActionState.SUCCESS
    assert outcome.message == "1 process it left running killed"
    assert watch.pids and all(not Path(f"/proc/{p}").exists() or _zombie(p) for p in watch.pids)
    assert groups_named(name) == []


def test_scratch_is_a_private_tmpfs_gone_afterwards(tmp_path: Path) -> None:
    outcome, watch = run(tmp_path, uses_scratch)
    assert outcome.state is ActionState.SUCCESS
    scratch = tmp_path / "scratch"
    assert watch.lines == [f"mounted: tmpfs {scratch}", f"mounted: tmpfs {scratch}/inner"]
    assert mounts_under(tmp_path) == []
    assert list(scratch.iterdir()) == []


def checks_fds(ctx: ActionContext) -> Then | None:
    # os.system, not subprocess (which closes every descriptor above 2 by itself)
    os.system(f"if [ -e /proc/$$/fd/{LEAKED_FD} ]; then echo leaked; else echo closed; fi")
    return None


def test_the_agents_descriptors_do_not_reach_the_action(tmp_path: Path) -> None:
    with inheritable_fd():
        outcome, watch = run(tmp_path, checks_fds)
    assert outcome.state is ActionState.SUCCESS
    assert watch.lines == ["closed"]


def test_cgroup2_is_found_not_assumed() -> None:
    assert cgroup_mount().is_dir()
    assert (cgroup_mount() / "cgroup.procs").exists()


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True


def test_a_failing_say_still_leaves_nothing_behind(tmp_path: Path) -> None:
    """The worker's own callback raising is the worker's bug: it propagates, but the
    action's processes, group and mounts are gone all the same."""
    name = "t-bad-say"
    pids: list[int] = []

    def say(line: str) -> None:
        pids.extend(
            int(p) for g in groups_named(name) for p in (g / "cgroup.procs").read_text().split()
        )
        raise RuntimeError("the worker's log is full")

    ctx = ActionContext(name=name, image="test/hangs", env={}, say=say, scratch=tmp_path / "s")
    fds = sorted(os.listdir("/proc/self/fd"))
    with pytest.raises(RuntimeError, match="log is full"):
        run_action(ctx, 60, lookup=lambda image: talks_then_hangs)
    assert sorted(os.listdir("/proc/self/fd")) == fds  # the pipes and the pidfd closed
    assert len(pids) >= 4
    assert all(not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in pids)
    assert groups_named(name) == []
    assert mounts_under(tmp_path) == []
