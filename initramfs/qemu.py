"""Boot a machine in QEMU and watch its serial console.

A machine boots our kernel + initramfs directly (`-kernel`), or from its firmware: SeaBIOS
(with QEMU's iPXE option ROM on the NIC) or OVMF (UEFI, whose own network stack PXE-boots
the NIC), from the network first and then its disk, as a rack machine does.

`qemu_argv()` is pure (options in, argv out). `Guest` runs QEMU, copies the console to a
callback line by line, and lets a caller wait for a line or type into the console, which
is how the end-to-end tests and `metalinit boot` both use it.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import re
import select
import shutil
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

QEMU = "qemu-system-x86_64"
KVM_PROBE_SECONDS = 8.0
BUS_ROOT = {"virtio": "/dev/vda", "ide": "/dev/sda", "nvme": "/dev/nvme0n1"}
DISK_DEVICE = {"virtio": "virtio-blk-pci", "ide": "ide-hd", "nvme": "nvme,serial=metalinit-disk0"}
FIRMWARES = ("bios", "uefi")
# Each way to boot and the firmware's order of devices for it (bootindex 1, 2, …).
BOOT_ORDER: dict[str, tuple[str, ...]] = {
    "kernel": (),
    "network": ("net", "disk"),
    "disk": ("disk",),
    "disk-then-network": ("disk", "net"),
}
BOOTS = tuple(BOOT_ORDER)
# Debian's `ovmf` package: the 4 MiB build; the variable store is per machine (a copy).
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")


class QemuError(Exception):
    pass


@dataclass(frozen=True)
class BootSpec:
    kernel: Path | None = None  # boot="kernel" only
    initrd: Path | None = None
    disk: Path | None = None
    disk_bus: str = "virtio"  # virtio | ide | nvme
    append: str = ""
    net: str = "none"  # none | user | tap:NAME
    forwards: tuple[tuple[int, int], ...] = ()  # (host port, guest port)
    memory_mb: int = 512
    accel: str = "tcg"
    mac: str = "52:54:00:12:34:56"
    extra: tuple[str, ...] = ()
    netns: str | None = None  # run QEMU inside this network namespace (for its tap device)
    firmware: str = "bios"  # bios (SeaBIOS) | uefi (OVMF)
    # kernel (-kernel/-initrd) | network (then the disk) | disk | disk-then-network (a
    # blank disk falls through to the network, as in a rack whose machines boot their disk)
    boot: str = "kernel"
    efi_vars: Path | None = None  # uefi: this machine's variable store, copied on first start
    reboot: bool = False  # a guest reboot resets the machine; False: QEMU exits instead
    # More archives, unpacked after `initrd` (the hardware one). QEMU 7.2 takes one -initrd
    # for a Linux kernel, so Guest concatenates them: the kernel unpacks concatenated
    # compressed archives one after the other, as from a boot loader's list.
    more_initrds: tuple[Path, ...] = ()


def disk_format(path: Path) -> str:
    with path.open("rb") as f:
        return "qcow2" if f.read(4) == b"QFI\xfb" else "raw"


def check(spec: BootSpec) -> None:
    """Refuse a spec that names no way to boot, before QEMU says something obscure."""
    if spec.firmware not in FIRMWARES:
        raise QemuError(f"firmware {spec.firmware!r}: use {' or '.join(FIRMWARES)}")
    if spec.boot not in BOOTS:
        raise QemuError(f"boot {spec.boot!r}: use one of {', '.join(BOOTS)}")
    if spec.disk_bus not in DISK_DEVICE:
        raise QemuError(f"disk bus {spec.disk_bus!r}: use one of {', '.join(DISK_DEVICE)}")
    if spec.boot == "kernel" and (spec.kernel is None or spec.initrd is None):
        raise QemuError("boot kernel needs a kernel and an initrd")
    if spec.boot == "kernel" and spec.firmware == "uefi":
        raise QemuError("boot kernel is for bios machines; a uefi one boots network or disk")
    # What the way's name says it boots from must be there (network: a disk is optional).
    if "network" in spec.boot and spec.net == "none":
        raise QemuError(f"boot {spec.boot} needs a network (user or tap:NAME)")
    if "disk" in spec.boot and spec.disk is None:
        raise QemuError(f"boot {spec.boot} needs a disk")
    if spec.firmware == "uefi" and spec.efi_vars is None:
        raise QemuError("firmware uefi needs efi_vars: where this machine keeps its variables")


def qemu_argv(spec: BootSpec) -> list[str]:
    check(spec)
    argv = [QEMU, "-accel", spec.accel, "-m", str(spec.memory_mb), "-smp", "1"]
    argv += ["-nodefaults", "-no-user-config", "-display", "none"]
    argv += [] if spec.reboot else ["-no-reboot"]
    argv += ["-serial", "stdio", "-monitor", "none"]
    if spec.accel == "kvm":
        argv += ["-cpu", "host"]
    argv += firmware_argv(spec)
    if spec.boot == "kernel":
        argv += ["-kernel", str(spec.kernel), "-initrd", str(spec.initrd)]
        argv += ["-append", f"console=ttyS0 panic=-1 {spec.append}".strip()]
    argv += disk_argv(spec)
    argv += net_argv(spec)
    argv += list(spec.extra)
    return ["ip", "netns", "exec", spec.netns, *argv] if spec.netns else argv


def firmware_argv(spec: BootSpec) -> list[str]:
    if spec.firmware == "bios":
        # With no display, SeaBIOS and the iPXE ROM write their text to the serial line.
        return [] if spec.boot == "kernel" else ["-machine", "graphics=off"]
    return [
        "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
        "-drive", f"if=pflash,format=raw,unit=1,file={spec.efi_vars}",
    ]  # fmt: skip


def boot_index(spec: BootSpec, device: str) -> str:
    """The firmware's boot order; it tries the next device when one gives up."""
    order = BOOT_ORDER[spec.boot]
    return f",bootindex={order.index(device) + 1}" if device in order else ""


