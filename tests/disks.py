"""Disks for the tests: a busybox root tree, made into a real ext4 image."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

BUSYBOX = Path("/bin/busybox")
APPLETS = ("sh", "echo", "sleep", "cat", "id", "pwd", "env", "grep", "ls", "true", "ps", "wc",
           "ip", "cut", "head", "poweroff", "mount", "uname")  # fmt: skip
# The kernel's quoting knows only double quotes, so scripts with quotes live on the disk.
SCRIPTS = {
    "ignore-term": "trap 'echo got TERM' TERM; echo ready; while true; do sleep 0.2; done",
    "make-orphans": "for i in 1 2 3 4 5; do (sleep 0.1 &); done; sleep 1; "
    "echo zombies=$(cat /proc/[0-9]*/stat | grep -c ') Z ')",
    "show-uptime": "echo entrypoint-uptime $(cut -d' ' -f1 /proc/uptime)",
}


def make_tree(tree: Path, image_json: dict[str, object] | None = None) -> Path:
    for name in ("bin", "etc", "dev", "proc", "sys", "run", "tmp", "srv", "home/app", "mnt"):
        (tree / name).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, tree / "bin/busybox")
    for applet in APPLETS:
        (tree / "bin" / applet).symlink_to("busybox")
    (tree / "etc/passwd").write_text(
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n"
    )
    (tree / "etc/group").write_text("root:x:0:\napp:x:1000:\nvideo:x:44:app\n")
    for name, script in SCRIPTS.items():
        (tree / "bin" / name).write_text(f"#!/bin/sh\n{script}\n")
        (tree / "bin" / name).chmod(0o755)
    if image_json is not None:
        (tree / ".metalinit").mkdir()
        (tree / ".metalinit/image.json").write_text(json.dumps(image_json))
    return tree


def make_ext4(tree: Path, image: Path, label: str, fs_uuid: str, size: str = "16M") -> Path:
    subprocess.run(
        ["mkfs.ext4", "-q", "-F", "-d", str(tree), "-L", label, "-U", fs_uuid, str(image), size],
        check=True,
    )
    return image


def busybox_disk(
    workdir: Path, name: str, fs_uuid: str, image_json: dict[str, object] | None = None
) -> Path:
    tree = make_tree(workdir / f"{name}-tree", image_json)
    return make_ext4(tree, workdir / f"{name}.img", name, fs_uuid)
