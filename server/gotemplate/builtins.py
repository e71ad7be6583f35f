"""Go text/template's predefined functions (text/template/funcs.go), with their errors."""

from __future__ import annotations

import urllib.parse
from typing import Any

from server.gotemplate.errors import FuncError
from server.gotemplate.funcs import Func, f
from server.gotemplate.printing import format_value, sprint, sprintf, sprintln
from server.gotemplate.values import (
    MISSING,
    Nil,
    Struct,
    is_int,
    is_nil,
    is_true,
    kind_of,
    type_name,
)


def _index_arg(index: Any, cap: int) -> int:
    if index is MISSING or index is None:
        raise FuncError("cannot index slice/array with nil")
    if not is_int(index):
        raise FuncError(f"cannot index slice/array with type {type_name(index)}")
    if index < 0 or index > cap:
        raise FuncError(f"index out of range: {index}")
    return int(index)


def index_value(item: Any, *indexes: Any) -> Any:
    """`index`: slices and strings by position (a string's element is its byte, an int, as
    in Go), maps by key (a missing key gives the zero value, nil)."""
    if item is MISSING or item is None:
        raise FuncError("index of untyped nil")
    for key in indexes:
        if key is None:
            key = MISSING
        if item is MISSING or item is None or isinstance(item, Nil):
            raise FuncError("index of nil pointer")
        if isinstance(item, str | list | tuple):
            seq: Any = item.encode("utf-8", "surrogatepass") if isinstance(item, str) else item
            i = _index_arg(key, len(seq))
            if i == len(seq):
                raise FuncError(f"index out of range: {i}")
            item = seq[i]
        elif isinstance(item, dict):
            if key is MISSING:
                raise FuncError("value is nil; should be of type string")
            if not isinstance(key, str):
                raise FuncError(f"value has type {type_name(key)}; should be string")
            item = item.get(key)
        else:
            raise FuncError(f"can't index item of type {type_name(item)}")
    return item


def slice_(item: Any, *indexes: Any) -> Any:
    if item is MISSING or item is None:
        raise FuncError("slice of untyped nil")
    if len(indexes) > 3:
        raise FuncError(f"too many slice indexes: {len(indexes)}")
    if isinstance(item, str):
        if len(indexes) == 3:
            raise FuncError("cannot 3-index slice a string")
        data = item.encode("utf-8", "surrogatepass")
        length = len(data)
    elif isinstance(item, list | tuple):
        length = len(item)
    else:
        raise FuncError(f"can't slice item of type {type_name(item)}")
    bounds = [0, length]
    for i, key in enumerate(indexes):
        value = _index_arg(key, length)
        if i < 2:
            bounds[i] = value
    if bounds[0] > bounds[1]:
        raise FuncError(f"invalid slice index: {bounds[0]} > {bounds[1]}")
    if len(indexes) == 3 and bounds[1] > _index_arg(indexes[2], length):
        raise FuncError(f"invalid slice index: {bounds[1]} > {indexes[2]}")
    if isinstance(item, str):
        return data[bounds[0] : bounds[1]].decode("utf-8", "replace")
    return type(item)(item[bounds[0] : bounds[1]])


def length(item: Any) -> int:
    if isinstance(item, Nil):
        raise FuncError("len of nil pointer")
    if isinstance(item, str):
        return len(item.encode("utf-8", "surrogatepass"))
    if isinstance(item, list | tuple | dict):
        return len(item)
    if item is MISSING or item is None:
        raise FuncError("len of reflect.Value{}" if item is MISSING else "len of nil pointer")
    raise FuncError(f"len of type {type_name(item)}")


def _kind(value: Any) -> str:
    """The basic kinds Go's comparisons know; anything else is invalid for them."""
    kind = kind_of(value)
    return kind if kind in ("bool", "int", "float64", "string") else "invalid"


def _zero(value: Any) -> bool:
    return value is MISSING or value is None


