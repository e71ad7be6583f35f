"""Freeze the agent with PyInstaller (onedir), once per distinct input.

The result is cached under `~/.cache/metalinit/frozen/<key>/`, where the key hashes the
agent's sources, the options below and the installed distributions, so a second
`metalinit build` reuses it. Everything is built in a temporary sibling and renamed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from initramfs.cpio import source_date_epoch
from initramfs.errors import BuildError

REPO = Path(__file__).resolve().parent.parent
ENTRY = REPO / "agent" / "__main__.py"
SOURCES = (REPO / "agent", REPO / "rootfs-tools" / "rootfs_tools")
SEARCH_PATHS = (REPO, REPO / "rootfs-tools")
NAME = "metalinit"
CONTENTS = "_internal"
# Never imported at boot: GUI, test and doc tools, the host-side tools and our own
# host packages, optional extras scapy probes for, and PyInstaller itself. The worker's
# requests comes with urllib3, idna and certifi (its CA bundle, which requests finds through
# certifi.where()); a character-set detector it needs only for text bodies stays out.
EXCLUDES = (
    "tkinter", "_tkinter", "turtle", "turtledemo", "idlelib", "doctest",
    "pydoc", "pydoc_data", "test", "lib2to3", "ensurepip", "venv", "distutils",
    "setuptools", "pkg_resources", "pip", "IPython", "matplotlib", "numpy", "pyx",
    "cryptography", "charset_normalizer", "chardet", "rich",
    "pygments", "markdown_it", "xmlrpc", "curses", "readline", "_pydecimal",
    "PyInstaller", "_pytest", "pytest", "mypy", "initramfs", "kernels", "server",
)  # fmt: skip
# Encodings the agent may meet: UTF-8 everywhere, ASCII/Latin-1 for bytes on the wire,
# IDNA for host names, UTF-16 for GPT partition names and Joliet labels; the CJK codecs
# and their extension modules stay out.
ENCODINGS_KEPT = frozenset(
    {"aliases", "ascii", "latin_1", "utf_8", "utf_8_sig", "utf_16", "utf_16_le", "utf_16_be",
     "utf_32", "idna", "punycode", "raw_unicode_escape", "unicode_escape", "charmap", "cp437"}
)  # fmt: skip
HASH_SEED = "hash_seed=0"  # trades hash-flooding protection for a boot that needs no CRNG
KEEP = 3  # frozen agents kept in the cache, most recently used first
STALE_SECONDS = 3600
# scapy's hook brings every layer and contrib module; the agent builds and parses DHCP
# frames only, so the subpackages below keep just what it imports.
SCAPY_PRUNED = ("layers", "arch", "libs")
SCAPY_KEPT = frozenset(
    {"layers.dhcp", "layers.inet", "layers.inet6", "layers.l2", "arch.linux", "arch.common",
     "libs.extcap", "libs.structures", "libs.test_pyx",
     # scapy.data falls back to these when /etc/ethertypes and scapy's own cache are
     # absent, as they are in the initramfs; its 0.9 MB vendor table (libs.manuf) is never
     # read there, since the image has an (empty) wireshark manuf file (layout.FILES)
     "libs.ethertypes", "libs.bluetoothids"}
)  # fmt: skip
# Modules the host's import graph reaches but the image never does, because of a file the
# image has (tests/initramfs/test_freeze.py allows exactly these).
UNREACHED_IN_IMAGE = ("scapy.libs.manuf",)
SCAPY_DROPPED = (
    "contrib", "modules", "tools", "asn1", "cbor", "all", "asn1fields", "asn1packet",
    "cborpacket", "autorun", "pipetool", "scapypipes", "fwdmachine",
)  # fmt: skip
# The agent imports pyroute2's rtnetlink part without the package init (agent/net/rtnl.py),
# so the other netlink families, NDB and its sqlite3 stay out. pyroute2's rtnetlink still
# imports unittest (unittest.mock) and ssl, so those stay.
PYROUTE2_PRUNED = ("", "netlink")
PYROUTE2_KEPT = frozenset(
    {"common", "config", "iproute", "netlink", "netns", "process", "protocols", "requests",
     "statsd", "netlink.core", "netlink.coredata", "netlink.exceptions", "netlink.marshal",
     "netlink.nlsocket", "netlink.rt_files", "netlink.rtnl"}
)  # fmt: skip
PYROUTE2_DROPPED = ("sqlite3", "_sqlite3")
# Of the standard library's packages that come along, the modules an import reaches: http.client
# parses headers with email's parser (no generator, policy or MIME classes); pyroute2 and
# concurrent.futures import multiprocessing's context, never start a process. No import
# reaches typing_extensions (only PyInstaller's function-level scan sees it).
STDLIB_PRUNED = {
    "email": frozenset({"_encoded_words", "_parseaddr", "_policybase", "base64mime", "charset",
                        "encoders", "errors", "feedparser", "header", "iterators", "message",
                        "parser", "quoprimime", "utils"}),
    "multiprocessing": frozenset({"context", "process", "reduction", "util"}),
}  # fmt: skip
UNIMPORTED = ("typing_extensions",)
# Bytecode without docstrings and asserts (python -OO): the libraries read __doc__ only for
# interactive help and tolerate None; the agent's asserts only narrow types for mypy.
OPTIMIZE = 2


@dataclass(frozen=True)
class Frozen:
    root: Path  # the onedir: root/metalinit and root/_internal/

    @property
    def executable(self) -> Path:
        return self.root / NAME


def encoding_excludes() -> list[str]:
    import encodings
    import pkgutil

    found = (m.name for m in pkgutil.iter_modules(encodings.__path__))
    return sorted(f"encodings.{n}" for n in found if n not in ENCODINGS_KEPT)


def pruned(package: str, subpackages: tuple[str, ...], kept: frozenset[str]) -> list[str]:
    """`package`'s modules and subpackages directly under each of `subpackages` ("" is the
    package itself), as excludes, except those named in `kept`."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return []
    root = Path(next(iter(spec.submodule_search_locations)))
    names = []
    for sub in subpackages:
        for child in sorted((root / sub).iterdir()):
            name = ".".join(filter(None, (sub.replace("/", "."), child.name.removesuffix(".py"))))
            if child.name.startswith("_") or name in kept:
                continue
            if child.suffix == ".py" or (child / "__init__.py").exists():
                names.append(f"{package}.{name}")
    return names


