"""What the container's start asks of the kernel, recorded (no root needed)."""

from __future__ import annotations

import os
from pathlib import Path

from agent.container.create import prepare_root
from agent.container.spec import plan
from agent.syscalls import (
    MS_BIND,
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_RDONLY,
    MS_REC,
    MS_REMOUNT,
    MS_SLAVE,
    Recorder,
)
from rootfs_tools.image_config import ImageConfig


def test_prepare_root_mounts_in_order(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc/app.conf").write_text("image's\n")
    os.symlink("/../../outside", root / "mnt")  # a hostile link: must stay in the tree
    host_file = tmp_path / "app.conf"
    host_file.write_text("host's\n")
    missing = tmp_path / "not-yet"
    spec = plan(
        name="recorded",
        image=ImageConfig(cmd=("true",)),
        volumes=(f"{tmp_path}:/mnt/data", f"{host_file}:/etc/app.conf:ro", f"{missing}:/state"),
        passwd="root:x:0:0:root:/root:/bin/sh\n",
    )
    said: list[str] = []
    recorder = Recorder()
    prepare_root(recorder, spec, str(root), said.append)
    r = str(root)
    assert recorder.calls == [
        ("mount", "none", "/", None, MS_REC | MS_SLAVE, None),
        ("mount", r, r, None, MS_BIND | MS_REC, None),
        ("mount", "proc", f"{r}/proc", "proc", MS_NOSUID | MS_NOEXEC | MS_NODEV, None),
        ("mount", "/sys", f"{r}/sys", None, MS_BIND | MS_REC, None),
        ("mount", "/dev", f"{r}/dev", None, MS_BIND | MS_REC, None),
        # /dev/shm: not there, since the recorded /dev bind made nothing; skipped
        ("mount", str(tmp_path), f"{r}/outside/data", None, MS_BIND | MS_REC, None),
        ("mount", str(host_file), f"{r}/etc/app.conf", None, MS_BIND | MS_REC, None),
        ("mount", "none", f"{r}/etc/app.conf", None, MS_BIND | MS_REMOUNT | MS_RDONLY, None),
        ("mount", str(missing), f"{r}/state", None, MS_BIND | MS_REC, None),
        ("sethostname", "recorded"),
    ]
    assert (root / "outside/data").is_dir() and (root / "state").is_dir()
    assert not (tmp_path.parent / "outside").exists()
    assert missing.is_dir()
    assert said == [f"metalinit: volume source {missing} did not exist: created it"]
