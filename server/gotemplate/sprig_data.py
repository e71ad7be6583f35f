"""Sprig's default, list, dict, number, conversion, JSON and reflection functions.

Numbers follow spf13/cast as Sprig uses it: `int "0x10"` is 16, `int "08"` is 0 (not a
number in base 0), `int 3.9` is 3; integer math is int64 and truncates toward zero.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal, InvalidOperation
from typing import Any

from server.gotemplate.errors import FuncError
from server.gotemplate.funcs import Func, f
from server.gotemplate.gojson import marshal
from server.gotemplate.printing import format_value
from server.gotemplate.sprig_strings import MAX_VALUE
from server.gotemplate.values import MISSING, Nil, Struct, is_int


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


def _fail(message: str) -> str:
    raise FuncError(message)


DATA_FUNCS: dict[str, Func] = {
    "default": f(default, "any", variadic="any"),
    "empty": f(empty, "any"),
    "coalesce": f(lambda *v: next((x for x in v if not empty(x)), None), variadic="any"),
    "all": f(lambda *v: all(not empty(x) for x in v), variadic="any"),
    "any": f(lambda *v: any(not empty(x) for x in v), variadic="any"),
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
}


def _quiet(fn: Any, *args: Any) -> str:
    """Sprig's toJson: an encoding error gives an empty string, not an error."""
    try:
        return str(fn(*args))
    except FuncError:
        return ""
