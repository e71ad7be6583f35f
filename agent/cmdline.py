"""The kernel command line, parsed once into typed BootParams.

Pure: no I/O here. Splitting follows the kernel's own `next_arg()`: whitespace separates
arguments except inside double quotes, and only a quote that opens the argument or its value
(and the matching one at its end) is removed. Keys split on the first `=` only, so
`root=UUID=…` keeps its value; `-` and `_` in keys are the same; a bare key is a flag.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import shlex
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlsplit

from agent.errors import AgentError
from agent.rootspec import RootSpec, RootSpecError

DEFAULT_ROOTWAIT_SECONDS = 30
MODULE_NAME = re.compile(r"^[A-Za-z0-9_-]+$")
TRUE_WORDS = {"1", "y", "yes", "true", "on"}
FALSE_WORDS = {"0", "n", "no", "false", "off"}


class CmdlineError(AgentError):
    """A kernel argument has a value the agent cannot use."""

    def __init__(self, key: str, value: str, why: str) -> None:
        super().__init__(f"kernel argument {key}={value!r}: {why}")
        self.key = key


class OnExit(enum.Enum):
    RESCUE = "rescue"
    POWEROFF = "poweroff"
    REBOOT = "reboot"
    RESTART = "restart"


class OnFailure(enum.Enum):
    """What a provisioning boot does when its workflow fails: `metalinit.on_failure=`."""

    RESCUE = "rescue"
    REBOOT = "reboot"
    RETRY = "retry"


class IpMode(enum.Enum):
    DHCP = "dhcp"
    OFF = "off"
    STATIC = "static"


@dataclass(frozen=True)
class IpConfig:
    """`ip=` in the kernel's nfsroot form, reduced to what the agent acts on."""

    mode: IpMode
    optional: bool = False
    address: str | None = None
    gateway: str | None = None
    netmask: str | None = None
    hostname: str | None = None
    device: str | None = None
    dns: tuple[str, ...] = ()

    @property
    def prefixlen(self) -> int | None:
        if self.netmask is None:
            return None
        return ipaddress.IPv4Network(f"0.0.0.0/{self.netmask}").prefixlen


@dataclass(frozen=True)
class BootParams:
    root: RootSpec | None = None
    rootfstype: str | None = None
    rootflags: str | None = None
    read_only: bool = False
    rootwait: bool = False
    rootwait_seconds: int | None = None  # `rootwait=N` (Linux 6.5+): wait at most N seconds
    rootdelay: int | None = None
    entrypoint: tuple[str, ...] | None = None
    init_args: tuple[str, ...] | None = None
    ip: IpConfig | None = None
    provision: str | None = None
    on_failure: OnFailure = OnFailure.RESCUE
    registry_mirror: str | None = None
    on_exit: OnExit = OnExit.RESCUE
    modules: tuple[str, ...] = ()
    iface: str | None = None
    rescue: bool = False
    quiet: bool = False
    unknown: dict[str, str] = field(default_factory=dict)

    @property
    def root_wait_seconds(self) -> float:
        """How long the root stage waits for the root device to appear.

        `rootwait` waits without end and `rootwait=N` N seconds, as the kernel does; with
        neither, a bounded default, so a typo in `root=` reaches the rescue shell instead of
        hanging the boot.
        """
        if self.rootwait_seconds is not None:
            return float(self.rootwait_seconds)
        return float("inf") if self.rootwait else float(DEFAULT_ROOTWAIT_SECONDS)

    def to_json(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, enum.Enum):
                return value.value
            if isinstance(value, dict):
                return {k: plain(v) for k, v in value.items()}
            if isinstance(value, list | tuple):
                return [plain(v) for v in value]
            return value

        data = plain(asdict(self))
        data["root"] = str(self.root) if self.root else None
        return dict(data)


def split_args(text: str) -> list[str]:
    """Split a command line the way the kernel's `next_arg()` does."""
    args: list[str] = []
    current: list[str] = []
    in_quote = False
    for char in text.strip():
        if char == '"':
            in_quote = not in_quote
        if char.isspace() and not in_quote:
            if current:
                args.append(_unquote("".join(current)))
                current = []
            continue
        current.append(char)
    if current:
        args.append(_unquote("".join(current)))
    return args


