"""Action runner benchmark: what one attempt costs, built in and as a container.

    sudo .venv/bin/python bench/action_runner.py [--runs 5]

Rows, medians over the runs, in one process:
- a built-in no-op through run_action (fork, cgroup, mount namespace, tmpfs, kill check,
  removal), against a bare fork+exec of /bin/true (subprocess) as the floor;
- the busybox probe image (1 MB) and the Debian nginx image (one 70 MB layer) from a
  docker-registry on 127.0.0.1, pulled, unpacked into the tmpfs, started and ended through
  run_action, against the runtime pipeline doing the same from the same registry:
  `skopeo copy` → `umoci unpack` → `runc run` (with the same argv), into a fresh tmpfs.
Peak RSS of this process is reported at the end (the runner's parent side).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "rootfs-tools")]

from agent.actions import ActionContext, Then  # noqa: E402
from agent.actions.run import run_action  # noqa: E402
from agent.provision.wire import ActionState  # noqa: E402
from tests.container.probe_image import push_probe  # noqa: E402
from tests.rootfs_tools import images, registry  # noqa: E402


def noop(ctx: ActionContext) -> Then | None:
    return None


def median_seconds(runs: int, once: Callable[[], None]) -> float:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        once()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def ours(image: str, command: tuple[str, ...], work: Path, lookup: bool = False) -> None:
    lines: list[str] = []
    ctx = ActionContext(
        name="bench", image=image, env={}, command=command, say=lines.append,
        scratch=work / "scratch",
    )  # fmt: skip
    found = (lambda _: noop) if lookup else (lambda _: None)
    outcome = run_action(ctx, 600, lookup=found)
    if outcome.state is not ActionState.SUCCESS:
        raise SystemExit(f"{image}: {outcome.message}\n" + "\n".join(lines[-10:]))


def pipeline(ref: str, argv: list[str], work: Path) -> None:
    """skopeo copy → umoci unpack → runc run, all in a tmpfs made for the run."""
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        subprocess.run(["mount", "-t", "tmpfs", "bench", tmp], check=True)
        try:
            layout, bundle = f"{tmp}/layout", f"{tmp}/bundle"
            subprocess.run(
                ["skopeo", "copy", "-q", "--src-tls-verify=false", f"docker://{ref}",
                 f"oci:{layout}:bench"], check=True,
            )  # fmt: skip
            subprocess.run(
                ["umoci", "unpack", "--image", f"{layout}:bench", bundle],
                check=True, capture_output=True,
            )  # fmt: skip
            config_path = Path(bundle, "config.json")
            config = json.loads(config_path.read_text())
            config["process"]["args"], config["process"]["terminal"] = argv, False
            config_path.write_text(json.dumps(config))
            subprocess.run(
                ["runc", "--root", f"{tmp}/runc", "run", "-b", bundle, f"bench{time.time_ns()}"],
                check=True, capture_output=True, stdin=subprocess.DEVNULL,
            )  # fmt: skip
        finally:
            subprocess.run(["umount", "-l", tmp], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-runner."))
    reg = registry.start(work / "registry")
    try:
        probe = push_probe(reg.push, work / "probe")["root"]
        layout, tag = images.nginx_layout()
        nginx = reg.push(f"oci:{layout}:{tag}", "bench/nginx:latest")
        rows = [
            ("built-in no-op", lambda: ours("bench/noop", (), work, lookup=True),
             "fork+exec /bin/true", lambda: subprocess.run(["/bin/true"], check=True)),
            ("probe image (1 MB)", lambda: ours(probe, ("x",), work),
             "skopeo+umoci+runc", lambda: pipeline(probe, ["/bin/probe", "entry", "x"], work)),
            ("nginx image (70 MB layer)", lambda: ours(nginx, ("-v",), work),
             "skopeo+umoci+runc", lambda: pipeline(nginx, ["/usr/sbin/nginx", "-v"], work)),
        ]  # fmt: skip
        print(f"| action ({args.runs} runs, medians) | ours s | baseline | baseline s | ratio |")
        print("|---|---|---|---|---|")
        for name, run_ours, base_name, run_base in rows:
            run_ours()  # warm: imports, page cache
            mine = median_seconds(args.runs, run_ours)
            base = median_seconds(args.runs, run_base)
            print(f"| {name} | {mine:.3f} | {base_name} | {base:.3f} | {mine / base:.2f}x |")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss >> 10
        print(f"\npeak RSS of the runner's process: {peak} MiB")
    finally:
        reg.stop()
        subprocess.run(["rm", "-rf", str(work)], check=False)


if __name__ == "__main__":
    main()
