"""The frozen agent holds every module the agent can import, trimming notwithstanding.

Every import statement in the agent's sources (module level or inside a function, found
with `ast`) is imported on this host in a fresh interpreter with an empty HOME (so scapy
has no data cache, as in the initramfs); everything that lands in sys.modules must be in
the frozen agent, except what EXCLUDES leaves out on purpose (the host-side tools).
"""

from __future__ import annotations

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

from PyInstaller.archive.readers import CArchiveReader  # type: ignore[import-untyped]

from agent.actions.table import BUILTINS
from initramfs.freeze import EXCLUDES, REPO, UNREACHED_IN_IMAGE, Frozen

PROBE = """
import importlib, json, sys
before = set(sys.modules)
import agent.net.rtnl  # as at boot: pyroute2 without its package init
for name in json.loads(sys.argv[1]):
    importlib.import_module(name)
from agent.net.message import scapy_layers
scapy_layers()
real = [n for n in set(sys.modules) - before  # not aliases (__mp_main__, typing.io)
        if getattr(getattr(sys.modules[n], "__spec__", None), "name", None) == n]
print(json.dumps(sorted(real)))
"""


def agent_imports() -> list[str]:
    """What the boot can import: import statements anywhere in the agent modules reachable
    from agent/__main__.py (as PyInstaller sees them), ours followed, others collected."""
    return walk()[1]


def walk() -> tuple[list[str], list[str]]:
    """Our modules reachable from agent/__main__.py, and the others they import."""
    names: set[str] = set()
    todo, seen = ["agent.__main__"], set()
    while todo:
        module = todo.pop()
        path = module_path(module)
        if module in seen or path is None:
            continue
        seen.add(module)
        for node in ast.walk(ast.parse(path.read_text())):
            found = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            names.update(n for n in found if module_path(n) is None and is_module(n))
            todo += [n for n in found if module_path(n) is not None]
    others = sorted(n for n in names if n.split(".")[0] not in EXCLUDES and n != "__future__")
    return sorted(seen), others


def module_path(name: str) -> Path | None:
    """The source of one of our modules (agent.*, rootfs_tools.*), else None."""
    for base in (REPO, REPO / "rootfs-tools"):
        for candidate in (base / (name.replace(".", "/") + ".py"),
                          base / name.replace(".", "/") / "__init__.py"):  # fmt: skip
            if name.split(".")[0] in ("agent", "rootfs_tools") and candidate.is_file():
                return candidate
    return None


def is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def frozen_modules(frozen: Frozen) -> set[str]:
    """Module names in the onedir (.pyc files and extensions, PyInstaller's --debug
    noarchive layout) and the few the bootloader's own archive holds."""
    internal = frozen.root / "_internal"
    names = {name for name, entry in CArchiveReader(str(frozen.executable)).toc.items()
             if entry[4] in "mz"}  # fmt: skip
    for pyc in internal.rglob("*.pyc"):
        parts = pyc.relative_to(internal).with_suffix("").parts
        names.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    for ext in internal.rglob("*.so"):
        names.add(ext.name.split(".")[0])
        if ext.parent != internal / "python3.11" / "lib-dynload":  # a package's extension
            names.add(".".join((*ext.parent.relative_to(internal).parts, ext.name.split(".")[0])))
    return names | set(sys.builtin_module_names)


def test_everything_the_agent_imports_is_frozen(frozen: Frozen, tmp_path: Path) -> None:
    env = dict(os.environ, HOME=str(tmp_path), XDG_CACHE_HOME=str(tmp_path / "cache"))
    done = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps(agent_imports())],
        capture_output=True, text=True, env=env, cwd=REPO, check=True,
    )  # fmt: skip
    imported = json.loads(done.stdout)
    assert "scapy.layers.dhcp" in imported and "pyroute2" in imported
    have = frozen_modules(frozen)
    wanted = [m for m in imported if m.split(".")[0] not in EXCLUDES]  # requests: no chardet
    missing = [m for m in wanted if m not in have]  # pyroute2's rtnetlink needs unittest, ssl
    assert [m for m in missing if m not in UNREACHED_IN_IMAGE] == []


def test_every_module_of_ours_is_frozen(frozen: Frozen) -> None:
    """Each built-in action and everything it imports, imported only when it runs."""
    ours = walk()[0]
    assert {f"agent.actions.{name}" for name in BUILTINS} <= set(ours)
    assert {"agent.actions.zstd", "agent.container.create", "rootfs_tools.registry"} <= set(ours)
    have = frozen_modules(frozen)
    assert [m for m in ours if m not in have and m != "agent.__main__"] == []  # the script


def test_trimmed_modules_are_gone(frozen: Frozen) -> None:
    have = frozen_modules(frozen)
    for gone in ["tkinter", "scapy.contrib", "scapy.layers.tls", "encodings.cp1252", "rich",
                 "pyroute2.ndb", "pyroute2.netlink.nl80211", "sqlite3", "scapy.libs.manuf",
                 "email.mime", "email.generator", "multiprocessing.pool", "typing_extensions"]:  # fmt: skip
        assert gone not in have
    assert not list((frozen.root / "_internal").rglob("_codecs_jp*"))


def test_bytecode_has_no_docstrings(frozen: Frozen) -> None:
    """Frozen at -OO: the agent's own modules carry no docstrings."""
    pyc = (frozen.root / "_internal" / "agent" / "rootmount.pyc").read_bytes()
    assert b"mount_root" in pyc  # a name in it: the file is the module
    assert b"The root stages: find the device" not in pyc  # its docstring


def test_no_pyinstaller_runtime_hooks_run_before_the_agent(frozen: Frozen) -> None:
    """They imported inspect, pkgutil and multiprocessing before the agent's first line:
    1.3 s of a boot under TCG."""
    scripts = [n for n, e in CArchiveReader(str(frozen.executable)).toc.items() if e[4] == "s"]
    assert "__main__" in scripts
    assert [n for n in scripts if n.startswith("pyi_rth_")] == []