def _unquote(arg: str) -> str:
    if arg.startswith('"'):
        arg = arg[1:]
        return arg[:-1] if arg.endswith('"') else arg
    key, eq, value = arg.partition("=")
    if eq and value.startswith('"'):
        value = value[1:]
        value = value[:-1] if value.endswith('"') else value
        return f"{key}={value}"
    return arg


def normalise_key(key: str) -> str:
    return key.replace("-", "_")


def parse(text: str) -> BootParams:
    """Parse a whole command line; raise CmdlineError naming the first bad key."""
    args = split_args(text)
    init_args: tuple[str, ...] | None = None
    if "--" in args:
        cut = args.index("--")
        args, init_args = args[:cut], tuple(args[cut + 1 :])
    values: dict[str, str | None] = {}
    for arg in args:
        key, eq, value = arg.partition("=")
        values[normalise_key(key)] = value if eq else None
    fields: dict[str, Any] = {"init_args": init_args, "unknown": {}}
    for key, raw in values.items():
        handler = _HANDLERS.get(key)
        if handler is None:
            fields["unknown"][key] = "1" if raw is None else raw
            continue
        fields.update(handler(key, raw))
    return BootParams(**fields)


def _need_value(key: str, value: str | None) -> str:
    if value is None or value == "":
        raise CmdlineError(key, value or "", "needs a value")
    return value


def _flag(name: str) -> Any:
    def handle(key: str, value: str | None) -> dict[str, Any]:
        if value is None or value.lower() in TRUE_WORDS:
            return {name: True}
        if value.lower() in FALSE_WORDS:
            return {name: False}
        raise CmdlineError(key, value, "is a flag: give it alone, or =1 / =0")

    return handle


def _text(name: str) -> Any:
    def handle(key: str, value: str | None) -> dict[str, Any]:
        return {name: _need_value(key, value)}

    return handle


def _read_only(key: str, value: str | None) -> dict[str, Any]:
    return {"read_only": _flag("ro")(key, value)["ro"]}


def _read_write(key: str, value: str | None) -> dict[str, Any]:
    return {"read_only": not _flag("rw")(key, value)["rw"]}


def _root(key: str, value: str | None) -> dict[str, Any]:
    text = _need_value(key, value)
    try:
        return {"root": RootSpec.parse(text)}
    except RootSpecError as err:
        raise CmdlineError(key, text, str(err)) from None


def _rootwait(key: str, value: str | None) -> dict[str, Any]:
    if value is None:
        return {"rootwait": True, "rootwait_seconds": None}
    if not value.isdigit():
        raise CmdlineError(key, value, "give it alone (wait forever) or as rootwait=SECONDS")
    return {"rootwait": True, "rootwait_seconds": int(value)}


def _rootdelay(key: str, value: str | None) -> dict[str, Any]:
    text = _need_value(key, value)
    if not text.isdigit():
        raise CmdlineError(key, text, "must be a whole number of seconds, e.g. rootdelay=5")
    return {"rootdelay": int(text)}


def _entrypoint(key: str, value: str | None) -> dict[str, Any]:
    text = _need_value(key, value)
    try:
        argv = shlex.split(text)
    except ValueError as err:
        raise CmdlineError(key, text, f"cannot be split like a shell command ({err})") from None
    if not argv:
        raise CmdlineError(key, text, "names no program")
    return {"entrypoint": tuple(argv)}


def _choice(name: str, kind: type[enum.Enum]) -> Any:
    def handle(key: str, value: str | None) -> dict[str, Any]:
        text = _need_value(key, value)
        try:
            return {name: kind(text)}
        except ValueError:
            choices = ", ".join(str(policy.value) for policy in kind)
            raise CmdlineError(key, text, f"must be one of {choices}") from None

    return handle


def _registry_mirror(key: str, value: str | None) -> dict[str, Any]:
    text = _need_value(key, value)
    url = urlsplit(text if "://" in text else f"https://{text}")
    if url.scheme not in ("http", "https") or not url.hostname:
        raise CmdlineError(key, text, "must be a registry host[:port] or an http(s):// URL")
    return {"registry_mirror": text}


