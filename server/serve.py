"""`metalinit serve --listen HOST:PORT --db URL --artifacts DIR [--data DIR]`: the
provisioning server. It binds its port first (a port in use is a one-line error, not a
traceback), creates or upgrades the database, writes the admin token on first start, and
stops cleanly on Ctrl-C or SIGTERM. `--listen 127.0.0.1:0` picks a free port; the line
`metalinit serve: listening on URL` says which."""

from __future__ import annotations

import argparse
import contextlib
import errno
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from server import netboot_serve
from server.dnsmasq import DnsmasqConfigError
from server.errors import ServerError
from server.paths import ADMIN_TOKEN_FILE, DEFAULT_DB_FILE, data_dir
from server.store.machine import Timings
from server.tokens import MIN_ADMIN_TOKEN_CHARS, new_admin_token, token_hash

log = logging.getLogger("metalinit.server")


class ServeError(Exception):
    """A reason `serve` cannot start, said in one line."""


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="metalinit serve", description=__doc__)
    p.add_argument(
        "--listen",
        default="0.0.0.0:8080",
        metavar="HOST:PORT",
        help="address to serve on (default 0.0.0.0:8080; port 0: any free port)",
    )
    p.add_argument(
        "--db", metavar="URL", help="sqlite:///FILE or postgresql://… (default: DATA/metalinit.db)"
    )
    p.add_argument(
        "--artifacts",
        type=Path,
        metavar="DIR",
        help="served under /artifacts/ (default: DATA/artifacts)",
    )
    p.add_argument(
        "--data",
        metavar="DIR",
        help="admin-token, default database (default: $METALINIT_DATA, /var/lib/metalinit as root)",
    )
    p.add_argument(
        "--heartbeat",
        type=float,
        default=10.0,
        metavar="S",
        help="seconds between a worker's heartbeats (default 10)",
    )
    p.add_argument(
        "--poll",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds a waiting worker waits before asking again (default 5)",
    )
    netboot_serve.add_arguments(p)
    p.add_argument("--access-log", action="store_true", help="log every request")
    p.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return p


def listen_address(text: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or int(port) > 65535:
        raise ServeError(f"--listen {text!r}: expected HOST:PORT, e.g. 0.0.0.0:8080")
    return host.strip("[]") or "0.0.0.0", int(port)


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say so, and
    # without it every keep-alive reply waits 40 ms for the client's delayed ACK
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise ServeError(
                f"{host}:{port} is already in use (another metalinit serve?); "
                "stop it or choose another --listen"
            ) from None
        raise ServeError(f"cannot listen on {host}:{port}: {err.strerror}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def admin_token(data: Path) -> str:
    """The admin token in DATA/admin-token, written (mode 0600) on first start."""
    path = data / ADMIN_TOKEN_FILE
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        token = path.read_text().strip()
        if len(token) < MIN_ADMIN_TOKEN_CHARS:
            raise ServeError(
                f"{path}: the admin token there is shorter than "
                f"{MIN_ADMIN_TOKEN_CHARS} characters; remove the file and a new "
                "one is written"
            ) from None
        if path.stat().st_mode & 0o077:
            log.warning("%s can be read by others than its owner: chmod 600 it", path)
        return token
    token = new_admin_token()
    with os.fdopen(fd, "w") as out:
        os.fchmod(out.fileno(), 0o600)
        out.write(token + "\n")
        out.flush()
        os.fsync(out.fileno())
    log.info("wrote a new admin token to %s", path)
    return token


def _quiet_server(config: object) -> Any:
    """uvicorn's server, stopping on SIGINT/SIGTERM without re-raising the signal after."""
    import uvicorn

    class Quiet(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:
            if threading.current_thread() is not threading.main_thread():
                yield
                return
            handled = (signal.SIGINT, signal.SIGTERM)
            before = {sig: signal.signal(sig, self.handle_exit) for sig in handled}
            try:
                yield
            finally:
                for sig, handler in before.items():
                    signal.signal(sig, handler)

    return Quiet(config)  # type: ignore[arg-type]


def main(argv: list[str]) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        return _serve(args)
    except (ServeError, ServerError, DnsmasqConfigError) as err:
        sys.stderr.write(f"metalinit serve: {err}\n")
        return 1
    except KeyboardInterrupt:
        sys.stderr.write("metalinit serve: stopped\n")
        return 0


def _serve(args: argparse.Namespace) -> int:
    import uvicorn
    from sqlalchemy.exc import SQLAlchemyError

    from server.api.app import AppConfig, create_app
    from server.store import Store, tokens

    data = data_dir(args.data)
    host, port = listen_address(args.listen)
    if args.print_dnsmasq_config:
        sys.stdout.write(netboot_serve.print_config(args, host, port, data))
        return 0
    try:
        data.mkdir(parents=True, exist_ok=True, mode=0o700)
        artifacts = args.artifacts or data / "artifacts"
        artifacts.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ServeError(f"cannot create {err.filename}: {err.strerror}") from None
    sock = bind(host, port)
    url = args.db or f"sqlite:///{data / DEFAULT_DB_FILE}"
    try:
        store = Store(url)
    except SQLAlchemyError as err:
        raise ServeError(f"cannot open the database {url}: {getattr(err, 'orig', err)}") from None
    token = admin_token(data)
    store.write(lambda conn: tokens.register_admin(conn, token_hash(token), time.time()))
    timings = Timings(heartbeat_seconds=args.heartbeat, poll_seconds=args.poll)
    pxe = netboot_serve.pxe_wanted(args)
    app = create_app(store, AppConfig(artifacts=artifacts.resolve(), timings=timings, pxe=pxe))
    if pxe:
        netboot_serve.check_boot_files(artifacts)
    config = uvicorn.Config(
        app,
        loop="asyncio",  # uvloop measured no faster here: the work is in the threadpool
        http="auto",  # httptools when installed (the server extra), else h11
        log_config=None,
        access_log=args.access_log,
        timeout_graceful_shutdown=10,
        # longer than any worker's pause between calls (heartbeats every 10 s): a kept-alive
        # connection the server closes just as the worker reuses it fails that request
        timeout_keep_alive=75,
        lifespan="on",
        log_level=args.log_level,
    )
    bound = sock.getsockname()
    shown = f"[{bound[0]}]" if ":" in bound[0] else bound[0]
    print(
        f"metalinit serve: listening on http://{shown}:{bound[1]} "
        f"(data {data}, db {store.backend})",
        flush=True,
    )
    server = _quiet_server(config)
    dhcp = netboot_serve.start_dhcp(args, host, bound[1], data)
    try:
        server.run(sockets=[sock])
    finally:
        if dhcp is not None:
            dhcp.stop()
        store.close()
    sys.stderr.write("metalinit serve: stopped\n")
    return 0
