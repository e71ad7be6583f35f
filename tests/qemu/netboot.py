"""A rack in network namespaces for the end-to-end network boots: bridge br0 (forward_delay
0) in a server namespace, `metalinit serve --pxe --dhcp …` on 10.77.0.1 with our build in
ARTIFACTS/boot and the installed-system image beside it, and QEMU machines on taps of that
bridge that boot from the network, then from their own disk.

The operator's side goes through the `metalinit` CLI run in the server's namespace, as an
operator on the provisioning host would type it.
"""

from __future__ import annotations

import itertools
import re
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from initramfs.qemu import BootSpec, Guest
from tests.net.topology import Lan
from tests.netboot.lan import NetServer, add_tap
from tests.qemu import installed

IMAGE_NAME = "installed.img.zst"
BLANK_MIB = 160
PANIC_WORDS = ("Kernel panic", "Attempted to kill init")
HOSTNAME = "netbooted-{name}"
MARK = "marked by cexec on {name}"
# Lines after which a machine cannot reach what a test waits for.
STUCK = r"No bootable device|Kernel panic|stage '\w+' failed|rescue shell started"
_macs = itertools.count(1)


def mac_for(n: int) -> str:
    return f"52:54:00:4e:42:{n:02x}"


@dataclass
class Machine:
    """One QEMU machine of the rack: its NIC's MAC and tap, its disk, its firmware."""

    name: str
    mac: str
    tap: str
    disk: Path
    firmware: str = "bios"
    disk_bus: str = "virtio"
    efi_vars: Path | None = None
    reboot: bool = False  # keep a guest reboot inside QEMU (a reboot action's next boot)
    boot: str = "network"  # the firmware's order: network then disk, or disk-then-network

    @property
    def root_disk(self) -> str:
        return installed_disk(self.disk_bus)


def installed_disk(bus: str) -> str:
    return {"virtio": "/dev/vda", "nvme": "/dev/nvme0n1"}[bus]


def partition(disk: str, n: int) -> str:
    return f"{disk}p{n}" if disk[-1].isdigit() else f"{disk}{n}"


@dataclass
class Rack:
    net: Lan
    server: NetServer
    work: Path
    image: installed.InstalledImage
    accel: str
    guests: list[Guest] = field(default_factory=list)

    @property
    def image_url(self) -> str:
        return f"{self.server.url}/artifacts/{IMAGE_NAME}"

    def machine(self, label: str, *, firmware: str = "bios", disk_bus: str = "virtio",
                disk: Path | None = None, reboot: bool = False,
                boot: str = "network") -> Machine:  # fmt: skip
        """A new machine on its own tap; a blank disk unless `disk` is given."""
        n = next(_macs)
        tap = add_tap(self.net, f"nbt{n}")
        name = f"{label}-{n}"
        if disk is None:
            disk = self.work / f"{name}.img"
            with disk.open("wb") as f:
                f.truncate(BLANK_MIB * 1024 * 1024)
        efi_vars = self.work / f"{name}.vars" if firmware == "uefi" else None
        return Machine(name, mac_for(n), tap, disk, firmware, disk_bus, efi_vars, reboot, boot)

    def installed_copy(self, name: str) -> Path:
        """A disk that already holds the installed system (a copy-on-write overlay)."""
        overlay = self.work / f"{name}.qcow2"
        subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
             str(self.image.raw), str(overlay)],
            check=True,
        )  # fmt: skip
        return overlay

    def power_on(self, machine: Machine, on_line: Callable[[str], None] | None = None) -> Guest:
        """Start the machine; `on_line` sees each console line as it comes (a benchmark
        timestamps them)."""
        spec = BootSpec(
            disk=machine.disk,
            disk_bus=machine.disk_bus,
            net=f"tap:{machine.tap}",
            mac=machine.mac,
            accel=self.accel,
            netns=self.net.server_ns,
            firmware=machine.firmware,
            boot=machine.boot,
            efi_vars=machine.efi_vars,
            reboot=machine.reboot,
            memory_mb=768,
        )
        guest = Guest(spec, on_line=on_line) if on_line else Guest(spec)
        guest.start()
        self.guests.append(guest)
        return guest

    def stop_guests(self) -> list[str]:
        """Kill every guest; the consoles that show a kernel panic."""
        panicked = []
        for n, guest in enumerate(self.guests):
            guest.kill()
            (self.work / f"console-{n}.log").write_text(guest.console)
            if any(word in guest.console for word in PANIC_WORDS):
                panicked.append(guest.console)
        self.guests.clear()
        return panicked

    def server_said(self, pattern: str) -> bool:
        return re.search(pattern, self.server.log_text()) is not None

    # The operator's side, through the CLI.

    def add_hardware(self, machine: Machine) -> None:
        self.server.cli("hw", "add", "--name", machine.name, "--mac", machine.mac,
                        "--disk", machine.root_disk)  # fmt: skip

    def add_workflow(self, machine: Machine, actions: list[dict[str, Any]]) -> str:
        """A template of `actions` for this machine, and a workflow of it; its id."""
        name = f"t-{machine.name}"
        text = yaml.safe_dump(
            {"version": "0.1", "name": name, "global_timeout": 900,
             "tasks": [{"name": "os", "worker": "{{.device_1}}", "actions": actions}]},
            sort_keys=False,
        )  # fmt: skip
        path = self.work / f"{name}.yaml"
        path.write_text(text)
        self.server.cli("template", "add", str(path))
        done = self.server.cli("workflow", "create", "--template", name,
                               "--hardware", f"device_1={machine.mac}")  # fmt: skip
        return done.stdout.split()[-1]

    def workflow(self, wf: str) -> dict[str, Any]:
        view: dict[str, Any] = self.server.cli_json("workflow", "show", wf)
        return view

    def hardware(self, name: str) -> dict[str, Any]:
        view: dict[str, Any] = self.server.cli_json("hw", "show", name)
        return view

    def wait_workflow(self, wf: str, done: Callable[[dict[str, Any]], bool],
                      timeout: float) -> dict[str, Any]:  # fmt: skip
        end = time.monotonic() + timeout
        while True:
            view = self.workflow(wf)
            if done(view) or time.monotonic() > end:
                return view
            time.sleep(1)


