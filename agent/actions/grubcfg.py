"""The entry a grub.cfg boots by default: its kernel, initrds and command line. Pure.

grub.cfg is a script; this reads it the way grub would for the default entry without
running it: words split with grub's quoting ('…' literal, "…" with $variables, \\ escapes),
`set NAME=VALUE` and `NAME=VALUE` kept in order (so of `if …; then set default=A; else
set default=B; fi` the last one counts, which is grub-mkconfig's fallback branch),
function bodies skipped (they run only when called), `menuentry` and `submenu` blocks
numbered as grub numbers them. `default` may be a number, `N>M` into a submenu, a title or
an id (`--id` / `$menuentry_id_option`); `${saved_entry}` comes from grubenv when given.
An unknown default falls back to entry 0, as grub does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field, replace

LINUX = frozenset({"linux", "linuxefi", "linux16"})
INITRD = frozenset({"initrd", "initrdefi", "initrd16"})
ENTRY_OPTIONS_WITH_VALUE = frozenset({"--class", "--users", "--hotkey", "--id"})
_DEVICE_PREFIX = re.compile(r"^\([^)]*\)")  # (hd0,gpt2)/boot/vmlinuz
_VARIABLE = re.compile(r"\$(?:\{([^}]*)\}|([A-Za-z_][A-Za-z0-9_]*|[0-9?#]))")


@dataclass(frozen=True)
class BootEntry:
    title: str
    id: str = ""
    kernel: str = ""
    initrds: tuple[str, ...] = ()
    args: str = ""


@dataclass
class Submenu:
    title: str
    id: str = ""
    items: list[BootEntry | Submenu] = field(default_factory=list)


@dataclass
class Menu:
    items: list[BootEntry | Submenu]
    default: str


def parse_grubenv(text: str) -> dict[str, str]:
    """grubenv's NAME=VALUE lines (it pads itself to 1 KiB with '#')."""
    found: dict[str, str] = {}
    for line in text.splitlines():
        if line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        found[name] = value
    return found


def _expand(text: str, env: dict[str, str]) -> str:
    return _VARIABLE.sub(lambda m: env.get(m.group(1) or m.group(2), ""), text)


def words(line: str, env: dict[str, str]) -> Iterator[list[str]]:
    """The commands on one logical line, each as its words, with variables expanded."""
    command: list[str] = []
    word, in_word, i = "", False, 0
    while i < len(line):
        c = line[i]
        if c == "\\" and i + 1 < len(line):
            word, in_word, i = word + line[i + 1], True, i + 2
            continue
        if c == "'":
            end = line.find("'", i + 1)
            end = len(line) if end < 0 else end
            word, in_word, i = word + line[i + 1 : end], True, end + 1
            continue
        if c == '"':
            end = i + 1
            while end < len(line) and line[end] != '"':
                end += 2 if line[end] == "\\" else 1
            inner = re.sub(r"\\(.)", r"\1", line[i + 1 : end])
            word, in_word, i = word + _expand(inner, env), True, end + 1
            continue
        if c == "#" and not in_word:
            break
        if c in " \t;":
            if in_word:
                command.append(word)
            word, in_word = "", False
            if c == ";" and command:
                yield command
                command = []
            i += 1
            continue
        if c == "$":
            match = _VARIABLE.match(line, i)
            if match:  # unquoted: an empty value makes no word, as in a shell
                value = _expand(match.group(0), env)
                word, in_word, i = word + value, in_word or bool(value), match.end()
                continue
        word, in_word, i = word + c, True, i + 1
    if in_word:
        command.append(word)
    if command:
        yield command


def _lines(text: str) -> Iterator[str]:
    pending = ""
    for raw in text.splitlines():
        if raw.endswith("\\") and not raw.endswith("\\\\"):
            pending += raw[:-1]
            continue
        yield pending + raw
        pending = ""
    if pending:
        yield pending