def disk_argv(spec: BootSpec) -> list[str]:
    if spec.disk is None:
        return []
    fmt = disk_format(spec.disk)
    return [
        "-drive", f"file={spec.disk},format={fmt},if=none,id=disk0,cache=unsafe",
        "-device", f"{DISK_DEVICE[spec.disk_bus]},drive=disk0{boot_index(spec, 'disk')}",
    ]  # fmt: skip


def net_argv(spec: BootSpec) -> list[str]:
    if spec.net == "none":
        return []
    # OVMF's own virtio-net driver and PXE fetch ipxe.efi when the NIC carries no ROM.
    rom = ",romfile=" if spec.firmware == "uefi" else ""
    nic = f"virtio-net-pci,netdev=n0,mac={spec.mac}{rom}{boot_index(spec, 'net')}"
    device = ["-device", nic]
    if spec.net == "user":
        forwards = "".join(f",hostfwd=tcp:127.0.0.1:{h}-:{g}" for h, g in spec.forwards)
        return ["-netdev", f"user,id=n0{forwards}", *device]
    if spec.net.startswith("tap:"):
        return ["-netdev", f"tap,id=n0,ifname={spec.net[4:]},script=no,downscript=no", *device]
    raise QemuError(f"--net {spec.net!r}: use user, none or tap:NAME")


def concatenate(parts: list[Path], target: Path) -> None:
    with target.open("wb") as out:
        for part in parts:
            with part.open("rb") as source:
                shutil.copyfileobj(source, out)


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


def prepare_efi_vars(spec: BootSpec) -> None:
    """A machine's own copy of OVMF's variable store, kept across its power cycles."""
    for path in (OVMF_CODE, OVMF_VARS):
        if not path.exists():
            raise QemuError(f"{path} does not exist: install Debian's ovmf")
    assert spec.efi_vars is not None
    if not spec.efi_vars.exists():
        spec.efi_vars.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(OVMF_VARS, spec.efi_vars)


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
        self._scratch: Path | None = None

    def start(self) -> Guest:
        if shutil.which(QEMU) is None:
            raise QemuError(f"{QEMU} not found: install Debian's qemu-system-x86")
        for path in (self.spec.kernel, self.spec.initrd, self.spec.disk, *self.spec.more_initrds):
            if path is not None and not path.exists():
                raise QemuError(f"{path} does not exist (run `metalinit build` first?)")
        if self.spec.firmware == "uefi":
            prepare_efi_vars(self.spec)
        spec = self.spec
        if spec.initrd is not None and spec.more_initrds:
            self._scratch = Path(tempfile.mkdtemp(prefix="metalinit-initrd."))
            combined = self._scratch / "initrd"
            concatenate([spec.initrd, *spec.more_initrds], combined)
            spec = dataclasses.replace(spec, initrd=combined, more_initrds=())
        self.started = time.monotonic()
        self._proc = subprocess.Popen(
            qemu_argv(spec),
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
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None
        return code

    def kill(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.kill()
            self._proc.wait()
        if self._reader is not None:
            self._reader.join(timeout=5)
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    @property
    def console(self) -> str:
        with self._cond:
            return "\n".join(self.lines)

    def __enter__(self) -> Guest:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.kill()
