"""How a value reaches a function's parameter, as text/template's evalArg and validateType
decide: a literal is converted to the parameter's type or refused ("expected integer;
found "1""), a computed value must already have it ("wrong type for value; expected
string; got int"), and a missing value becomes nil where nil is allowed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from server.gotemplate import nodes as n
from server.gotemplate.errors import TemplateError
from server.gotemplate.funcs import GO_TYPE
from server.gotemplate.values import MISSING, is_int, type_name

_ASSIGNABLE: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "int": is_int,
    "float": lambda v: isinstance(v, float),
    "bool": lambda v: isinstance(v, bool),
    "map": lambda v: isinstance(v, dict),
    "list": lambda v: isinstance(v, list | tuple),
}


class _Fail(Protocol):
    def __call__(self, message: str, node: n.Node | None = None) -> TemplateError: ...


class Arguments:
    """Mixed into the executor, which supplies `fail`."""

    fail: _Fail

    def ideal(self, number: n.Number) -> Any:
        value = number.ideal()
        if is_int(value) and not -(2**63) <= value < 2**63:
            raise self.fail(f"{number.text} overflows int")
        return value

    def literal(self, kind: str, node: n.Node) -> Any:
        if kind in ("any", "value"):
            if isinstance(node, n.Bool):
                return node.value
            if isinstance(node, n.Number):
                return self.ideal(node)
            if isinstance(node, n.String):
                return node.value
        elif kind == "string" and isinstance(node, n.String):
            return node.value
        elif kind == "int" and isinstance(node, n.Number) and node.int_value is not None:
            return node.int_value
        elif kind == "float" and isinstance(node, n.Number) and node.float_value is not None:
            return node.float_value
        elif kind == "bool" and isinstance(node, n.Bool):
            return node.value
        expected = {"string": "string", "int": "integer", "float": "float", "bool": "bool"}
        if kind in expected:
            raise self.fail(f"expected {expected[kind]}; found {node}")
        raise self.fail(f"can't handle {node} for arg of type {GO_TYPE[kind]}")

    def check_type(self, value: Any, kind: str) -> Any:
        """Go's validateType: may this value be passed where `kind` is expected?"""
        if kind == "value":
            return value
        if value is MISSING:
            if kind == "any":
                return None
            if kind in ("map", "list"):
                return {} if kind == "map" else ()
            raise self.fail(f"invalid value; expected {GO_TYPE[kind]}")
        if kind == "any":
            return value
        if not _ASSIGNABLE[kind](value):
            got = "interface {}" if value is None else type_name(value)
            raise self.fail(f"wrong type for value; expected {GO_TYPE[kind]}; got {got}")
        return value
