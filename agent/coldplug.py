"""The modules stage: load drivers for the devices present, the way udev's coldplug would.

Every device's modalias under /sys/bus/*/devices is matched against modules.alias; matching
modules load with their dependencies through finit_module. Loading a driver can reveal new
devices (virtio_pci brings up the virtio bus, whose disk needs virtio_blk), so the stage
repeats until a round finds nothing new.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from agent.context import Context
from agent.modindex import ModuleIndex

MAX_ROUNDS = 8


def read_modaliases(sys_root: Path) -> set[str]:
    found: set[str] = set()
    buses = f"{sys_root}/bus"
    for bus in _listdir(buses):
        devices = f"{buses}/{bus}/devices"
        for device in _listdir(devices):
            alias = _read(f"{devices}/{device}/modalias")
            if alias:
                found.add(alias)
    return found


# Plain strings and os calls: this runs three times a boot over every device, and under
# emulation Path objects made it 25 ms a round.
def _listdir(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _read(path: str) -> str:
    try:
        with open(path, "rb") as f:
            return f.read().decode(errors="replace").strip()
    except OSError:
        return ""


def module_tree(ctx: Context) -> Path:
    return ctx.paths.modules / os.uname().release


def load_index(ctx: Context) -> ModuleIndex:
    if ctx.module_index is None:
        ctx.module_index = ModuleIndex.load(module_tree(ctx))
    return ctx.module_index


def is_loaded(ctx: Context, name: str) -> bool:
    return name in ctx.loaded_modules or (ctx.paths.sys / "module" / name).exists()


def load_module(ctx: Context, index: ModuleIndex, name: str) -> list[str]:
    """Load `name` (a module or alias) and what it needs; return the modules newly loaded.

    A module that fails to load is logged and skipped: one broken driver must not stop a
    boot whose disk needs another.
    """
    loaded: list[str] = []
    for module in index.load_order(name):
        if is_loaded(ctx, module):
            continue
        path = module_tree(ctx) / index.paths[module]
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                ctx.sys.finit_module(fd)
            finally:
                os.close(fd)
        except OSError as err:
            if err.errno == errno.ENODEV:  # e.g. crc32c_intel on a CPU without SSE4.2
                ctx.log.debug(f"module {module}: no device for it")
                continue
            if err.errno != errno.EEXIST:
                ctx.log.warn(f"module {module}: {err.strerror or err}")
                continue
        ctx.loaded_modules.add(module)
        loaded.append(module)
    return loaded


def coldplug(ctx: Context) -> None:
    index = load_index(ctx)
    if not index.paths:
        ctx.log.warn(f"no modules.dep under {module_tree(ctx)}: loading no modules")
        return
    loaded: list[str] = []
    for name in ctx.params.modules:
        if not index.resolve(name):
            ctx.log.warn(f"metalinit.modules: no module or alias named {name!r}")
        loaded += load_module(ctx, index, name)
    seen: set[str] = set()
    for _ in range(MAX_ROUNDS):
        aliases = read_modaliases(ctx.paths.sys) - seen
        if not aliases:
            break
        seen |= aliases
        for alias in sorted(aliases):
            for module in index.match(alias):
                loaded += load_module(ctx, index, module)
    ctx.log.info(f"modules: loaded {len(loaded)} ({' '.join(loaded) or 'none'})")
