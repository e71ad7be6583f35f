"""YAML read the way Go reads it into typed structs, from PyYAML's node tree.

PyYAML composes the document (no construction, no implicit typing: every scalar keeps its
text, its style and its line), and `Reader` decodes nodes into the shapes a Go struct
field has, with yaml.v3's rules: a string field takes the scalar's text exactly as written
(`0600` stays "0600", `true` stays "true"; a plain `null`, `~` or nothing is ""), an int
field takes YAML 1.1/1.2 integers (`0600` is 384, as Go's base-0 parse makes it), a
duplicate key is an error, `<<` merges.

Guarded before they cost anything: a document over `limit` bytes is refused unread; the
decode counts every node it visits, aliases included, so a billion-laughs document stops
at `MAX_NODES`; nesting deeper than Python's stack is refused.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import yaml

from server.tinkerbell.errors import TinkerbellError

MAX_NODES = 200_000
NULLS = frozenset({"", "~", "null", "Null", "NULL"})
BOOLS_TRUE = frozenset(["y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"])
BOOLS_FALSE = frozenset(
    ["n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"]
)
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_STR = "tag:yaml.org,2002:str"
_NULL_TAG = "tag:yaml.org,2002:null"

try:  # libyaml's parser when PyYAML was built with it: the same tree, faster
    _Loader: Any = yaml.CBaseLoader
except AttributeError:  # pragma: no cover
    _Loader = yaml.BaseLoader


def is_plain(node: yaml.Node) -> bool:
    """An unquoted scalar (the C parser says '' where the Python one says None)."""
    return isinstance(node, yaml.ScalarNode) and not node.style


def line_of(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def compose(text: str, what: str, limit: int) -> list[yaml.Node]:
    """The documents of `text` as node trees; bad YAML or too much of it raises."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > limit:
        raise TinkerbellError(f"{what} is {size} bytes, more than the limit of {limit}")
    try:
        documents = yaml.compose_all(text, Loader=_Loader)
        return [doc for doc in documents if doc is not None and not Reader.is_null(doc)]
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        line = int(mark.line) + 1 if mark else 0
        problem = err.problem or err.context or "not YAML"
        raise TinkerbellError(f"not valid YAML: {problem}", line=line) from None
    except yaml.YAMLError as err:
        raise TinkerbellError(f"not valid YAML: {err}") from None
    except RecursionError:
        raise TinkerbellError(f"{what} is nested too deeply to read") from None


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return f"the scalar {node.value!r}"


