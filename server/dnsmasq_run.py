"""dnsmasq as `metalinit serve`'s child: the host facts its configuration needs (the
interface's address, the iPXE binaries), and a supervisor that starts it, copies its log
into ours, starts it again with back-off if it dies, and stops it with the server.

dnsmasq runs in the foreground (`--keep-in-foreground --log-facility=-`), so it is our
child, not a daemon. It runs under a small keeper (`python -m server.dnsmasq_run keep
ARGV…`) that the kernel signals when the server dies, even of kill -9 (PR_SET_PDEATHSIG),
and that then stops dnsmasq: dnsmasq's own death signal would not last, because the
kernel clears it when dnsmasq drops root for its own user.
"""

from __future__ import annotations

import ctypes
import fcntl
import ipaddress
import logging
import os
import shutil
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from ipaddress import IPv4Interface
from pathlib import Path

from server.dnsmasq import BIOS_FILE, UEFI_FILE, DnsmasqConfigError

log = logging.getLogger("metalinit.server")
IPXE_DIRS = (Path("/usr/lib/ipxe"),)  # where Debian's `ipxe` package puts its binaries
SIOCGIFADDR, SIOCGIFNETMASK = 0x8915, 0x891B
PR_SET_PDEATHSIG = 1
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
HEALTHY_SECONDS = 60.0  # a run this long resets the back-off
START_SECONDS = 10.0
STOP_SECONDS = 5.0


def find_ipxe(dirs: tuple[Path, ...] = IPXE_DIRS) -> Path:
    """The directory holding both iPXE binaries: dnsmasq's TFTP root."""
    for directory in dirs:
        if all((directory / name).is_file() for name in (BIOS_FILE, UEFI_FILE)):
            return directory
    where = ", ".join(str(d) for d in dirs)
    raise DnsmasqConfigError(
        f"no {BIOS_FILE} and {UEFI_FILE} in {where}: install Debian's ipxe package"
    )


def interface_address(name: str) -> IPv4Interface:
    """An interface's IPv4 address and netmask, as the kernel has them (SIOCGIFADDR)."""
    request = struct.pack("256s", name.encode()[:15])
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            addr = fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)[20:24]
            mask = fcntl.ioctl(sock.fileno(), SIOCGIFNETMASK, request)[20:24]
        except OSError as err:
            raise DnsmasqConfigError(
                f"--dhcp-interface {name}: no IPv4 address there ({err.strerror}); "
                "give the interface an address on the provisioning network first"
            ) from None
    return IPv4Interface(f"{socket.inet_ntoa(addr)}/{socket.inet_ntoa(mask)}")


def has_ipv6_prefix(name: str, if_inet6: str | None = None) -> bool:
    """Whether the interface has a global or unique-local IPv6 address (not link-local)."""
    if if_inet6 is None:
        try:
            if_inet6 = Path("/proc/net/if_inet6").read_text()
        except OSError:
            return False
    for line in if_inet6.splitlines():
        fields = line.split()
        if len(fields) == 6 and fields[5] == name:
            address = ipaddress.IPv6Address(int(fields[0], 16))
            if not (address.is_link_local or address.is_loopback):
                return True
    return False


def dnsmasq_argv(conf: Path) -> list[str]:
    binary = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"
    if not Path(binary).exists():
        raise DnsmasqConfigError("dnsmasq not found: install Debian's dnsmasq-base")
    return [binary, "--keep-in-foreground", "--log-facility=-", f"--conf-file={conf}"]


def keeper_argv(argv: list[str]) -> list[str]:
    return [sys.executable, "-m", "server.dnsmasq_run", "keep", str(os.getpid()), *argv]


def keep(argv: list[str], parent: int) -> int:
    """Run argv; stop it on SIGTERM or SIGINT, or when `parent` (the server) dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    if os.getppid() != parent:  # the server died before the death signal was set
        return 1
    child = subprocess.Popen(argv, stdin=subprocess.DEVNULL)
    while child.poll() is None and not stop.wait(0.2):
        pass
    if child.poll() is None:
        child.terminate()
        try:
            child.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            child.kill()
    code = child.wait()
    return 128 - code if code < 0 else code


class Supervisor:
    """Runs argv as a child, logs its lines, and restarts it until `stop()`."""

    def __init__(self, argv: list[str], name: str = "dnsmasq",
                 sleep: Callable[[float], bool] | None = None) -> None:  # fmt: skip
        self.argv = argv
        self.name = name
        self.starts = 0
        self._stopping = threading.Event()
        self._sleep = sleep or self._stopping.wait
        self._proc: subprocess.Popen[str] | None = None
        self._lock = threading.Lock()
        self._first = threading.Event()
        self._first_lines: list[str] = []
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)

    def start(self, ready: str = "started") -> None:
        """Start the child; if the first run ends before printing `ready`, say why."""
        self._ready = ready
        self._thread.start()
        if not self._first.wait(START_SECONDS):
            log.warning("%s: no %r line within %.0f s; going on", self.name, ready, START_SECONDS)
        elif self.starts == 1 and (self._proc is None or self._proc.poll() is not None):
            self.stop()
            said = " / ".join(self._first_lines[-5:]) or "no output"
            raise DnsmasqConfigError(f"{self.name} did not start: {said}")

    def _loop(self) -> None:
        delay = BACKOFF_FIRST
        while not self._stopping.is_set():
            began = time.monotonic()
            code = self._run_once()
            if self._stopping.is_set():
                return
            delay = BACKOFF_FIRST if time.monotonic() - began > HEALTHY_SECONDS else delay
            log.warning("%s exited with code %s; starting it again in %.0f s",
                        self.name, code, delay)  # fmt: skip
            if self._sleep(delay):
                return
            delay = min(delay * 2, BACKOFF_MAX)

    def _run_once(self) -> int | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            self.starts += 1
            self._proc = subprocess.Popen(
                self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, text=True, errors="replace",
            )  # fmt: skip
        proc = self._proc
        assert proc.stdout is not None
        for raw in proc.stdout:  # read always: a full pipe would stop dnsmasq answering
            line = raw.rstrip()
            log.info("%s: %s", self.name, line)
            if not self._first.is_set():
                self._first_lines.append(line)
                if self._ready in line:
                    self._first.set()
        code = proc.wait()
        self._first.set()
        return code

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None and proc.poll() is None else None

    def stop(self) -> None:
        self._stopping.set()
        with self._lock:
            proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._thread.is_alive():
            self._thread.join(STOP_SECONDS)


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[1] != "keep" or not sys.argv[2].isdigit():
        sys.exit("usage: python -m server.dnsmasq_run keep SERVER_PID PROGRAM [ARGS…]")
    sys.exit(keep(sys.argv[3:], int(sys.argv[2])))
