"""Sprig's list and dict functions: `list`, `dict`, `append`, `first`, `uniq`, `merge`, `dig`,
… with Sprig's errors ("Cannot find first on type string") and its quirks (`get` of a
missing key is "", `first` of an empty list nil)."""

from __future__ import annotations

import copy
from typing import Any

from server.gotemplate.errors import FuncError
from server.gotemplate.funcs import Func, f
from server.gotemplate.sprig_data import empty, to_int64
from server.gotemplate.sprig_strings import MAX_VALUE, strval
from server.gotemplate.values import MISSING, kind_of, type_name


def _as_list(value: Any, verb: str) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    kind = "invalid" if value is None or value is MISSING else kind_of(value)
    raise FuncError(
        f"Cannot {verb} on type {kind}"
        if verb != "concat"
        else f"Cannot concat type {kind} as list"
    )


def _deep_equal(a: Any, b: Any) -> bool:
    if type_name(a) != type_name(b):
        return False
    return bool(a == b)


def _uniq(value: Any) -> list[Any]:
    out: list[Any] = []
    for item in _as_list(value, "uniq"):
        if not any(_deep_equal(item, seen) for seen in out):
            out.append(item)
    return out


def _without(value: Any, *omit: Any) -> list[Any]:
    return [x for x in _as_list(value, "find without") if not any(_deep_equal(x, o) for o in omit)]


def _has(needle: Any, haystack: Any) -> bool:
    if haystack is None or haystack is MISSING:
        return False
    return any(_deep_equal(needle, x) for x in _as_list(haystack, "find has"))


def _slice(value: Any, *indices: Any) -> Any:
    if not isinstance(value, list | tuple):
        raise FuncError(f"list should be type of slice or array but {kind_of(value)}")
    items = list(value)
    if not items:
        return None
    start = to_int64(indices[0]) if indices else 0
    end = to_int64(indices[1]) if len(indices) > 1 else len(items)
    if not 0 <= start <= end <= len(items):
        raise FuncError(f"reflect: slice index out of range [{start}:{end}]")
    result = items[start:end]
    return tuple(result) if isinstance(value, tuple) else result


def _chunk(size: int, value: Any) -> list[Any]:
    items = _as_list(value, "chunk")
    if size <= 0:
        raise FuncError("runtime error: integer divide by zero")
    return [items[i : i + size] for i in range(0, len(items), size)] or [[]]


def _concat(*lists: Any) -> Any:
    out: list[Any] = []
    for value in lists:
        out.extend(_as_list(value, "concat"))
    _check_len(out)
    return out or None


def _check_len(items: list[Any] | dict[str, Any]) -> None:
    if len(items) > MAX_VALUE:
        raise FuncError(f"result has {len(items)} items, more than the limit of {MAX_VALUE}")


def _first(value: Any) -> Any:
    items = _as_list(value, "find first")
    return items[0] if items else None


def _last(value: Any) -> Any:
    items = _as_list(value, "find last")
    return items[-1] if items else None


def _rest(value: Any) -> Any:
    items = _as_list(value, "find rest")
    return items[1:] if items else None


def _initial(value: Any) -> Any:
    items = _as_list(value, "find initial")
    return items[:-1] if items else None


# dicts


