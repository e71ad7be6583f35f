"""Sprig's default, list, dict, number, conversion, JSON and reflection functions.

Numbers follow spf13/cast as Sprig uses it: `int "0x10"` is 16, `int "08"` is 0 (not a
number in base 0), `int 3.9` is 3; integer math is int64 and truncates toward zero.
"""

from __future__ import annotations

import copy
import json
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from server.gotemplate.errors import FuncError
from server.gotemplate.funcs import Func, f
from server.gotemplate.gojson import marshal
from server.gotemplate.printing import format_value
from server.gotemplate.sprig_strings import MAX_VALUE, strval
from server.gotemplate.values import MISSING, Nil, Struct, is_int, type_name


def empty(value: Any) -> bool:
    if value is None or value is MISSING or isinstance(value, Nil):
        return True
    if isinstance(value, Struct):
        return False
    if isinstance(value, bool | int | float):
        return not value
    if isinstance(value, str | list | tuple | dict):
        return len(value) == 0
    return False


def default(fallback: Any, *given: Any) -> Any:
    if not given or empty(given[0]):
        return fallback
    return given[0]


def _trim_zero_decimal(text: str) -> str:
    head, dot, tail = text.rpartition(".")
    if dot and tail and set(tail) == {"0"}:
        return head
    return text


def _go_parse_int(text: str) -> int | None:
    """strconv.ParseInt(text, 0, 64): 0x, 0o, 0b prefixes, a leading 0 for octal, _ between
    digits; None if it is not a number or does not fit in int64."""
    body = text.lstrip("+-")
    if not body or body.startswith("_") or body.endswith("_") or "__" in body:
        return None
    try:
        if len(body) > 1 and body[0] == "0" and body[1] in "01234567_":
            value = int(
                text.replace("0", "0o", 1) if text[0] == "0" else text[0] + "0o" + text[2:], 0
            )
        else:
            value = int(text, 0)
    except ValueError:
        return None
    return value if -(2**63) <= value < 2**63 else None


