"""The one object every boot stage reads and fills in."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from agent.cmdline import BootParams
from agent.log import Log
from agent.syscalls import Syscalls

if TYPE_CHECKING:
    from agent.modindex import ModuleIndex


@dataclass(frozen=True)
class Paths:
    """Where the agent finds things; tests point these into a temporary tree."""

    cmdline: Path = Path("/proc/cmdline")
    new_root: Path = Path("/mnt")
    modules: Path = Path("/lib/modules")
    sys: Path = Path("/sys")
    dev: Path = Path("/dev")
    busybox: Path = Path("/bin/busybox")
    console: Path = Path("/dev/console")
    run: Path = Path("/run/metalinit")


@dataclass
class Context:
    sys: Syscalls
    log: Log
    paths: Paths = field(default_factory=Paths)
    params: BootParams = field(default_factory=BootParams)
    cmdline_text: str | None = None  # a test harness's command line instead of the file
    stage: str = ""
    root_device: str | None = None
    root_fstype: str | None = None
    root_mounted: bool = False
    lease: dict[str, Any] | None = None
    loaded_modules: set[str] = field(default_factory=set)
    module_index: ModuleIndex | None = None  # read once, by the first stage that needs it
    console_fd: int | None = None
    takes_console: bool = True  # False when run as a test harness, not as a machine's init
    before_power: list[Callable[[], None]] = field(default_factory=list)