class Reader:
    """Decodes nodes into Go field shapes, counting every node it visits."""

    def __init__(self) -> None:
        self.visited = 0

    def fail(self, message: str, node: yaml.Node, path: str) -> TinkerbellError:
        return TinkerbellError(message, line=line_of(node), field=path)

    def visit(self, node: yaml.Node, path: str) -> None:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise self.fail(
                f"the document expands to more than {MAX_NODES} values (YAML aliases?); "
                "refusing it",
                node,
                path,
            )

    @staticmethod
    def is_null(node: yaml.Node) -> bool:
        if not isinstance(node, yaml.ScalarNode):
            return False
        if node.tag == _NULL_TAG:
            return True
        return is_plain(node) and node.tag in (_STR, None) and node.value in NULLS

    def mapping(self, node: yaml.Node, path: str) -> Iterator[tuple[str, yaml.Node, yaml.Node]]:
        """(key, key node, value node) of a mapping, merges applied, duplicates refused."""
        self.visit(node, path)
        if self.is_null(node):
            return
        if not isinstance(node, yaml.MappingNode):
            raise self.fail(f"expected a mapping, found {_kind(node)}", node, path)
        seen: dict[str, int] = {}
        merged: list[tuple[str, yaml.Node, yaml.Node]] = []
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise self.fail("a mapping key must be a plain value", key_node, path)
            key = key_node.value
            if key == "<<" and is_plain(key_node):
                merged.extend(self.merge_sources(value_node, path))
                continue
            if key in seen:
                raise self.fail(
                    f"mapping key {key!r} already defined at line {seen[key]}", key_node, path
                )
            seen[key] = line_of(key_node)
            yield key, key_node, value_node
        for key, key_node, value_node in merged:
            if key not in seen:
                seen[key] = line_of(key_node)
                yield key, key_node, value_node

    def merge_sources(self, node: yaml.Node, path: str) -> list[tuple[str, yaml.Node, yaml.Node]]:
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out: list[tuple[str, yaml.Node, yaml.Node]] = []
        for source in sources:
            if not isinstance(source, yaml.MappingNode):
                raise self.fail("<< must merge a mapping or a list of mappings", source, path)
            out.extend(self.mapping(source, path))
        return out

    def struct(self, node: yaml.Node, path: str, fields: frozenset[str]) -> dict[str, yaml.Node]:
        """A mapping whose keys must all be known field names."""
        out: dict[str, yaml.Node] = {}
        for key, key_node, value_node in self.mapping(node, path):
            if key not in fields:
                known = ", ".join(sorted(fields))
                raise self.fail(
                    f"unknown field {key!r} (known: {known})", key_node, _join(path, key)
                )
            out[key] = value_node
        return out

    def string(self, node: yaml.Node, path: str) -> str:
        self.visit(node, path)
        if not isinstance(node, yaml.ScalarNode):
            raise self.fail(f"expected a string, found {_kind(node)}", node, path)
        return "" if self.is_null(node) else str(node.value)

    def integer(self, node: yaml.Node, path: str) -> int:
        """yaml.v3 into an int: a plain integer (base prefixes, 0777 octal, _), or a float
        that is whole; a quoted number is a string and refused, as Go refuses it."""
        self.visit(node, path)
        if self.is_null(node):
            return 0
        if not isinstance(node, yaml.ScalarNode) or not is_plain(node):
            raise self.fail(f"expected a whole number, found {_kind(node)}", node, path)
        value = parse_int(node.value)
        if value is None:
            raise self.fail(f"expected a whole number, found {node.value!r}", node, path)
        return value

    def boolean(self, node: yaml.Node, path: str) -> bool:
        self.visit(node, path)
        if isinstance(node, yaml.ScalarNode) and is_plain(node):
            if node.value in BOOLS_TRUE:
                return True
            if node.value in BOOLS_FALSE or node.value in NULLS:
                return False
        raise self.fail(f"expected true or false, found {_kind(node)}", node, path)

    def sequence(self, node: yaml.Node, path: str) -> list[yaml.Node]:
        self.visit(node, path)
        if self.is_null(node):
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise self.fail(f"expected a list, found {_kind(node)}", node, path)
        return list(node.value)

    def strings(self, node: yaml.Node, path: str) -> tuple[str, ...]:
        items = self.sequence(node, path)
        return tuple(self.string(item, f"{path}[{i}]") for i, item in enumerate(items))

    def string_map(self, node: yaml.Node, path: str) -> dict[str, str]:
        return {
            key: self.string(value, _join(path, key)) for key, _, value in self.mapping(node, path)
        }

    def plain(self, node: yaml.Node, path: str) -> Any:
        """A free-form value as JSON would carry it (YAML 1.1 scalars, as Kubernetes reads)."""
        self.visit(node, path)
        if isinstance(node, yaml.MappingNode):
            return {k: self.plain(v, _join(path, k)) for k, _, v in self.mapping(node, path)}
        if isinstance(node, yaml.SequenceNode):
            return [self.plain(v, f"{path}[{i}]") for i, v in enumerate(node.value)]
        assert isinstance(node, yaml.ScalarNode)
        return scalar_value(node)


def scalar_value(node: yaml.ScalarNode) -> Any:
    """A scalar as YAML 1.1 types it (quoted: always a string)."""
    text = node.value
    if not is_plain(node) or node.tag not in (_STR, None):
        return text
    if text in NULLS:
        return None
    if text in BOOLS_TRUE:
        return True
    if text in BOOLS_FALSE:
        return False
    number = parse_int(text, allow_float=False)
    if number is not None:
        return number
    if _FLOAT.fullmatch(text.replace("_", "")):
        value = float(text.replace("_", ""))
        if not math.isinf(value):
            return value
    return text


def parse_int(text: str, allow_float: bool = True) -> int | None:
    """strconv.ParseInt(text, 0, 64) after removing `_`, as yaml.v3 resolves an int; with
    `allow_float`, a whole float too (`60.0`)."""
    plain = text.replace("_", "")
    body = plain.lstrip("+-")
    if not body:
        return None
    try:
        if len(body) > 1 and body[0] == "0" and body[1].isdigit():
            value = int(plain[: len(plain) - len(body)] + "0o" + body[1:], 0)
        else:
            value = int(plain, 0)
    except ValueError:
        value = None
        if allow_float and _FLOAT.fullmatch(plain):
            number = float(plain)
            if number.is_integer():
                value = int(number)
    if value is None or not -(2**63) <= value < 2**63:
        return None
    return value


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
