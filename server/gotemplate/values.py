"""Go values as the renderer sees them: Python values under Go's names, truth and nil.

| Python | Go | printed (%v) |
|---|---|---|
| `str`, `int`, `float`, `bool` | string, int, float64, bool | as Go prints them |
| `None` | a nil interface | `<nil>` (`<no value>` when it is an action's whole value) |
| `list`, `tuple` | a slice | `[a b]` |
| `dict` (string keys) | map[string]interface{} | `map[k:v]`, keys sorted |
| `Struct` | a struct (or a pointer to one) | `{v1 v2}` |
| `Nil` | a typed nil pointer, e.g. `*v1alpha1.DHCP` | `<nil>` |
| `MISSING` | the invalid value of a missing map key (missingkey=default) | `<no value>` |
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


class _Missing:
    """Go's invalid reflect.Value: what a missing map key yields under missingkey=default."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


@dataclass(frozen=True, eq=False)
class Struct:
    """A Go struct value: fields in declaration order, reached by their Go names.

    `json` gives a field's `json:"…"` tag (e.g. `"mac,omitempty"`) for toJson and toYaml;
    a field without one is encoded under its Go name, as encoding/json does."""

    type_name: str
    fields: Mapping[str, Any] = field(default_factory=dict)
    json: Mapping[str, str] = field(default_factory=dict)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Struct):
            return NotImplemented
        return self.type_name == other.type_name and dict(self.fields) == dict(other.fields)

    __hash__ = None  # type: ignore[assignment]


@dataclass(frozen=True)
class Nil:
    """A typed nil pointer (a struct field such as `DHCP *DHCP` that was not set)."""

    type_name: str


class Probe(str):
    """A stand-in value for checking a template before its data exists: it is a string
    (`"0"` unless told otherwise), and any field of it is itself."""

    __slots__ = ()


class ProbeMap(dict[str, Any]):
    """A map that answers every key it lacks with `Probe("0")`, so a template checked
    without its hardware map still renders all the way through."""

    probe = Probe("0")


def type_name(value: Any) -> str:
    """The Go type a value stands for, as Go's error messages spell it."""
    if value is None or value is MISSING:
        return "<nil>"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, tuple):
        return "[]string"
    if isinstance(value, list):
        return "[]interface {}"
    if isinstance(value, dict):
        return "map[string]interface {}"
    if isinstance(value, Struct | Nil):
        return value.type_name
    return type(value).__name__


def kind_of(value: Any) -> str:
    """reflect.Kind's name for a value: bool, int, float64, string, slice, map, ptr, struct,
    or invalid for nil."""
    if isinstance(value, Struct | Nil):
        return "struct" if isinstance(value, Struct) else "ptr"
    name = type_name(value)
    return _KINDS.get(name, name)


_KINDS = {
    "<nil>": "invalid",
    "[]string": "slice",
    "[]interface {}": "slice",
    "map[string]interface {}": "map",
}


def is_true(value: Any) -> bool:
    """Go's truth: false, 0, nil and empty strings, slices and maps are false; structs true."""
    if value is None or value is MISSING or isinstance(value, Nil):
        return False
    if isinstance(value, Struct):
        return True
    if isinstance(value, bool | int | float):
        return bool(value)
    if isinstance(value, str | list | tuple | dict):
        return len(value) > 0
    return True


def is_nil(value: Any) -> bool:
    return value is None or value is MISSING or isinstance(value, Nil)


def is_string(value: Any) -> bool:
    return isinstance(value, str)


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_list(value: Any) -> bool:
    return isinstance(value, list | tuple)