def build_image(vmlinuz: Path, initramfs: Path, work: Path) -> installed.InstalledImage:
    """The installed-system image a rack's machines get, or a skip naming what is missing."""
    missing = installed.missing_tools()
    if missing:
        pytest.skip(f"the installed-system disk needs: {', '.join(missing)}")
    return installed.build_installed(work, vmlinuz, initramfs)


def stage_boot_files(work: Path, *files: Path) -> None:
    """The build's files in ARTIFACTS/boot, as copies: the server serves no symlink out of
    ARTIFACTS."""
    boot = work / "artifacts" / "boot"
    boot.mkdir(parents=True)
    for path in files:
        shutil.copyfile(path, boot / path.name)


def publish(server: NetServer, image: installed.InstalledImage) -> None:
    target = server.artifacts / IMAGE_NAME
    if not target.exists():
        shutil.copyfile(image.zst, target)


def action(name: str, image: str, timeout: int = 300, **env: str) -> dict[str, Any]:
    return {"name": name, "image": image, "timeout": timeout, "environment": env}


def install_actions(rack: Rack, machine: Machine, checksum: str, then: str) -> list[dict[str, Any]]:
    """The workflow of tests 1 and 2: the image, the hostname, a mark, then `then`
    (kexec into the installed kernel, or reboot into the disk)."""
    disk, root = machine.root_disk, partition(machine.root_disk, 1)
    actions = [
        action("stream-image", "quay.io/tinkerbell/actions/image2disk:latest",
               IMG_URL=rack.image_url, DEST_DISK=disk, COMPRESSED="true", CHECKSUM=checksum),
        action("write-hostname", "quay.io/tinkerbell/actions/writefile:latest",
               DEST_DISK=root, FS_TYPE="ext4", DEST_PATH="/etc/hostname",
               CONTENTS=HOSTNAME.format(name=machine.name), MODE="0644"),
        action("leave-mark", "quay.io/tinkerbell/actions/cexec:latest",
               BLOCK_DEVICE=root, FS_TYPE="ext4", CHROOT="y", DEFAULT_INTERPRETER="/bin/sh -c",
               CMD_LINE=f"echo '{MARK.format(name=machine.name)}' > {installed.MARK_PATH}"),
    ]  # fmt: skip
    if then == "kexec":
        actions.append(
            action("kexec-installed", "quay.io/tinkerbell/actions/kexec:latest",
                   BLOCK_DEVICE=root, FS_TYPE="ext4", KERNEL_PATH=installed.KERNEL_PATH,
                   INITRD_PATH=installed.INITRD_PATH, CMD_LINE=installed.cmdline("kexec"))
        )  # fmt: skip
    else:
        actions.append(action("reboot-installed", "quay.io/tinkerbell/actions/reboot:latest"))
    return actions


def up_line(via: str) -> str:
    """The installed system's entrypoint line, as a pattern."""
    return rf"{installed.UP} installed\.via={via} hostname=(\S*) mark=(.*)"


def expect(guest: Guest, pattern: str, timeout: float,
           stuck: str = STUCK) -> re.Match[str]:  # fmt: skip
    """The first console line matching `pattern`; fails at once, with the console's
    tail, when a line matching `stuck` comes first (the machine will not get there)."""
    found = guest.wait_for(rf"(?P<want>{pattern})|(?P<stuck>{stuck})", timeout)
    assert found and found.group("want") is not None, tail(guest)
    again = re.search(pattern, found.group("want"))
    assert again is not None
    return again


def tail(guest: Guest, lines: int = 60) -> str:
    return "\n".join(guest.lines[-lines:])