def _modules(key: str, value: str | None) -> dict[str, Any]:
    text = _need_value(key, value)
    names = tuple(name for name in text.split(",") if name)
    bad = [name for name in names if not MODULE_NAME.match(name)]
    if bad:
        raise CmdlineError(key, text, f"{bad[0]!r} is not a module name")
    return {"modules": names}


def _provision(key: str, value: str | None) -> dict[str, Any]:
    text = _need_value(key, value)
    url = urlsplit(text)
    if url.scheme not in ("http", "https") or not url.hostname:
        raise CmdlineError(key, text, "must be an http:// or https:// URL with a host")
    return {"provision": text}


def _ip(key: str, value: str | None) -> dict[str, Any]:
    text = _need_value(key, value)
    return {"ip": parse_ip(key, text)}


DHCP_WORDS = {"dhcp", "on", "any", "both", "bootp"}
OFF_WORDS = {"off", "none"}


def parse_ip(key: str, text: str) -> IpConfig:
    """`ip=dhcp[,optional]`, `ip=off`, or `client:server:gw:mask:host:dev:autoconf:dns0:dns1`."""
    word, _, option = text.partition(",")
    if option not in ("", "optional"):
        raise CmdlineError(key, text, "the only option after a comma is 'optional'")
    optional = option == "optional"
    if word in DHCP_WORDS:
        return IpConfig(IpMode.DHCP, optional=optional)
    if word in OFF_WORDS:
        return IpConfig(IpMode.OFF)
    parts = (word.split(":") + [""] * 9)[:9]
    if word.count(":") > 9 or ":" not in word:
        raise CmdlineError(
            key, text, "use dhcp, off, or client::gateway:netmask:hostname:device:off[:dns0[:dns1]]"
        )
    client, _server, gateway, netmask, hostname, dev, autoconf, dns0, dns1 = parts
    device = dev or None
    if autoconf in DHCP_WORDS or (not client and autoconf == ""):
        return IpConfig(IpMode.DHCP, optional=optional, device=device, hostname=hostname or None)
    if autoconf not in OFF_WORDS | {""}:
        raise CmdlineError(key, text, f"autoconf field {autoconf!r} must be off, none or dhcp")
    _check_ipv4(key, text, "client address", client)
    if gateway:
        _check_ipv4(key, text, "gateway", gateway)
    if netmask:
        _check_netmask(key, text, netmask)
    dns = tuple(server for server in (dns0, dns1) if server)
    for server in dns:
        _check_ipv4(key, text, "DNS server", server)
    return IpConfig(
        IpMode.STATIC,
        optional=optional,
        address=client,
        gateway=gateway or None,
        netmask=netmask or _classful_mask(client),
        hostname=hostname or None,
        device=device,
        dns=dns,
    )


def _check_ipv4(key: str, text: str, what: str, value: str) -> None:
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        raise CmdlineError(key, text, f"{what} {value!r} is not an IPv4 address") from None


def _check_netmask(key: str, text: str, value: str) -> None:
    try:
        network = ipaddress.IPv4Network(f"0.0.0.0/{value}")
        # ipaddress also takes a host mask (0.0.0.255 as /24); a netmask must be one itself.
        if not value.isdigit() and network.netmask != ipaddress.IPv4Address(value):
            raise ValueError(value)
    except ValueError:
        raise CmdlineError(key, text, f"netmask {value!r} is not a valid IPv4 netmask") from None


def _classful_mask(address: str) -> str:
    """The kernel's fallback when `ip=` gives no netmask: the address's class."""
    first = int(address.split(".")[0])
    return "255.0.0.0" if first < 128 else "255.255.0.0" if first < 192 else "255.255.255.0"


_HANDLERS = {
    "root": _root,
    "rootfstype": _text("rootfstype"),
    "rootflags": _text("rootflags"),
    "ro": _read_only,
    "rw": _read_write,
    "rootwait": _rootwait,
    "rootdelay": _rootdelay,
    "entrypoint": _entrypoint,
    "ip": _ip,
    "provision": _provision,
    "metalinit.on_exit": _choice("on_exit", OnExit),
    "metalinit.on_failure": _choice("on_failure", OnFailure),
    "metalinit.registry_mirror": _registry_mirror,
    "metalinit.modules": _modules,
    "metalinit.iface": _text("iface"),
    "metalinit.rescue": _flag("rescue"),
    "quiet": _flag("quiet"),
}
