"""The part of pyroute2 the agent uses (rtnetlink), imported without pyroute2's package init.

`import pyroute2` runs pyroute2/__init__.py, which imports every netlink family the library
knows (NDB and its sqlite3, nftables, wireguard, 9p, ipvs, ...): 120 ms natively and over
a second of a boot under emulation, for nothing the agent calls. Importing this module
registers `pyroute2` as a bare package (its path, not its init), so that importing
`pyroute2.iproute.linux` runs only what IPRoute needs. If pyroute2 was imported whole
already (a host tool, a test), that copy is used as it is.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types

GRND_INSECURE = 0x0004  # Linux 5.6+: random bytes at once, even before the CRNG is ready


def _urandom_without_waiting(size: int) -> bytes:
    try:
        return os.getrandom(size, GRND_INSECURE)
    except OSError:  # an older kernel: wait, as os.urandom would
        return _urandom(size)


if "pyroute2" not in sys.modules:
    _spec = importlib.util.find_spec("pyroute2")
    if _spec is None or not _spec.submodule_search_locations:
        raise ImportError("pyroute2 is not installed")
    _package = types.ModuleType("pyroute2")
    _package.__path__ = list(_spec.submodule_search_locations)
    _package.__spec__ = _spec
    sys.modules["pyroute2"] = _package

# pyroute2 imports multiprocessing, whose import draws a 32-byte authkey from os.urandom;
# before the kernel's CRNG is ready (early boot on a CPU without RDRAND, e.g. QEMU's TCG)
# that blocks for over a second. The key guards multiprocessing connections, which the
# agent never opens, so for this import it may come from the not-yet-ready pool.
_urandom = os.urandom
os.urandom = _urandom_without_waiting
try:
    from pyroute2.iproute.linux import IPRoute
    from pyroute2.netlink.exceptions import NetlinkError
    from pyroute2.netlink.rtnl.marshal import MarshalRtnl
finally:
    os.urandom = _urandom

__all__ = ["IPRoute", "MarshalRtnl", "NetlinkError"]
