"""How a template function is described: its Go parameter types, so calls convert and
check arguments as text/template does ("wrong type for value; expected string; got int").

Parameter types: `string`, `int`, `float` (float64), `bool`, `map` (map[string]interface{}),
`list` (a slice), `any` (interface{}: a missing value arrives as None) and `value`
(reflect.Value: a missing value arrives as MISSING, as Go's builtins see it).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

GO_TYPE = {
    "string": "string",
    "int": "int",
    "float": "float64",
    "bool": "bool",
    "map": "map[string]interface {}",
    "list": "[]interface {}",
    "any": "interface {}",
    "value": "reflect.Value",
}


@dataclass(frozen=True)
class Func:
    fn: Callable[..., Any]
    params: tuple[str, ...] = ()
    variadic: str | None = None  # the element type of a final ...param
    lazy: bool = False  # `and` / `or`: arguments evaluated one by one, as Go does


def f(fn: Callable[..., Any], *params: str, variadic: str | None = None) -> Func:
    for p in (*params, variadic):
        assert p is None or p in GO_TYPE, p
    return Func(fn, params, variadic)


FuncMap = Mapping[str, Func]
