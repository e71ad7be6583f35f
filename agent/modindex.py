"""The kernel's module index files, parsed: modules.dep, modules.alias, modules.softdep,
modules.builtin. Pure: `ModuleIndex.parse(...)` takes their text; `load()` reads them.

`load_order(name)` answers what modprobe would load for a name or alias, dependencies first.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

WILDCARDS = "*?["
INDEX_FILES = ("modules.dep", "modules.alias", "modules.softdep", "modules.builtin")


def module_name(path: str) -> str:
    """`kernel/fs/ext4/ext4.ko.xz` → `ext4`; `-` and `_` are the same in module names."""
    base = path.rsplit("/", 1)[-1]
    base = base.split(".ko", 1)[0]
    return base.replace("-", "_")


class Alias:
    """One modules.alias line. `prefix`, the pattern's text before its first wildcard, is
    worked out once: coldplug compares every device with a thousand patterns, and under
    emulation a per-comparison scan of the pattern cost a third of a second."""

    __slots__ = ("module", "pattern", "prefix")

    def __init__(self, pattern: str, module: str) -> None:
        self.pattern = pattern
        self.module = module
        cuts = [i for i in map(pattern.find, WILDCARDS) if i >= 0]
        self.prefix = pattern[: min(cuts)] if cuts else pattern

    def __repr__(self) -> str:
        return f"Alias({self.pattern!r}, {self.module!r})"


@dataclass(frozen=True)
class Softdep:
    pre: tuple[str, ...] = ()
    post: tuple[str, ...] = ()


@dataclass
class ModuleIndex:
    paths: dict[str, str] = field(default_factory=dict)  # name -> path relative to the tree
    deps: dict[str, tuple[str, ...]] = field(default_factory=dict)
    aliases: dict[str, list[Alias]] = field(default_factory=dict)  # by literal prefix's bus
    softdeps: dict[str, Softdep] = field(default_factory=dict)
    builtin: set[str] = field(default_factory=set)

    @classmethod
    def parse(cls, dep: str, alias: str = "", softdep: str = "", builtin: str = "") -> ModuleIndex:
        index = cls()
        for line in dep.splitlines():
            target, sep, rest = line.partition(":")
            if not sep:
                continue
            name = module_name(target)
            index.paths[name] = target.strip()
            index.deps[name] = tuple(module_name(d) for d in rest.split())
        for line in alias.splitlines():
            words = line.split()
            if len(words) == 3 and words[0] == "alias":
                entry = Alias(words[1], module_name(words[2]))
                index.aliases.setdefault(_bucket(entry.pattern), []).append(entry)
        for line in softdep.splitlines():
            words = line.split()
            if len(words) >= 2 and words[0] == "softdep":
                name, more = module_name(words[1]), _parse_softdep(words[2:])
                had = index.softdeps.get(name, Softdep())
                index.softdeps[name] = Softdep(had.pre + more.pre, had.post + more.post)
        index.builtin = {module_name(line) for line in builtin.split()}
        return index

    @classmethod
    def load(cls, tree: Path) -> ModuleIndex:
        texts = []
        for name in INDEX_FILES:
            try:
                texts.append((tree / name).read_text())
            except FileNotFoundError:
                texts.append("")
        return cls.parse(*texts)

    def match(self, modalias: str) -> list[str]:
        """Modules whose alias patterns match a device's modalias, in index order."""
        found: list[str] = []
        candidates = self.aliases.get(_bucket(modalias), []) + self.aliases.get("*", [])
        for entry in candidates:
            if not modalias.startswith(entry.prefix):
                continue
            if entry.module not in found and fnmatch.fnmatchcase(modalias, entry.pattern):
                found.append(entry.module)
        return found

    def resolve(self, name: str) -> list[str]:
        """A module name, or an alias (`crc32c`, `fs-ext4`), to module names."""
        name = name.replace("-", "_") if name.replace("-", "_") in self.paths else name
        if name in self.paths or name in self.builtin:
            return [name]
        return self.match(name)

    def load_order(self, name: str) -> list[str]:
        """What to load for `name`, each module after everything it needs; builtins left out."""
        order: list[str] = []
        for module in self.resolve(name):
            self._visit(module, order, set())
        return order

    def _visit(self, module: str, order: list[str], seen: set[str]) -> None:
        if module in seen or module in order:
            return
        seen.add(module)
        soft = self.softdeps.get(module, Softdep())
        for pre in soft.pre:
            for dep in self.resolve(pre):
                self._visit(dep, order, seen)
        # modules.dep lists the deepest dependency last: load from the end.
        for dep in reversed(self.deps.get(module, ())):
            self._visit(dep, order, seen)
        if module in self.paths and module not in order:
            order.append(module)
        for post in soft.post:
            for dep in self.resolve(post):
                self._visit(dep, order, seen)


def _bucket(text: str) -> str:
    """Aliases are grouped by the text before the first ':' (the bus), so a device is only
    compared with its own bus's patterns; a pattern with a wildcard there goes to '*'."""
    head, sep, _ = text.partition(":")
    if any(c in WILDCARDS for c in head):
        return "*"
    return head if sep else ""


def _parse_softdep(words: Iterable[str]) -> Softdep:
    pre: list[str] = []
    post: list[str] = []
    current = pre
    for word in words:
        if word == "pre:":
            current = pre
        elif word == "post:":
            current = post
        else:
            current.append(word)
    return Softdep(tuple(pre), tuple(post))