def _dict(*pairs: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for i in range(0, len(pairs), 2):
        out[strval(pairs[i])] = pairs[i + 1] if i + 1 < len(pairs) else ""
    return out


def _merge(overwrite: bool, dst: dict[str, Any], *sources: dict[str, Any]) -> Any:
    """mergo.Merge: keys dst lacks (or holds empty) come from each source; maps merge deep."""

    def into(target: dict[str, Any], src: dict[str, Any]) -> None:
        for key, value in src.items():
            current = target.get(key)
            if isinstance(current, dict) and isinstance(value, dict):
                into(current, value)
            elif key not in target or empty(current) or (overwrite and not empty(value)):
                target[key] = value

    for src in sources:
        into(dst, src)
    return dst


def _dig(*args: Any) -> Any:
    if len(args) < 3:
        raise FuncError("dig needs at least three arguments")
    data, fallback, keys = args[-1], args[-2], args[:-2]
    for key in keys:
        if not isinstance(data, dict):
            raise FuncError(
                f"interface conversion: interface {{}} is {type_name(data)}, "
                "not map[string]interface {}"
            )
        if not isinstance(key, str):
            raise FuncError(f"interface conversion: interface {{}} is {type_name(key)}, not string")
        if key not in data:
            return fallback
        data = data[key]
    return data


def _type_of(value: Any) -> str:
    return type_name(value)


COLLECTION_FUNCS: dict[str, Func] = {
    "typeOf": f(_type_of, "any"),
    "typeIs": f(lambda t, v: t == _type_of(v), "string", "any"),
    "typeIsLike": f(lambda t, v: _type_of(v) in (t, "*" + t), "string", "any"),
    "kindOf": f(kind_of, "any"),
    "kindIs": f(lambda k, v: k == kind_of(v), "string", "any"),
    "deepEqual": f(_deep_equal, "any", "any"),
    "compact": f(lambda v: [x for x in _as_list(v, "compact") if not empty(x)], "any"),
    "mustCompact": f(lambda v: [x for x in _as_list(v, "compact") if not empty(x)], "any"),
    "list": f(lambda *v: list(v), variadic="any"),
    "tuple": f(lambda *v: list(v), variadic="any"),
    "append": f(lambda lst, v: [*_as_list(lst, "push"), v], "any", "any"),
    "push": f(lambda lst, v: [*_as_list(lst, "push"), v], "any", "any"),
    "mustAppend": f(lambda lst, v: [*_as_list(lst, "push"), v], "any", "any"),
    "mustPush": f(lambda lst, v: [*_as_list(lst, "push"), v], "any", "any"),
    "prepend": f(lambda lst, v: [v, *_as_list(lst, "prepend")], "any", "any"),
    "mustPrepend": f(lambda lst, v: [v, *_as_list(lst, "prepend")], "any", "any"),
    "first": f(_first, "any"),
    "mustFirst": f(_first, "any"),
    "last": f(_last, "any"),
    "mustLast": f(_last, "any"),
    "rest": f(_rest, "any"),
    "mustRest": f(_rest, "any"),
    "initial": f(_initial, "any"),
    "mustInitial": f(_initial, "any"),
    "reverse": f(lambda v: _as_list(v, "reverse")[::-1], "any"),
    "mustReverse": f(lambda v: _as_list(v, "reverse")[::-1], "any"),
    "uniq": f(_uniq, "any"),
    "mustUniq": f(_uniq, "any"),
    "without": f(_without, "any", variadic="any"),
    "mustWithout": f(_without, "any", variadic="any"),
    "has": f(_has, "any", "any"),
    "mustHas": f(_has, "any", "any"),
    "slice": f(_slice, "any", variadic="any"),
    "mustSlice": f(_slice, "any", variadic="any"),
    "concat": f(_concat, variadic="any"),
    "chunk": f(_chunk, "int", "any"),
    "mustChunk": f(_chunk, "int", "any"),
    "dict": f(_dict, variadic="any"),
    "get": f(lambda d, k: d.get(k, ""), "map", "string"),
    "set": f(lambda d, k, v: d.__setitem__(k, v) or d, "map", "string", "any"),
    "unset": f(lambda d, k: (d.pop(k, None), d)[1], "map", "string"),
    "hasKey": f(lambda d, k: k in d, "map", "string"),
    "pluck": f(lambda k, *ds: [d[k] for d in ds if k in d], "string", variadic="map"),
    "keys": f(lambda *ds: tuple(k for d in ds for k in d), variadic="map"),
    "values": f(lambda d: list(d.values()), "map"),
    "pick": f(lambda d, *ks: {k: d[k] for k in ks if k in d}, "map", variadic="string"),
    "omit": f(lambda d, *ks: {k: v for k, v in d.items() if k not in ks}, "map", variadic="string"),
    "merge": f(lambda d, *s: _merge(False, d, *s), "map", variadic="map"),
    "mustMerge": f(lambda d, *s: _merge(False, d, *s), "map", variadic="map"),
    "mergeOverwrite": f(lambda d, *s: _merge(True, d, *s), "map", variadic="map"),
    "mustMergeOverwrite": f(lambda d, *s: _merge(True, d, *s), "map", variadic="map"),
    "dig": f(_dig, variadic="any"),
    "deepCopy": f(copy.deepcopy, "any"),
    "mustDeepCopy": f(copy.deepcopy, "any"),
}
