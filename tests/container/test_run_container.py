"""Container actions end to end: the busybox probe image pulled from a real registry on
127.0.0.1 and run through run_action, as root, with real namespaces, mounts and cgroups."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from agent.actions import ActionContext, ActionOutcome
from agent.actions.run import run_action
from agent.provision.wire import ActionState
from agent.syscalls import SyscallError, Syscalls
from tests.actions.helpers import Watch, groups_named, inheritable_fd, mounts_under

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root: namespaces, mounts")


def no_builtins(image: str) -> None:
    return None


def run(
    tmp_path: Path, image: str, command: tuple[str, ...] = (), timeout: float = 60, **fields: object
) -> tuple[ActionOutcome, Watch]:
    watch = fields.pop("watch", None) or Watch()
    assert isinstance(watch, Watch)
    ctx = ActionContext(
        name=str(fields.pop("name", "probe-action")),
        image=image,
        env=fields.pop("env", {}),  # type: ignore[arg-type]
        command=command,
        say=watch.say,
        progress=watch.progress,
        scratch=tmp_path / "scratch",
        **fields,  # type: ignore[arg-type]
    )
    outcome = run_action(ctx, timeout, lookup=no_builtins)
    return outcome, watch


def action_lines(watch: Watch) -> list[str]:
    return [line for line in watch.lines if not line.startswith("metalinit: ")]


def values(watch: Watch) -> dict[str, str]:
    """`key: value` lines the probe printed."""
    return dict(line.split(": ", 1) for line in action_lines(watch) if ": " in line)


def left_behind(tmp_path: Path, name: str) -> list[object]:
    return [*mounts_under(tmp_path), *groups_named(name)]


SEES = """
echo "pid: $$"
echo "hostname: $(hostname)"
echo "etc-hostname: $(cat /etc/hostname)"
echo "uid: $(id -u)"
echo "gid: $(id -g)"
echo "groups: $(id -G)"
echo "cwd: $(pwd)"
echo "FROM_IMAGE: $FROM_IMAGE"
echo "OVERRIDDEN: $OVERRIDDEN"
echo "FROM_ACTION: $FROM_ACTION"
echo "HOSTNAME: $HOSTNAME"
echo "HOME: $HOME"
echo "rw-in: $(cat /mnt/rw/in.txt)"
echo "written" > /mnt/rw/out.txt && echo "rw-write: ok"
echo "ro-in: $(cat /mnt/ro/in.txt)"
if echo no > /mnt/ro/out.txt 2>/dev/null; then echo "ro-write: allowed"; else echo "ro-write: refused"; fi
echo "file-volume: $(cat /etc/extra.conf)"
[ -d /mnt/made ] && echo "made: yes"
[ -c /dev/null ] && [ -c /dev/loop-control ] && echo "devices: visible"
echo "proc-1: $(cat /proc/1/cmdline | tr '\\0' ' ')"
echo "ns-pids: $(ls /proc | grep -c '^[0-9]')"
if [ -e /proc/$$/fd/77 ]; then echo "fd-77: leaked"; else echo "fd-77: closed"; fi
"""


@pytest.fixture
def volumes(tmp_path: Path) -> tuple[str, ...]:
    rw, ro = tmp_path / "rw", tmp_path / "ro"
    for path, text in ((rw, "read me\n"), (ro, "read only\n")):
        path.mkdir()
        path.chmod(0o777)
        (path / "in.txt").write_text(text)
    (tmp_path / "extra.conf").write_text("a file bound alone\n")
    return (
        f"{rw}:/mnt/rw",
        f"{ro}:/mnt/ro:ro",
        f"{tmp_path / 'extra.conf'}:/etc/extra.conf:ro",
        f"{tmp_path / 'made'}:/mnt/made",
    )


def test_the_container_sees_what_the_action_gives_it(
    probe: dict[str, str], tmp_path: Path, volumes: tuple[str, ...]
) -> None:
    with inheritable_fd():
        outcome, watch = run(
            tmp_path,
            probe["latest"],
            ("script", SEES),
            name="sees-everything",
            env={"FROM_ACTION": "action", "OVERRIDDEN": "by the action"},
            volumes=volumes,
        )
    assert outcome.state is ActionState.SUCCESS, (outcome, watch.lines)
    seen = values(watch)
    assert seen["entrypoint"] == "/bin/probe entry"
    assert seen["pid"] == "1"
    assert seen["hostname"] == seen["etc-hostname"] == seen["HOSTNAME"] == "sees-everything"
    assert (seen["uid"], seen["gid"], seen["groups"]) == ("1234", "1234", "1234 2000")
    assert seen["cwd"] == "/work/dir"
    assert seen["HOME"] == "/home/tester"
    assert (seen["FROM_IMAGE"], seen["FROM_ACTION"]) == ("image", "action")
    assert seen["OVERRIDDEN"] == "by the action"
    assert (seen["rw-in"], seen["rw-write"]) == ("read me", "ok")
    assert (seen["ro-in"], seen["ro-write"]) == ("read only", "refused")
    assert seen["file-volume"] == "a file bound alone"
    assert seen["made"] == "yes"
    assert seen["devices"] == "visible"
    assert seen["proc-1"].startswith("/bin/sh -c ")
    assert int(seen["ns-pids"]) < 10  # its own PID namespace, not the host's hundreds
    assert seen["fd-77"] == "closed"
    out = tmp_path / "rw" / "out.txt"
    assert out.read_text() == "written\n" and out.stat().st_uid == 1234
    assert not (tmp_path / "ro" / "out.txt").exists()
    assert (tmp_path / "made").is_dir()
    assert left_behind(tmp_path, "sees-everything") == []


def test_entrypoint_gets_the_command_as_its_cmd(probe: dict[str, str], tmp_path: Path) -> None:
    outcome, watch = run(tmp_path, probe["latest"], ("one", "two words", ""))
    assert outcome.state is ActionState.SUCCESS
    assert action_lines(watch) == [
        "entrypoint: /bin/probe entry",
        "arg: one",
        "arg: two words",
        "arg: ",
    ]


def test_no_command_runs_the_images_cmd(probe: dict[str, str], tmp_path: Path) -> None:
    outcome, watch = run(tmp_path, probe["latest"])
    assert outcome.state is ActionState.SUCCESS
    assert action_lines(watch) == ["entrypoint: /bin/probe entry", "arg: default", "arg: cmd"]


def test_stdout_and_stderr_lines_in_order(probe: dict[str, str], tmp_path: Path) -> None:
    script = "echo out1; echo err1 >&2; echo out2; (echo from a child >&2); printf 'no newline'"
    outcome, watch = run(tmp_path, probe["latest"], ("script", script))
    assert outcome.state is ActionState.SUCCESS
    assert action_lines(watch) == [
        "entrypoint: /bin/probe entry",
        "out1",
        "err1",
        "out2",
        "from a child",
        "no newline",
    ]


def test_root_image_has_every_capability(probe: dict[str, str], tmp_path: Path) -> None:
    script = "echo \"uid: $(id -u)\"; grep -E '^Cap(Eff|Bnd):' /proc/self/status"
    outcome, watch = run(tmp_path, probe["root"], ("script", script))
    assert outcome.state is ActionState.SUCCESS

    def caps(lines: list[str]) -> dict[str, str]:
        return dict(line.split(":\t") for line in lines if line.startswith(("CapEff:", "CapBnd:")))

    assert values(watch)["uid"] == "0"
    ours = caps(Path("/proc/self/status").read_text().splitlines())
    assert caps(action_lines(watch)) == ours
    assert len(ours) == 2 and ours["CapEff"] == ours["CapBnd"]


def test_failing_action_is_failed_with_its_exit_code(probe: dict[str, str], tmp_path: Path) -> None:
    outcome, watch = run(tmp_path, probe["latest"], ("script", "echo giving up >&2; exit 3"))
    assert outcome.state is ActionState.FAILED
    assert (outcome.message, outcome.exit_code) == ("exited with code 3", 3)
    assert "giving up" in watch.lines
    assert left_behind(tmp_path, "probe-action") == []


def test_missing_entrypoint_fails_with_a_reason(probe: dict[str, str], tmp_path: Path) -> None:
    outcome, _ = run(tmp_path, probe["broken"])
    assert outcome.state is ActionState.FAILED
    assert outcome.message == "cannot start /bin/nonexistent: No such file or directory"
    assert outcome.exit_code == 127


def test_unknown_image_fails_with_the_registrys_answer(
    probe: dict[str, str], tmp_path: Path
) -> None:
    host = probe["latest"].split("/")[0]
    outcome, _ = run(tmp_path, f"{host}/metalinit-test/absent:v1")
    assert outcome.state is ActionState.FAILED
    assert outcome.message.startswith(f"cannot pull {host}/metalinit-test/absent:v1: ")
    assert "not found" in outcome.message


@pytest.mark.parametrize("where", ["kernel command line", "workflow environment"])
def test_pull_through_a_mirror(probe: dict[str, str], tmp_path: Path, where: str) -> None:
    host = probe["latest"].split("/")[0]
    image = "quay.io/metalinit-test/probe:latest"
    if where == "kernel command line":
        fields: dict[str, object] = {"registry_mirror": f"quay.io=http://{host}"}
    else:
        fields = {"env": {"REGISTRY_MIRROR": f"http://{host}"}}
    outcome, watch = run(tmp_path, image, ("mirrored",), **fields)
    assert outcome.state is ActionState.SUCCESS, outcome
    assert f"metalinit: pulling {image} from the mirror http://{host}" in watch.lines
    assert "arg: mirrored" in watch.lines
    assert watch.progressed and watch.progressed[-1][0] == watch.progressed[-1][1]


def test_timeout_kills_the_containers_grandchildren(probe: dict[str, str], tmp_path: Path) -> None:
    name = "sleepy-action"
    script = "for i in 1 2 3; do (setsid sleep 1000 &); done; echo started; sleep 1000"
    namespaces: list[str] = []

    def started(line: str) -> None:
        if line == "started":
            watch.note_group(name)
            for pid in watch.pids:
                try:
                    namespaces.append(os.readlink(f"/proc/{pid}/ns/pid"))
                except OSError:
                    pass

    watch = Watch(on_line=started)
    outcome, _ = run(tmp_path, probe["latest"], ("script", script), 8, name=name, watch=watch)
    assert outcome.state is ActionState.TIMEOUT, (outcome, watch.lines)
    assert outcome.message == "timed out after 8 s"
    assert len(watch.pids) >= 5  # the runner's child, the shell (PID 1), three sleepers
    ours = os.readlink("/proc/self/ns/pid")
    assert namespaces.count(ours) == 1  # only the runner's child is in the host's
    assert all(not Path(f"/proc/{pid}").exists() or _zombie(pid) for pid in watch.pids)
    assert left_behind(tmp_path, name) == []


def test_pid_host_shares_the_pid_namespace(probe: dict[str, str], tmp_path: Path) -> None:
    name = "host-pid-action"
    gate = tmp_path / "gate"
    gate.mkdir()
    script = (
        'echo "pid: $$"; (setsid sleep 1000 >/dev/null 2>&1 &); echo started; '
        "while [ ! -e /gate/open ]; do sleep 0.05; done"
    )

    def started(line: str) -> None:
        if line == "started":
            watch.note_group(name)
            (gate / "open").touch()

    watch = Watch(on_line=started)
    outcome, _ = run(
        tmp_path, probe["latest"], ("script", script), name=name, pid="host", watch=watch,
        volumes=(f"{gate}:/gate",),
    )  # fmt: skip
    assert outcome.state is ActionState.SUCCESS, (outcome, watch.lines)
    pid = int(values(watch)["pid"])
    assert pid != 1 and pid in watch.pids  # the host's numbering
    assert outcome.message == "1 process it left running killed"
    assert all(not Path(f"/proc/{p}").exists() or _zombie(p) for p in watch.pids)
    assert left_behind(tmp_path, name) == []


class NoPivot(Syscalls):
    """A fake of one condition only: pivot_root refused with EINVAL, as the initramfs's
    rootfs refuses it. Every other call is the real one."""

    def pivot_root(self, new_root: str, put_old: str) -> None:
        raise SyscallError(errno.EINVAL, "pivot_root: Invalid argument")


def test_without_pivot_root_the_root_is_moved(
    probe: dict[str, str], tmp_path: Path, volumes: tuple[str, ...]
) -> None:
    outcome, watch = run(
        tmp_path, probe["latest"], ("script", SEES), name="moved-root", volumes=volumes,
        sys=NoPivot(),
    )  # fmt: skip
    assert outcome.state is ActionState.SUCCESS, (outcome, watch.lines)
    seen = values(watch)
    assert (seen["pid"], seen["hostname"], seen["rw-in"]) == ("1", "moved-root", "read me")
    assert seen["ro-write"] == "refused"
    assert left_behind(tmp_path, "moved-root") == []


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except OSError:
        return True