def _title_and_id(rest: list[str]) -> tuple[str, str]:
    title = rest[0] if rest else ""
    ident, i = "", 1
    while i < len(rest):
        word = rest[i]
        if word in ENTRY_OPTIONS_WITH_VALUE:
            if word == "--id" and i + 1 < len(rest):
                ident = rest[i + 1]
            i += 2
            continue
        if word != "{" and not word.startswith("--") and not ident:
            ident = word  # `$menuentry_id_option 'gnulinux-…'` with the option expanded away
        i += 1
    return title, ident


def _at_braces(commands: Iterator[list[str]]) -> Iterator[list[str]]:
    """Commands cut after each `{` and around each `}`: `menuentry 'x' { linux /k }`."""
    for command in commands:
        part: list[str] = []
        for word in command:
            if word == "}":
                if part:
                    yield part
                yield ["}"]
                part = []
            elif word == "{":
                yield [*part, "{"]
                part = []
            else:
                part.append(word)
        if part:
            yield part


def _path(word: str) -> str:
    return _DEVICE_PREFIX.sub("", word)


KEYWORDS = frozenset({"if", "then", "else", "elif", "fi", "do", "done", "while", "until"})


def parse(text: str, env: dict[str, str] | None = None) -> Menu:
    """The menu of `text`; `env` holds variables known beforehand (grubenv's)."""
    variables = dict(env or {})
    top: list[BootEntry | Submenu] = []
    containers: list[list[BootEntry | Submenu]] = [top]
    blocks: list[str] = []  # "entry", "submenu", "function", "other"
    entry: BootEntry | None = None  # the menuentry being read
    for line in _lines(text):
        for command in _at_braces(words(line, variables)):
            while command and command[0] in KEYWORDS:
                command = command[1:]
            if not command:
                continue
            head = command[0]
            if head == "}":
                kind = blocks.pop() if blocks else "other"
                if kind == "entry" and entry is not None:
                    containers[-1].append(entry)
                    entry = None
                elif kind == "submenu":
                    containers.pop()
                continue
            if "function" in blocks:
                if command[-1] == "{":
                    blocks.append("other")
                continue
            if head in ("menuentry", "submenu"):
                title, ident = _title_and_id(command[1:])
                if head == "menuentry":
                    entry = BootEntry(title, ident)
                    blocks.append("entry")
                else:
                    menu = Submenu(title, ident)
                    containers[-1].append(menu)
                    containers.append(menu.items)
                    blocks.append("submenu")
                continue
            if head == "function":
                blocks.append("function")
                continue
            if entry is not None and head in LINUX and len(command) > 1:
                entry = replace(entry, kernel=_path(command[1]), args=" ".join(command[2:]))
            elif entry is not None and head in INITRD:
                entry = replace(entry, initrds=tuple(_path(w) for w in command[1:]))
            elif entry is None and head == "set" and len(command) > 1:
                name, _, value = command[1].partition("=")
                variables[name] = value
            elif entry is None and "=" in head and re.match(r"[A-Za-z_]\w*=", head):
                name, _, value = head.partition("=")
                variables[name] = value
            if command[-1] == "{" and head not in ("menuentry", "submenu", "function"):
                blocks.append("other")
    return Menu(top, variables.get("default", "0"))


def _pick(items: list[BootEntry | Submenu], key: str) -> BootEntry | Submenu | None:
    if key.isdigit():
        index = int(key)
        return items[index] if index < len(items) else None
    return next((item for item in items if key in (item.title, item.id)), None)


def default_entry(menu: Menu) -> BootEntry | None:
    """The entry grub boots by default, or None when the menu has no entry at all."""
    items: list[BootEntry | Submenu] = menu.items
    chosen: BootEntry | Submenu | None = None
    for key in (menu.default or "0").split(">"):
        chosen = _pick(items, key.strip())
        if chosen is None:
            break
        if isinstance(chosen, Submenu):
            items = chosen.items
    if chosen is None:
        chosen = menu.items[0] if menu.items else None
    while isinstance(chosen, Submenu):  # a submenu named alone: its first entry
        chosen = chosen.items[0] if chosen.items else None
    return chosen
