"""`metalinit dhcp [IFACE…] [--timeout S] [--apply] [--json] [--release]`: the agent's own
DHCP client on any Linux host. It prints the lease it got and changes the links only with
--apply; --release gives back the lease an earlier --apply saved."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from ipaddress import IPv4Address
from pathlib import Path

from agent.errors import AgentError
from agent.log import Log
from agent.net.apply import EtcFiles, remove_address
from agent.net.client import DEFAULT_ARP_WAIT
from agent.net.lease import Lease
from agent.net.session import DEFAULT_TIMEOUT, Want, keep, lease_line, obtain, put_into_effect

RUN = Path("/run/metalinit")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="metalinit dhcp", description=__doc__)
    p.add_argument(
        "ifaces", nargs="*", metavar="IFACE", help="links to try (default: all Ethernet)"
    )
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="seconds (default 30)")
    p.add_argument("--apply", action="store_true", help="bring links up and configure the lease")
    p.add_argument("--json", action="store_true", help="print the lease as JSON")
    p.add_argument("--release", action="store_true", help="release the lease saved by --apply")
    p.add_argument(
        "--hold",
        type=float,
        default=0.0,
        metavar="S",
        help="with --apply: keep the lease S seconds, renewing it at T1/T2",
    )
    p.add_argument(
        "--request",
        type=IPv4Address,
        metavar="ADDR",
        help="ask for ADDR first (INIT-REBOOT), as after a reboot",
    )
    p.add_argument("--hostname", help="send this hostname (option 12)")
    p.add_argument(
        "--arp-wait",
        type=float,
        default=DEFAULT_ARP_WAIT,
        metavar="S",
        help="seconds to listen for another owner of the address (0: no probe)",
    )
    p.add_argument(
        "--etc",
        type=Path,
        default=Path("/"),
        metavar="ROOT",
        help="with --apply: write ROOT/etc/resolv.conf, hostname, hosts",
    )
    p.add_argument("--run", type=Path, default=RUN, metavar="DIR", help="where lease.json lives")
    p.add_argument("--debug", action="store_true", help="log every packet decision to stderr")
    return p


class ConsoleLog(Log):
    """The agent's log on stderr; with --debug, debug lines go to the console too."""

    def debug(self, message: str) -> None:
        if self.debug_enabled:
            self.info("debug: " + message)


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    log = ConsoleLog(console=sys.stderr)
    log.debug_enabled = args.debug
    try:
        if args.release and not args.ifaces:
            return _release_saved(args.run, log)
        return _lease(args, log)
    except AgentError as err:
        log.error(str(err))
        return 1


def _lease(args: argparse.Namespace, log: Log) -> int:
    want = Want(
        names=tuple(args.ifaces),
        timeout=args.timeout,
        bring_up=args.apply,
        hostname=args.hostname,
        previous=args.request,
        arp_wait=args.arp_wait,
    )
    outcome = obtain(want, log)
    log.info(lease_line(outcome))
    lease = outcome.lease
    etc = EtcFiles.under(args.etc)
    if args.apply:
        put_into_effect(lease, log, etc=etc, run=args.run)
    if args.json:
        out = {"lease": lease.to_json(), "seconds": outcome.seconds, "dropped": outcome.dropped}
        print(json.dumps(out, indent=2, sort_keys=True))
    else:
        print(lease.summary())
    if args.apply and args.hold > 0:
        done = threading.Event()
        renewer = keep(
            lease,
            outcome.link,
            log,
            etc=etc,
            run=args.run,
            timeout=args.timeout,
            wanted=lambda: not done.is_set(),
        )
        done.wait(args.hold)
        done.set()
        renewer.stop()
        lease = renewer.lease
    if args.release:
        _give_back(lease, outcome.link.index, log, remove=args.apply)
    return 0


def _release_saved(run: Path, log: Log) -> int:
    path = run / "lease.json"
    try:
        lease = Lease.from_json(json.loads(path.read_text()))
    except (OSError, ValueError, KeyError) as err:
        log.error(f"no saved lease to release ({path}: {err})")
        return 1
    from agent.net.links import ipr

    route = ipr()
    try:
        found = route.link_lookup(ifname=lease.interface)
    finally:
        route.close()
    if not found:
        log.error(f"link {lease.interface} of the saved lease is gone")
        return 1
    _give_back(lease, found[0], log, remove=True)
    path.unlink()
    return 0


def _give_back(lease: Lease, index: int, log: Log, *, remove: bool) -> None:
    from agent.net.renew import link_of, release

    release(lease, link_of(lease, index))
    if remove:
        remove_address(lease)
    log.info(f"dhcp {lease.interface}: released {lease.address} to {lease.server_id}")


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
