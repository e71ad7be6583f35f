"""Test harness for the built-in actions: real loop devices, real images, and running an action
in a forked child process as the runner does (its own process, so its private mount
namespace and any mount it leaves behind die with it, never the test's)."""

from __future__ import annotations

import json
import os
import subprocess
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from agent.actions import Action, ActionContext, ActionError
from tests.agent.test_blockdev_sysblock import _appears

MIB = 1 << 20
GPT_TWO_PARTS = "label: gpt\nstart=2048, size=16384, name=root\nstart=18432, size=8192, name=data\n"


@dataclass
class Outcome:
    then: str | None = None
    error: str | None = None
    crash: str | None = None
    lines: list[str] = field(default_factory=list)
    progress: list[tuple[int, int | None]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and self.crash is None

    def text(self) -> str:
        return "\n".join(self.lines)


def run_in_child(action: Action, ctx: ActionContext) -> Outcome:
    """Run `action(ctx)` in a forked child; its output, progress and result come back."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read_fd)
        out = os.fdopen(write_fd, "w", buffering=1)
        code = 0
        try:
            ctx.say = lambda line: out.write(json.dumps({"say": line}) + "\n")
            ctx.progress = lambda done, total: out.write(
                json.dumps({"progress": [done, total]}) + "\n"
            )
            then = action(ctx)
            out.write(json.dumps({"then": then.value if then else None}) + "\n")
        except ActionError as e:
            out.write(json.dumps({"error": str(e)}) + "\n")
        except BaseException:
            out.write(json.dumps({"crash": traceback.format_exc()}) + "\n")
        finally:
            try:
                out.flush()
            except BaseException:
                code = 3
            os._exit(code)
    os.close(write_fd)
    outcome = Outcome()
    with os.fdopen(read_fd) as pipe:
        for line in pipe:
            message = json.loads(line)
            if "say" in message:
                outcome.lines.append(message["say"])
            elif "progress" in message:
                outcome.progress.append(tuple(message["progress"]))  # type: ignore[arg-type]
            elif "then" in message:
                outcome.then = message["then"]
            elif "error" in message:
                outcome.error = message["error"]
            else:
                outcome.crash = message["crash"]
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"action child ended with {status}"
    return outcome


def context(env: dict[str, str], scratch: Path, **more: object) -> ActionContext:
    return ActionContext(name="test", image="test", env=env, scratch=scratch, **more)  # type: ignore[arg-type]


def appears(node: str, timeout: float = 5.0) -> bool:
    return _appears(node, timeout)


@contextmanager
def loop_disk(backing: Path, size: int, script: str | None = None) -> Iterator[str]:
    """A loop device over a sparse file of `size` bytes; partitioned by sfdisk if `script`
    is given (and the partitions added with partx where the kernel does not parse tables)."""
    with open(backing, "wb") as f:
        f.truncate(size)
    command = ["losetup", "-f", "--show", "-P", str(backing)]
    disk = subprocess.run(command, capture_output=True, text=True, check=True).stdout.strip()
    try:
        if script is not None:
            subprocess.run(["sfdisk", "-q", disk], input=script, text=True, check=True)
            if not appears(f"{disk}p1", timeout=0.5):
                subprocess.run(["partx", "-a", disk], check=True)
            assert appears(f"{disk}p1"), f"{disk}p1 did not appear"
        yield disk
    finally:
        subprocess.run(["partx", "-d", disk], capture_output=True, check=False)
        subprocess.run(["losetup", "-d", disk], check=True)


def gpt_image(path: Path, label: str = "imgroot", size: int = 24 * MIB) -> Path:
    """A GPT disk image file: an ext4 partition 1 labelled `label` holding /hello, and a
    partition 2 of 4 MiB."""
    with open(path, "wb") as f:
        f.truncate(size)
    subprocess.run(["sfdisk", "-q", str(path)], input=GPT_TWO_PARTS, text=True, check=True)
    tree = path.with_suffix(".tree")
    tree.mkdir()
    (tree / "hello").write_text("hello from the image\n")
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-L", label, "-d", str(tree), "-E", f"offset={2048 * 512}",
         str(path), "8M"],
        check=True,
    )  # fmt: skip
    return path


def compress(path: Path, kind: str) -> Path:
    tools = {"gz": ["gzip", "-c"], "xz": ["xz", "-c", "-T1"], "zst": ["zstd", "-q", "-c"],
             "bz2": ["bzip2", "-c"]}  # fmt: skip
    out = path.with_name(f"{path.name}.{kind}")
    with open(out, "wb") as dst:  # by name: zstd then records the size in its frame header
        subprocess.run([*tools[kind], str(path)], stdout=dst, check=True)
    return out


def blkid(node: str) -> dict[str, str]:
    done = subprocess.run(["blkid", "-p", "-o", "export", node], capture_output=True, text=True)
    return dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)


def read_bytes(node: str, count: int, offset: int = 0) -> bytes:
    fd = os.open(node, os.O_RDONLY)
    try:
        return os.pread(fd, count, offset)
    finally:
        os.close(fd)
