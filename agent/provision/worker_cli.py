"""`metalinit worker --server URL [--mac MAC…] [--once]`: the provisioning worker on any
Linux host (a rescue system, a test), the same loop a `provision=` boot runs.

Terminal actions (kexec, reboot, poweroff) report SUCCESS, then the command says what it
would do and exits 0; with --power it asks the host's init to do it (systemctl, else the
busybox/sysvinit commands). Without --power the kexec action loads no kernel into the
host (`agent.syscalls.HostKexec`): it checks everything up to that call.

Exit codes: 0 the workflow succeeded (or a terminal action ran), 1 it failed, 2 bad
arguments, 3 --once and no workflow, 4 an operator asked for the rescue shell or the
worker was stopped (SIGINT/SIGTERM).
"""

from __future__ import annotations

import argparse
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from agent.actions import Then
from agent.cmdline import OnFailure
from agent.log import Log
from agent.provision.inventory import collect, lookup_macs
from agent.provision.worker import Ending, Worker, WorkerConfig, WorkflowEnd
from agent.syscalls import HostKexec, Syscalls

PROG = "metalinit worker"
EXIT = {Ending.DONE: 0, Ending.POWER: 0, Ending.FAILED: 1, Ending.NOTHING: 3, Ending.RESCUE: 4}
STOPPING = {signal.SIGINT, signal.SIGTERM}  # blocked in every thread, awaited by the first
HOST_POWER = {
    Then.KEXEC: (["systemctl", "kexec"], ["kexec", "-e"]),
    Then.REBOOT: (["systemctl", "reboot"], ["reboot"]),
    Then.POWEROFF: (["systemctl", "poweroff"], ["poweroff"]),
}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Run this machine's provisioning workflow.")
    p.add_argument("--server", required=True, help="the provisioning server, http(s)://HOST:PORT")
    p.add_argument(
        "--mac",
        action="append",
        default=[],
        help="look up by this MAC (repeatable; default: every interface's)",
    )
    p.add_argument(
        "--once",
        action="store_true",
        help="exit when the workflow ends or there is none; never start over",
    )
    p.add_argument(
        "--on-failure",
        choices=[p.value for p in OnFailure],
        default="rescue",
        help="when the workflow fails: exit (rescue), reboot, or start over (retry)",
    )
    p.add_argument("--registry-mirror", default="", help="pull action images through this mirror")
    p.add_argument(
        "--power",
        action="store_true",
        help="carry out kexec/reboot/poweroff instead of saying what would happen",
    )
    p.add_argument(
        "--disk-links",
        action="store_true",
        help="make /dev/disk/by-* links (for hosts where no udev does)",
    )
    p.add_argument("--ca", help="CA bundle for an https server (default: the built-in one)")
    return p


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    log = Log()
    macs = tuple(m.lower() for m in args.mac) or lookup_macs(collect())
    if not macs:
        sys.stderr.write(f"{PROG}: no interface with a MAC address here; name one with --mac\n")
        return 2
    after = _disk_links(log) if args.disk_links else (lambda: None)
    after()
    config = WorkerConfig(
        server=args.server,
        macs=macs,
        inventory=collect,
        on_failure=OnFailure(args.on_failure),
        registry_mirror=args.registry_mirror,
        once=args.once,
        after_action=after,
        verify=args.ca or True,
        sys=Syscalls() if args.power else HostKexec(),
    )
    signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)  # before any thread starts
    end = run_until_signalled(Worker(config, log), log)
    log.info(f"worker: {end.ending.value}: {end.describe()}")
    if end.ending is Ending.POWER:
        return _power(end.then, args.power, log)
    if end.ending is Ending.FAILED and config.on_failure is OnFailure.REBOOT:
        _power(Then.REBOOT, args.power, log)
    return EXIT[end.ending]


def run_until_signalled(worker: Worker, log: Log) -> WorkflowEnd:
    """The worker in a thread; this one waits for SIGINT/SIGTERM (blocked in every thread)
    with sigtimedwait: a Python signal handler could deadlock on a lock the code it
    interrupts holds."""
    ends: list[WorkflowEnd] = []
    thread = threading.Thread(target=lambda: ends.append(worker.run()), name="worker")
    thread.start()
    while thread.is_alive():
        got = signal.sigtimedwait(STOPPING, 0.5)
        if got is not None:
            log.warn(f"{signal.Signals(got.si_signo).name}: stopping the worker (and its action)")
            worker.cancel()
    thread.join()
    return ends[0] if ends else WorkflowEnd(Ending.RESCUE, reason="the worker failed")


def _power(then: Then, really: bool, log: Log) -> int:
    if not really:
        log.info(f"would {then.value} now (this is not the machine's init; --power does it)")
        return 0
    for command in HOST_POWER[then]:
        if shutil.which(command[0]):
            log.info(f"{then.value}: {' '.join(command)}")
            return subprocess.run(command, check=False).returncode
    log.error(f"{then.value}: none of {', '.join(c[0] for c in HOST_POWER[then])} found here")
    return 1


def _disk_links(log: Log) -> Callable[[], None]:
    from agent.provision.disklinks import refresh

    def make() -> None:
        refresh(Path("/sys"), Path("/dev"), log)

    return make