def to_int64(value: Any) -> int:
    if isinstance(value, bool):
        return int(value)
    if is_int(value):
        return int(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return -(2**63)
        return int(value)
    if isinstance(value, str):
        parsed = _go_parse_int(_trim_zero_decimal(value))
        return parsed if parsed is not None else 0
    return 0


def to_float64(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.replace("_", "")) if value.strip() == value else 0.0
        except ValueError:
            return 0.0
    return 0.0


def atoi(text: str) -> int:
    body = text[1:] if text[:1] in "+-" else text
    if not body.isdigit() or not body.isascii():
        return 0
    value = int(text)
    return value if -(2**63) <= value < 2**63 else 0


def _trunc_div(a: int, b: int) -> int:
    if b == 0:
        raise FuncError("runtime error: integer divide by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def _trunc_mod(a: int, b: int) -> int:
    if b == 0:
        raise FuncError("runtime error: integer divide by zero")
    return a - b * _trunc_div(a, b)


def _decimal(value: Any) -> Decimal:
    number = to_float64(value)
    try:
        return Decimal(repr(number))
    except InvalidOperation:  # pragma: no cover - repr of a float always parses
        return Decimal(0)


def _decimal_op(op: str, first: Any, rest: tuple[Any, ...]) -> float:
    result = _decimal(first)
    for value in rest:
        other = _decimal(value)
        if op == "+":
            result += other
        elif op == "-":
            result -= other
        elif op == "*":
            result *= other
        else:
            if other == 0:
                raise FuncError("decimal division by 0")
            result /= other
    return float(result)


def round_(value: Any, places: int, *round_on: float) -> float:
    threshold = round_on[0] if round_on else 0.5
    power = 10.0**places
    digit = power * to_float64(value)
    fraction = math.modf(digit)[0]
    return (math.ceil(digit) if fraction >= threshold else math.floor(digit)) / power


def until_step(start: int, stop: int, step: int) -> list[Any]:
    if (stop < start and step >= 0) or (stop >= start and step <= 0):
        return []
    count = max(0, -(-abs(stop - start) // abs(step)))
    if count > MAX_VALUE:
        raise FuncError(f"until would make {count} numbers, more than the limit of {MAX_VALUE}")
    return list(range(start, stop, step))


def seq(*params: int) -> str:
    if len(params) == 1:
        start, end = 1, params[0]
        step = -1 if end < start else 1
        return " ".join(map(str, until_step(start, end + step, step)))
    if len(params) == 2:
        start, end = params
        step = -1 if end < start else 1
        return " ".join(map(str, until_step(start, end + step, step)))
    if len(params) == 3:
        start, step, end = params
        increment = 1
        if end < start:
            increment = -1
            if step > 0:
                return ""
        return " ".join(map(str, until_step(start, end + increment, step)))
    return ""


def to_decimal(value: Any) -> int:
    text = format_value(None if value is MISSING else value)
    body = text[1:] if text[:1] in "+-" else text
    if not body or any(c not in "01234567" for c in body):
        return 0
    return int(text, 8)


# lists


def _as_list(value: Any, verb: str) -> list[Any]:
    if isinstance(value, list | tuple):
        return list(value)
    kind = "invalid" if value is None or value is MISSING else _kind(value)
    raise FuncError(
        f"Cannot {verb} on type {kind}"
        if verb != "concat"
        else f"Cannot concat type {kind} as list"
    )


def _kind(value: Any) -> str:
    if value is None or value is MISSING:
        return "invalid"
    if isinstance(value, bool):
        return "bool"
    if is_int(value):
        return "int"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "slice"
    if isinstance(value, dict):
        return "map"
    if isinstance(value, Nil):
        return "ptr"
    return "struct"


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
        raise FuncError(f"list should be type of slice or array but {_kind(value)}")
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


def _from_json(text: str) -> Any:
    return json.loads(text, parse_int=float, parse_constant=_no_constant)


def _no_constant(name: str) -> Any:
    raise ValueError(f"invalid character '{name[0]}' looking for beginning of value")


def _from_json_quiet(text: str) -> Any:
    try:
        return _from_json(text)
    except ValueError:
        return None


def _must_from_json(text: str) -> Any:
    try:
        return _from_json(text)
    except json.JSONDecodeError as err:
        if err.pos >= len(text.rstrip()):
            raise FuncError("unexpected end of JSON input") from None
        raise FuncError(
            f"invalid character {text[err.pos]!r} looking for beginning of value"
        ) from None
    except ValueError as err:
        raise FuncError(str(err)) from None


def _type_of(value: Any) -> str:
    return type_name(value)


def _fail(message: str) -> str:
    raise FuncError(message)


DATA_FUNCS: dict[str, Func] = {
    "default": f(default, "any", variadic="any"),
    "empty": f(empty, "any"),
    "coalesce": f(lambda *v: next((x for x in v if not empty(x)), None), variadic="any"),
    "all": f(lambda *v: all(not empty(x) for x in v), variadic="any"),
    "any": f(lambda *v: any(not empty(x) for x in v), variadic="any"),
    "compact": f(lambda v: [x for x in _as_list(v, "compact") if not empty(x)], "any"),
    "mustCompact": f(lambda v: [x for x in _as_list(v, "compact") if not empty(x)], "any"),
    "ternary": f(lambda t, e, cond: t if cond else e, "any", "any", "bool"),
    "fail": f(_fail, "string"),
    "toJson": f(lambda v: _quiet(marshal, v), "any"),
    "mustToJson": f(marshal, "any"),
    "toPrettyJson": f(lambda v: _quiet(marshal, v, True, "  "), "any"),
    "mustToPrettyJson": f(lambda v: marshal(v, True, "  "), "any"),
    "toRawJson": f(lambda v: marshal(v, False), "any"),
    "mustToRawJson": f(lambda v: marshal(v, False), "any"),
    "fromJson": f(_from_json_quiet, "string"),
    "mustFromJson": f(_must_from_json, "string"),
    "atoi": f(atoi, "string"),
    "int": f(to_int64, "any"),
    "int64": f(to_int64, "any"),
    "float64": f(to_float64, "any"),
    "toDecimal": f(to_decimal, "any"),
    "seq": f(seq, variadic="int"),
    "until": f(lambda n: until_step(0, n, -1 if n < 0 else 1), "int"),
    "untilStep": f(until_step, "int", "int", "int"),
    "add1": f(lambda i: to_int64(i) + 1, "any"),
    "add": f(lambda *v: sum(to_int64(x) for x in v), variadic="any"),
    "sub": f(lambda a, b: to_int64(a) - to_int64(b), "any", "any"),
    "div": f(lambda a, b: _trunc_div(to_int64(a), to_int64(b)), "any", "any"),
    "mod": f(lambda a, b: _trunc_mod(to_int64(a), to_int64(b)), "any", "any"),
    "mul": f(
        lambda a, *v: math.prod((to_int64(a), *(to_int64(x) for x in v))), "any", variadic="any"
    ),
    "add1f": f(lambda i: _decimal_op("+", i, (1,)), "any"),
    "addf": f(lambda *v: _decimal_op("+", 0.0, v), variadic="any"),
    "subf": f(lambda a, *v: _decimal_op("-", a, v), "any", variadic="any"),
    "mulf": f(lambda a, *v: _decimal_op("*", a, v), "any", variadic="any"),
    "divf": f(lambda a, *v: _decimal_op("/", a, v), "any", variadic="any"),
    "max": f(lambda a, *v: max([to_int64(a), *(to_int64(x) for x in v)]), "any", variadic="any"),
    "biggest": f(
        lambda a, *v: max([to_int64(a), *(to_int64(x) for x in v)]), "any", variadic="any"
    ),
    "min": f(lambda a, *v: min([to_int64(a), *(to_int64(x) for x in v)]), "any", variadic="any"),
    "maxf": f(
        lambda a, *v: max([to_float64(a), *(to_float64(x) for x in v)]), "any", variadic="any"
    ),
    "minf": f(
        lambda a, *v: min([to_float64(a), *(to_float64(x) for x in v)]), "any", variadic="any"
    ),
    "floor": f(lambda a: float(math.floor(to_float64(a))), "any"),
    "ceil": f(lambda a: float(math.ceil(to_float64(a))), "any"),
    "round": f(round_, "any", "int", variadic="float"),
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
    "typeOf": f(_type_of, "any"),
    "typeIs": f(lambda t, v: t == _type_of(v), "string", "any"),
    "typeIsLike": f(lambda t, v: _type_of(v) in (t, "*" + t), "string", "any"),
    "kindOf": f(_kind, "any"),
    "kindIs": f(lambda k, v: k == _kind(v), "string", "any"),
    "deepEqual": f(_deep_equal, "any", "any"),
}


def _quiet(fn: Any, *args: Any) -> str:
    """Sprig's toJson: an encoding error gives an empty string, not an error."""
    try:
        return str(fn(*args))
    except FuncError:
        return ""
