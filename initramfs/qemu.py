"""Boot a kernel + initramfs in QEMU and watch its serial console.

`qemu_argv()` is pure (options in, argv out). `Guest` runs QEMU, copies the console to a
callback line by line, and lets a caller wait for a line or type into the console, which
is how the end-to-end tests and `metalinit boot` both use it.
"""

from __future__ import annotations

import functools
import os
import re
import select
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

QEMU = "qemu-system-x86_64"
KVM_PROBE_SECONDS = 8.0
BUS_ROOT = {"virtio": "/dev/vda", "ide": "/dev/sda"}


class QemuError(Exception):
    pass


@dataclass(frozen=True)
class BootSpec:
    kernel: Path
    initrd: Path
    disk: Path | None = None
    disk_bus: str = "virtio"
    append: str = ""
    net: str = "none"  # none | user | tap:NAME
    forwards: tuple[tuple[int, int], ...] = ()  # (host port, guest port)
    memory_mb: int = 512
    accel: str = "tcg"
    mac: str = "52:54:00:12:34:56"
    extra: tuple[str, ...] = ()
    netns: str | None = None  # run QEMU inside this network namespace (for its tap device)


def disk_format(path: Path) -> str:
    with path.open("rb") as f:
        return "qcow2" if f.read(4) == b"QFI\xfb" else "raw"


def qemu_argv(spec: BootSpec) -> list[str]:
    argv = [QEMU, "-accel", spec.accel, "-m", str(spec.memory_mb), "-smp", "1"]
    argv += ["-nodefaults", "-no-user-config", "-display", "none", "-no-reboot"]
    argv += ["-serial", "stdio", "-monitor", "none"]
    argv += ["-kernel", str(spec.kernel), "-initrd", str(spec.initrd)]
    argv += ["-append", f"console=ttyS0 panic=-1 {spec.append}".strip()]
    if spec.accel == "kvm":
        argv += ["-cpu", "host"]
    if spec.disk is not None:
        fmt = disk_format(spec.disk)
        argv += ["-drive", f"file={spec.disk},format={fmt},if={spec.disk_bus},cache=unsafe"]
    argv += net_argv(spec)
    argv += list(spec.extra)
    return ["ip", "netns", "exec", spec.netns, *argv] if spec.netns else argv


def net_argv(spec: BootSpec) -> list[str]:
    if spec.net == "none":
        return []
    device = ["-device", f"virtio-net-pci,netdev=n0,mac={spec.mac}"]
    if spec.net == "user":
        forwards = "".join(f",hostfwd=tcp:127.0.0.1:{h}-:{g}" for h, g in spec.forwards)
        return ["-netdev", f"user,id=n0{forwards}", *device]
    if spec.net.startswith("tap:"):
        return ["-netdev", f"tap,id=n0,ifname={spec.net[4:]},script=no,downscript=no", *device]
    raise QemuError(f"--net {spec.net!r}: use user, none or tap:NAME")


@functools.cache
def choose_accel(kernel: Path) -> str:
    """KVM only when a guest really runs under it: on some hosts /dev/kvm opens but a
    guest never prints a line. METALINIT_ACCEL=tcg|kvm skips the probe; the answer is
    kept until the host reboots."""
    forced = os.environ.get("METALINIT_ACCEL")
    if forced in ("tcg", "kvm"):
        return forced
    if not os.access("/dev/kvm", os.R_OK | os.W_OK) or shutil.which(QEMU) is None:
        return "tcg"
    memo = _accel_memo()
    try:
        boot_id, accel = memo.read_text().split()
        if boot_id == _boot_id() and accel in ("tcg", "kvm"):
            return accel
    except (OSError, ValueError):
        pass
    accel = _probe_kvm(kernel)
    try:
        memo.parent.mkdir(parents=True, exist_ok=True)
        memo.write_text(f"{_boot_id()} {accel}\n")
    except OSError:
        pass
    return accel


def _accel_memo() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "metalinit" / "accel"


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    except OSError:
        return "unknown"


def _probe_kvm(kernel: Path) -> str:
    argv = [QEMU, "-accel", "kvm", "-cpu", "host", "-m", "128", "-nodefaults", "-display",
            "none", "-no-reboot", "-serial", "stdio", "-monitor", "none", "-kernel",
            str(kernel), "-append", "console=ttyS0 panic=-1 init=/none"]  # fmt: skip
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    seen = b""
    deadline = time.monotonic() + KVM_PROBE_SECONDS
    try:
        while b"Linux version" not in seen and (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([proc.stdout], [], [], left)
            chunk = os.read(proc.stdout.fileno(), 4096) if ready else b""
            if ready and not chunk:
                break
            seen += chunk
    finally:
        proc.kill()
        proc.wait()
    return "kvm" if b"Linux version" in seen else "tcg"


@dataclass
class Guest:
    """A running QEMU whose serial console is read line by line in a thread."""

    spec: BootSpec
    on_line: Callable[[str], None] = lambda line: None
    interactive: bool = False  # True: QEMU reads our stdin; False: `send()` types into it
    lines: list[str] = field(default_factory=list)
    started: float = 0.0

    def __post_init__(self) -> None:
        self._cond = threading.Condition()
        self._proc: subprocess.Popen[bytes] | None = None
        self._reader: threading.Thread | None = None

    def start(self) -> Guest:
        if shutil.which(QEMU) is None:
            raise QemuError(f"{QEMU} not found: install Debian's qemu-system-x86")
        for path in (self.spec.kernel, self.spec.initrd, self.spec.disk):
            if path is not None and not path.exists():
                raise QemuError(f"{path} does not exist (run `metalinit build` first?)")
        self.started = time.monotonic()
        self._proc = subprocess.Popen(
            qemu_argv(self.spec),
            stdin=None if self.interactive else subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        return self

    def _read(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        for raw in self._proc.stdout:
            line = raw.decode(errors="replace").rstrip("\r\n")
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()
            self.on_line(line)
        with self._cond:
            self._cond.notify_all()

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def wait_for(self, pattern: str, timeout: float, start: int = 0) -> re.Match[str] | None:
        """The first console line from index `start` matching `pattern`, or None."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        index = start
        with self._cond:
            while True:
                for line in self.lines[index:]:
                    if match := regex.search(line):
                        return match
                index = len(self.lines)
                left = deadline - time.monotonic()
                if left <= 0 or (not self.running and not self._reader_alive()):
                    return None
                self._cond.wait(min(left, 0.5))

    def _reader_alive(self) -> bool:
        return self._reader is not None and self._reader.is_alive()

    def send(self, text: str) -> None:
        assert self._proc is not None and self._proc.stdin is not None
        self._proc.stdin.write(text.encode())
        self._proc.stdin.flush()

    def wait(self, timeout: float) -> int | None:
        """QEMU's exit code, or None if it is still running after `timeout` seconds."""
        assert self._proc is not None
        try:
            code = self._proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if self._reader is not None:
            self._reader.join(timeout=5)
        return code

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)

    @property
    def console(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def __enter__(self) -> Guest:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