def module_excludes() -> list[str]:
    return [
        *EXCLUDES, *encoding_excludes(),
        *(f"scapy.{n}" for n in SCAPY_DROPPED), *pruned("scapy", SCAPY_PRUNED, SCAPY_KEPT),
        *PYROUTE2_DROPPED, *pruned("pyroute2", PYROUTE2_PRUNED, PYROUTE2_KEPT),
        *(m for pkg, kept in STDLIB_PRUNED.items() for m in pruned(pkg, ("",), kept)),
        *UNIMPORTED, *UNREACHED_IN_IMAGE,
    ]  # fmt: skip


# PyInstaller adds run-time hooks for inspect, pkgutil and multiprocessing because pyroute2
# and scapy pull those modules in; the hooks import them before the agent's first line
# (20 ms natively, most of a second under TCG) to patch behaviour the agent never uses
# (source lookup, iter_modules over an archive we do not build, spawned children).
DROPPED_RUNTIME_HOOKS = ("pyi_rth_inspect", "pyi_rth_pkgutil", "pyi_rth_multiprocessing")
SPEC = """\
a = Analysis({entry!r}, pathex={paths!r}, excludes={excludes!r}, noarchive=True,
             optimize={optimize!r})
a.scripts = [s for s in a.scripts if s[0] not in {dropped!r}]
exe = EXE(PYZ(a.pure), a.scripts, [({option!r}, None, "OPTION")], exclude_binaries=True,
          name={name!r}, strip=False, upx=False, console=True, contents_directory={contents!r})
COLLECT(exe, a.binaries, a.datas, strip=False, upx=False, name={name!r})
"""


def spec_text(entry: Path) -> str:
    """The PyInstaller spec: onedir, plain .pyc files ("noarchive": the initramfs compressor
    sees them whole, 1.1 MB smaller zstd), the fixed hash seed, the trimmed module set, and
    the runtime hooks above left out."""
    excludes = module_excludes()
    return SPEC.format(
        entry=[str(entry)], paths=[str(p) for p in SEARCH_PATHS], excludes=excludes,
        dropped=DROPPED_RUNTIME_HOOKS, optimize=OPTIMIZE, option=HASH_SEED, name=NAME,
        contents=CONTENTS,
    )  # fmt: skip


def pyinstaller_args(spec: Path, dist: Path, work: Path) -> list[str]:
    args = ["--noconfirm", "--clean", "--log-level", "WARN"]
    return [*args, "--distpath", str(dist), "--workpath", str(work), str(spec)]


def cache_key(entry: Path) -> str:
    digest = hashlib.sha256()
    digest.update(f"{sys.version}\n{spec_text(entry)}\n".encode())
    dists = sorted(f"{d.metadata['Name']}=={d.version}" for d in importlib.metadata.distributions())
    digest.update("\n".join(dists).encode())
    for base in (entry.parent, *SOURCES):
        for path in sorted(base.rglob("*.py")) if base.is_dir() else []:
            digest.update(path.as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:20]


def cache_root() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "metalinit" / "frozen"


def freeze(entry: Path = ENTRY, cache: Path | None = None, log: Path | None = None) -> Frozen:
    """The frozen agent for `entry`, from the cache or by running PyInstaller."""
    if not entry.is_file():
        raise BuildError(f"agent entry script {entry} does not exist")
    cache = cache or cache_root()
    final = cache / cache_key(entry)
    if (final / NAME / NAME).is_file():
        os.utime(final)  # in use: _prune goes by this time
        return Frozen(final / NAME)
    cache.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".freeze.", dir=cache))
    try:
        spec = work / f"{NAME}.spec"
        spec.write_text(spec_text(entry))
        argv = [sys.executable, "-m", "PyInstaller", *pyinstaller_args(spec, work / "out", work)]
        # PyInstaller walks sets while writing base_library.zip: without a fixed hash seed
        # the member order, and so the bytes, change from run to run.
        env = dict(os.environ, PYTHONHASHSEED="0")
        env.setdefault("SOURCE_DATE_EPOCH", str(source_date_epoch()))
        result = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=work)
        if log:
            log.write_text(result.stdout + result.stderr)
        if result.returncode != 0:
            tail = "\n".join(result.stderr.strip().splitlines()[-15:])
            raise BuildError(f"PyInstaller failed on {entry}:\n{tail}")
        if final.exists():
            shutil.rmtree(final)
        os.rename(work / "out", final)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    _prune(cache, keep=final)
    return Frozen(final / NAME)


def _prune(cache: Path, keep: Path) -> None:
    """Drop frozen agents (about 30 MB each) beyond the KEEP most recently used, once they
    are an hour old, so a build or test session running alongside keeps its own."""
    entries = sorted(
        (p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".") and p != keep),
        key=lambda p: p.stat().st_mtime,
        reverse=True,
    )
    for old in entries[KEEP - 1 :]:
        if time.time() - old.stat().st_mtime > STALE_SECONDS:
            shutil.rmtree(old, ignore_errors=True)
