"""Tinkerbell's example templates (tests/server/fixtures/tinkerbell/) run by a real
`metalinit serve` and a real `metalinit worker` onto a loop device, with only the
hardware's disk and the artifact address changed: image2disk of a gzip cloud image,
cexec chrooted into it (growpart and resize2fs), writefile, and kexec (through waitdaemon
in the Ubuntu example) — on a host the worker loads no kernel and says what it would do,
so nothing here reboots or kexecs this machine. Then image2disk's progress on the server
while it writes, and a wrong checksum FAILED with its reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.actions.conftest import debugfs
from tests.actions.harness import MIB, compress, loop_disk
from tests.actions.http_server import Behaviour, sha256_file
from tests.actions.http_server import serving as file_serving
from tests.actions.test_writefile import inode
from tests.provision import cloudimage
from tests.provision.workers import start_worker, wait_until, workflow
from tests.server.fleet import Fleet, action
from tests.server.serving import Served

pytestmark = pytest.mark.skipif(
    os.geteuid() != 0 or bool(cloudimage.missing_tools()),
    reason="loop devices and mounts need root; the image needs cloud-guest-utils, fdisk, e2fsprogs",
)
FIXTURES = Path(__file__).parents[1] / "server" / "fixtures" / "tinkerbell"
MAC = "3c:ec:ef:4c:4f:54"  # machine1's
DISK_MIB = 96
CAP_SYS_RESOURCE = 24


@pytest.fixture(scope="module")
def cloud_gz(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from kernels.fetch import fetch
    from kernels.manifest import DEFAULT, load

    work = tmp_path_factory.mktemp("cloudimg")
    return compress(cloudimage.build(work, fetch(load(DEFAULT)).vmlinuz), "gz")


@pytest.fixture
def disk(tmp_path: Path) -> Iterator[str]:
    with loop_disk(tmp_path / "disk", DISK_MIB * MIB) as made:  # blank, as a new machine's
        yield made


def fixture(name: str, **changes: str) -> str:
    text = (FIXTURES / name).read_text()
    for old, new in changes.items():
        assert old in text, f"{old} is not in {name}"
        text = text.replace(old, new)
    return text


def run_example(
    served: Served, tmp_path: Path, objects: list[str], expect: int = 0
) -> tuple[dict[str, Any], str]:
    applied = served.admin().apply("---\n".join(objects))
    name = next(a["name"] for a in applied if a["kind"] == "Workflow")
    worker = start_worker(served.url, [MAC], tmp_path / "worker.log", "--once")
    code = worker.exit_code(timeout=240)
    assert code == expect, worker.text()
    return served.admin().workflow(name), worker.text()


def states(view: dict[str, Any]) -> list[tuple[str, str]]:
    return [(a["name"], a["state"]) for a in view["actions"]]


def partition_bytes(partition: str) -> int:
    return int(Path(f"/sys/class/block/{Path(partition).name}/size").read_text()) * 512


def ext4_bytes(partition: str) -> int:
    out = subprocess.run(["dumpe2fs", "-h", partition], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    return int(fields["Block count"]) * int(fields["Block size"])


def can_resize_online() -> bool:
    """resize2fs of a mounted ext4 needs CAP_SYS_RESOURCE; some sandboxes (this development
    host's) leave it out of every process's bounding set."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapBnd:"):
            return bool(int(line.split()[1], 16) >> CAP_SYS_RESOURCE & 1)
    return False


def run_ubuntu(
    served: Served, cloud_gz: Path, disk: str, tmp_path: Path
) -> tuple[dict[str, Any], str]:
    shutil.copyfile(cloud_gz, served.artifacts / "jammy-server-cloudimg-amd64.raw.gz")
    return run_example(served, tmp_path, [
        fixture("ubuntu-template.yaml", **{"http://10.1.1.11:7173": f"{served.url}/artifacts"}),
        fixture("machine1-hardware.yaml", **{"/dev/nvme0n1": disk}),
        fixture("machine1-workflow.yaml"),
    ], expect=0 if can_resize_online() else 1)  # fmt: skip


def test_the_ubuntu_example(served: Served, cloud_gz: Path, disk: str, tmp_path: Path) -> None:
    view, log = run_ubuntu(served, cloud_gz, disk, tmp_path)
    root = f"{disk}p1"
    # growpart grew partition 1 to the disk's end (through partx, in the chroot)
    assert "grow-partition: CHANGED: partition=1 start=2048" in log
    assert partition_bytes(root) > (DISK_MIB - 4) * MIB
    if not can_resize_online():  # resize2fs fails as it would on any machine without the cap
        assert "resize2fs: Permission denied to resize filesystem" in log
        assert states(view)[:3] == [
            ("stream-ubuntu-image", "SUCCESS"),
            ("grow-partition", "FAILED"),
            ("write-netplan", "PENDING"),
        ]
        assert view["state"] == "FAILED" and view["actions"][1]["attempt"] == 3  # retries: 2
        return
    assert view["state"] == "SUCCESS", json.dumps(view, indent=1)
    assert states(view) == [
        ("stream-ubuntu-image", "SUCCESS"),
        ("grow-partition", "SUCCESS"),
        ("write-netplan", "SUCCESS"),
        ("add-tink-cloud-init-config", "SUCCESS"),
        ("add-tink-cloud-init-ds-config", "SUCCESS"),
        ("kexec-into-os", "SUCCESS"),
    ]
    assert all(a["seconds"] is not None and a["attempt"] == 1 for a in view["actions"])
    assert ext4_bytes(root) > (DISK_MIB - 4) * MIB  # and resize2fs the filesystem with it
    netplan = debugfs(root, "cat /etc/netplan/config.yaml")
    assert f"macaddress: {MAC}" in netplan and "- 10.1.1.51/24" in netplan
    assert "addresses: [1.1.1.1, 8.8.8.8]" in netplan
    assert inode(root, "/etc/netplan/config.yaml") == (0o644, 0, 0)
    assert 'metadata_urls: ["http://10.1.1.11:50061"]' in debugfs(
        root, "cat /etc/cloud/cloud.cfg.d/10_tinkerbell.cfg"
    )
    assert inode(root, "/etc/cloud/cloud.cfg.d/10_tinkerbell.cfg") == (0o600, 0, 0)
    assert inode(root, "/etc/cloud/cloud.cfg.d") == (0o700, 0, 0)
    assert debugfs(root, "cat /etc/cloud/ds-identify.cfg") == "datasource: Ec2\n"
    # waitdaemon reported first, then ran its IMAGE: the kexec action, read from grub.cfg
    assert log.index("waitdaemon, reporting SUCCESS") < log.index("kexec-into-os: loading")
    assert f"loading {cloudimage.KERNEL_PATH}, initrd {cloudimage.INITRD_PATH}" in log
    assert "would kexec now" in log