def eq(arg1: Any, *others: Any) -> bool:
    if not others:
        raise FuncError("missing argument for comparison")
    k1 = _kind(arg1)
    for arg in others:
        k2 = _kind(arg)
        if k1 != k2:
            if not _zero(arg1) and not _zero(arg):
                raise FuncError("incompatible types for comparison")
            continue
        if k1 != "invalid":
            if arg1 == arg:
                return True
            continue
        if is_nil(arg1) or is_nil(arg):
            if is_nil(arg1) == is_nil(arg):
                return True
            continue
        if isinstance(arg1, list | tuple | dict) or isinstance(arg, list | tuple | dict):
            raise FuncError(f"non-comparable type {format_value(arg)}: {type_name(arg)}")
        if isinstance(arg1, Struct) and isinstance(arg, Struct) and arg1 == arg:
            return True
    return False


def ne(arg1: Any, arg2: Any) -> bool:
    return not eq(arg1, arg2)


def lt(arg1: Any, arg2: Any) -> bool:
    k1, k2 = _kind(arg1), _kind(arg2)
    if k1 == "invalid" or k2 == "invalid":
        raise FuncError("invalid type for comparison")
    if k1 != k2:
        raise FuncError("incompatible types for comparison")
    if k1 == "bool":
        raise FuncError("invalid type for comparison")
    if k1 == "string":
        return bool(arg1.encode("utf-8", "surrogatepass") < arg2.encode("utf-8", "surrogatepass"))
    return bool(arg1 < arg2)


def le(arg1: Any, arg2: Any) -> bool:
    return lt(arg1, arg2) or eq(arg1, arg2)


def gt(arg1: Any, arg2: Any) -> bool:
    return not le(arg1, arg2)


def ge(arg1: Any, arg2: Any) -> bool:
    return not lt(arg1, arg2)


def not_(arg: Any) -> bool:
    return not is_true(arg)


def _html(args: tuple[Any, ...]) -> str:
    text = _eval_args(args)
    table = {"<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&#39;", '"': "&#34;", "\0": "\ufffd"}
    return "".join(table.get(c, c) for c in text)


def _js(args: tuple[Any, ...]) -> str:
    text = _eval_args(args)
    out = []
    table = {
        "\\": "\\\\",
        "'": "\\'",
        '"': '\\"',
        "<": "\\u003C",
        ">": "\\u003E",
        "&": "\\u0026",
        "=": "\\u003D",
    }
    for c in text:
        if c in table:
            out.append(table[c])
        elif ord(c) < 0x20:
            out.append(f"\\u{ord(c):04X}")
        else:
            out.append(c)
    return "".join(out)


def _eval_args(args: tuple[Any, ...]) -> str:
    """Go's evalArgs: one string argument as it is, else fmt.Sprint of them all."""
    if len(args) == 1 and isinstance(args[0], str):
        return args[0]
    return sprint([None if a is MISSING else a for a in args])


def _urlquery(*args: Any) -> str:
    return urllib.parse.quote_plus(_eval_args(args), safe="")


def _printf(fmt: str, *args: Any) -> str:
    return sprintf(fmt, list(args))


BUILTINS: dict[str, Func] = {
    "and": Func(lambda *a: None, ("value",), "value", lazy=True),
    "or": Func(lambda *a: None, ("value",), "value", lazy=True),
    "not": f(not_, "value"),
    "len": f(length, "value"),
    "index": f(index_value, "value", variadic="value"),
    "slice": f(slice_, "value", variadic="value"),
    "print": f(lambda *a: sprint(list(a)), variadic="any"),
    "println": f(lambda *a: sprintln(list(a)), variadic="any"),
    "printf": f(_printf, "string", variadic="any"),
    "eq": f(eq, "value", variadic="value"),
    "ne": f(ne, "value", "value"),
    "lt": f(lt, "value", "value"),
    "le": f(le, "value", "value"),
    "gt": f(gt, "value", "value"),
    "ge": f(ge, "value", "value"),
    "html": f(lambda *a: _html(a), variadic="any"),
    "js": f(lambda *a: _js(a), variadic="any"),
    "urlquery": f(_urlquery, variadic="any"),
}
