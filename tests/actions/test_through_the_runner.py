"""The built-in actions as the worker runs them: chosen by the table from hub image names,
each attempt forked by the real runner into its own cgroup and mount namespace."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agent.actions import ActionContext, ActionOutcome
from agent.actions.run import run_action
from agent.provision.wire import ActionState
from tests.actions.conftest import artifact_url, debugfs
from tests.actions.harness import MIB, appears, compress, gpt_image, loop_disk
from tests.actions.http_server import sha256_file
from tests.server.serving import Served

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0, reason="cgroups, loop devices and mounts need root"
)


def attempt(
    tmp_path: Path, image: str, env: dict[str, str]
) -> tuple[ActionOutcome, list[str], list[tuple[int, int | None]]]:
    lines: list[str] = []
    progress: list[tuple[int, int | None]] = []
    ctx = ActionContext(name=image.rpartition("/")[2], image=image, env=env, say=lines.append,
                        progress=lambda done, total: progress.append((done, total)),
                        scratch=tmp_path / "scratch")  # fmt: skip
    return run_action(ctx, timeout=120), lines, progress


def test_a_hub_template_s_actions_in_turn(serve: Served, tmp_path: Path) -> None:
    image = gpt_image(serve.artifacts / "runner-disk.img")
    packed = compress(image, "zst")
    with loop_disk(tmp_path / "disk", 48 * MIB) as disk:
        outcome, lines, progress = attempt(tmp_path, "quay.io/tinkerbell/actions/image2disk:latest", {
            "IMG_URL": artifact_url(serve, packed.name), "DEST_DISK": disk, "COMPRESSED": "true",
            "CHECKSUM": f"sha256:{sha256_file(packed)}"})  # fmt: skip
        assert outcome.state is ActionState.SUCCESS, outcome.message
        assert any(line.startswith("checksum verified: sha256:") for line in lines)
        assert progress and progress[-1] == (image.stat().st_size, image.stat().st_size)
        assert appears(f"{disk}p1")
        outcome, lines, _ = attempt(tmp_path, "quay.io/tinkerbell-actions/writefile:v1.0.0", {
            "DEST_DISK": f"{disk}p1", "FS_TYPE": "ext4", "DEST_PATH": "/etc/hostname",
            "CONTENTS": "node-1\n", "UID": "0", "GID": "0", "MODE": "0644", "DIRMODE": "0755"})  # fmt: skip
        assert outcome.state is ActionState.SUCCESS, outcome.message
        assert debugfs(f"{disk}p1", "cat /etc/hostname") == "node-1\n"
        outcome, _, _ = attempt(tmp_path, "quay.io/tinkerbell/actions/image2disk:latest", {
            "IMG_URL": artifact_url(serve, packed.name), "DEST_DISK": disk, "CHECKSUM": "sha256:" + "0" * 64})  # fmt: skip
        assert outcome.state is ActionState.FAILED
        assert "checksum mismatch" in outcome.message and "zeroed" in outcome.message
        outcome, _, _ = attempt(tmp_path, "reboot", {})
        assert (outcome.state, outcome.then.value) == (ActionState.SUCCESS, "reboot")