def test_the_debian_example(served: Served, cloud_gz: Path, disk: str, tmp_path: Path) -> None:
    shutil.copyfile(cloud_gz, served.artifacts / "debian-12-generic-amd64.raw.gz")
    view, log = run_example(served, tmp_path, [
        fixture("debian-template.yaml", **{"http://10.1.1.11:8080": f"{served.url}/artifacts"}),
        fixture("machine1-hardware.yaml", **{"/dev/nvme0n1": disk}),
        fixture("machine1-debian-workflow.yaml"),
    ])  # fmt: skip
    assert view["state"] == "SUCCESS", json.dumps(view, indent=1)
    assert states(view) == [
        ("stream-debian-image", "SUCCESS"),
        ("write-hostname", "SUCCESS"),
        ("write-user-data", "SUCCESS"),
        ("kexec-debian", "SUCCESS"),
    ]
    root = f"{disk}p1"
    assert debugfs(root, "cat /etc/hostname") == "machine1"
    user_data = "/var/lib/cloud/seed/nocloud/user-data"
    assert debugfs(root, f"cat {user_data}") == "#cloud-config\nusers:\n  - name: tink\n"
    assert inode(root, user_data) == (0o600, 0, 0)
    assert "kexec-debian: boot/grub/grub.cfg: default entry 'Cloud image'" in log
    assert f"command line '{cloudimage.ROOT_ARGS}'" in log
    assert "would kexec now" in log


def test_image2disk_progress_on_the_server_and_a_wrong_checksum(
    fleet: Fleet, cloud_gz: Path, disk: str, tmp_path: Path
) -> None:
    files = tmp_path / "files"
    files.mkdir()
    image = files / "cloudimg.raw"
    subprocess.run(["gzip", "-dc", str(cloud_gz)], stdout=image.open("wb"), check=True)
    size = image.stat().st_size
    # Two dropped connections: the write waits 1 s and 2 s before resuming, long enough
    # for heartbeats to show where it is.
    drops = Behaviour(drops={image.name: [size // 4, size // 2]})
    with file_serving(files, drops) as http:
        env = {"IMG_URL": http.url(image.name), "DEST_DISK": disk,
               "CHECKSUM": f"sha256:{sha256_file(image)}"}  # fmt: skip
        wf, mac = workflow(fleet, action("stream", image="quay.io/tinkerbell/actions/image2disk:latest",
                                          environment=env))  # fmt: skip
        worker = start_worker(fleet.served.url, [mac], tmp_path / "worker.log", "--once")
        seen: list[tuple[int, int]] = []

        def progress() -> bool:
            p = fleet.admin.workflow(wf)["actions"][0]["progress"]
            if p and (p["done"], p["total"]) not in seen:
                seen.append((p["done"], p["total"]))
            return any(0 < done < total for done, total in seen)

        wait_until("progress of the write on the server", progress, timeout=60)
        assert worker.exit_code() == 0, worker.text()
    assert fleet.admin.workflow(wf)["state"] == "SUCCESS"
    assert all(total == size for _, total in seen), seen
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)

    shutil.copyfile(cloud_gz, fleet.served.artifacts / cloud_gz.name)
    wrong = "sha256:" + "0" * 64
    env = {"IMG_URL": f"{fleet.served.url}/artifacts/{cloud_gz.name}", "DEST_DISK": disk,
           "COMPRESSED": "true", "CHECKSUM": wrong}  # fmt: skip
    wf, mac = workflow(fleet, action("stream", image="quay.io/tinkerbell-actions/image2disk:v1.0.0",
                                      environment=env))  # fmt: skip
    worker = start_worker(fleet.served.url, [mac], tmp_path / "worker2.log", "--once")
    assert worker.exit_code() == 1, worker.text()
    view = fleet.admin.workflow(wf)
    assert (view["state"], view["actions"][0]["state"]) == ("FAILED", "FAILED")
    message = view["actions"][0]["message"]
    assert "checksum mismatch" in message and wrong.removeprefix("sha256:") in message, message
    assert f"sha256:{sha256_file(cloud_gz)}" in message or sha256_file(cloud_gz) in message
