"""Go's fmt for the values templates print: `%v` and the verbs printf is used with.

`sprint` is fmt.Sprint (a space between two operands when neither is a string), `sprintf`
is fmt.Sprintf for the verbs %v %+v %s %q %d %x %X %o %b %c %U %t %f %F %e %E %g %G %%,
with flags, width, precision, `*` and `[n]` argument indexes, and Go's `%!verb(type=value)`
/ `%!d(MISSING)` / `%!(EXTRA …)` for a wrong verb, a missing or an extra argument.
"""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

from server.gotemplate.values import MISSING, Nil, Struct, is_int, type_name


def go_quote(text: str, ascii_only: bool = False) -> str:
    """strconv.Quote: a double-quoted Go string literal."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable() and (code < 0x80 or not ascii_only):
            out.append(ch)
        elif ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif 0xD800 <= code <= 0xDFFF:  # not a valid rune: Go writes U+FFFD's escape
            out.append("\\ufffd")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def _shortest(value: float) -> tuple[str, int]:
    """The shortest digits that read back as `value` (positive, finite, non-zero), and the
    position of the decimal point relative to them."""
    digits_tuple, exponent = Decimal(repr(value)).as_tuple()[1:]
    assert isinstance(exponent, int)
    digits = "".join(map(str, digits_tuple))
    point = len(digits) + exponent
    digits = digits.rstrip("0") or "0"
    return digits, point


def format_float(value: float) -> str:
    """%v of a float64: strconv's 'g' with the shortest digits; %e from exponent 6, or below -4."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    if value == 0:
        return sign + "0"
    digits, point = _shortest(abs(value))
    exponent = point - 1
    if exponent < -4 or exponent >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if point <= 0:
        return f"{sign}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return sign + digits + "0" * (point - len(digits))
    return f"{sign}{digits[:point]}.{digits[point:]}"


def format_value(value: Any, plus: bool = False) -> str:
    """%v (and %+v, which names struct fields)."""
    if value is None or value is MISSING or isinstance(value, Nil):
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float(value)
    if isinstance(value, str):
        return value
    if isinstance(value, list | tuple):
        return "[" + " ".join(format_value(v, plus) for v in value) + "]"
    if isinstance(value, dict):
        items = (
            f"{format_value(k, plus)}:{format_value(value[k], plus)}" for k in sort_keys(value)
        )
        return "map[" + " ".join(items) + "]"
    if isinstance(value, Struct):
        if plus:
            return (
                "{"
                + " ".join(f"{k}:{format_value(v, plus)}" for k, v in value.fields.items())
                + "}"
            )
        return "{" + " ".join(format_value(v) for v in value.fields.values()) + "}"
    return str(value)


def sort_keys(mapping: dict[Any, Any]) -> list[Any]:
    """The order Go's fmt and range use: numbers by value, strings by bytes."""
    return sorted(
        mapping, key=lambda k: (0, k, "") if isinstance(k, int | float) else (1, 0, str(k))
    )


def sprint(args: list[Any]) -> str:
    """fmt.Sprint: a space between operands when neither is a string."""
    out: list[str] = []
    for i, arg in enumerate(args):
        if i > 0 and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(format_value(arg))
    return "".join(out)


def sprintln(args: list[Any]) -> str:
    return " ".join(format_value(a) for a in args) + "\n"


_VERB = re.compile(r"%([-+# 0]*)(\[\d+\])?(\*|\d+)?(?:\.(\[\d+\])?(\*|\d+)?)?(\[\d+\])?(.)?", re.S)


def sprintf(template: str, args: list[Any]) -> str:
    """fmt.Sprintf."""
    out: list[str] = []
    next_arg = 0
    reordered = False
    pos = 0
    while True:
        pct = template.find("%", pos)
        if pct < 0:
            out.append(template[pos:])
            break
        out.append(template[pos:pct])
        match = _VERB.match(template, pct)
        assert match is not None
        flags, idx_w, width, idx_p, prec, idx_v, verb = match.groups()
        pos = match.end()
        if idx_w and width != "*" and idx_v is None:  # %[2]d: the index is the verb's
            idx_v, idx_w = idx_w, None
        if verb is None:
            out.append("%!(NOVERB)")
            break
        if verb == "%":
            out.append("%")
            continue

        def take(index: str | None) -> tuple[bool, Any]:
            nonlocal next_arg, reordered
            if index is not None:
                reordered = True
                next_arg = int(index[1:-1]) - 1
            if 0 <= next_arg < len(args):
                next_arg += 1
                return True, args[next_arg - 1]
            next_arg += 1
            return False, None

        width_n = prec_n = None
        if width == "*" or (width is None and idx_w):
            ok, w = take(idx_w)
            if not ok or not is_int(w):
                out.append("%!(BADWIDTH)")
            else:
                width_n = w
                if w < 0:
                    flags += "-"
                    width_n = -w
        elif width:
            width_n = int(width)
        if prec == "*" or (prec is None and idx_p):
            ok, p = take(idx_p)
            if not ok or not is_int(p) or p < 0:
                out.append("%!(BADPREC)")
            else:
                prec_n = p
        elif prec is not None:
            prec_n = int(prec)
        elif match.group(0).find(".") >= 0 and verb != ".":
            prec_n = 0
        ok, arg = take(idx_v)
        if not ok:
            out.append(f"%!{verb}(BADINDEX)" if idx_v else f"%!{verb}(MISSING)")
            continue
        out.append(_pad(format_verb(arg, verb, flags, prec_n), width_n, flags, arg, verb))
    if not reordered and next_arg < len(args):
        extra = ", ".join(
            "<nil>" if a is None or a is MISSING else f"{type_name(a)}={format_value(a)}"
            for a in args[next_arg:]
        )
        out.append(f"%!(EXTRA {extra})")
    return "".join(out)


def _pad(text: str, width: int | None, flags: str, arg: Any, verb: str) -> str:
    if width is None or len(text) >= width:
        return text
    if "-" in flags:
        return text + " " * (width - len(text))
    numeric = isinstance(arg, int | float) and not isinstance(arg, bool) and verb in "dxXobeEfFgGv"
    if "0" in flags and numeric and text[:1] in "+- ":
        return text[0] + "0" * (width - len(text)) + text[1:]
    if "0" in flags and (numeric or isinstance(arg, str)):
        return "0" * (width - len(text)) + text
    return " " * (width - len(text)) + text


def _bad(verb: str, arg: Any) -> str:
    if arg is None or arg is MISSING:
        return f"%!{verb}(<nil>)"
    return f"%!{verb}({type_name(arg)}={format_value(arg)})"


def _sign(text: str, value: float, flags: str) -> str:
    if value >= 0 and not text.startswith("-"):
        if "+" in flags:
            return "+" + text
        if " " in flags:
            return " " + text
    return text


def format_verb(arg: Any, verb: str, flags: str = "", prec: int | None = None) -> str:
    """One argument under one verb, without width padding."""
    if verb == "v":
        if isinstance(arg, float):
            return _sign(format_float(arg), arg, flags)
        if is_int(arg):
            return _sign(str(arg), arg, flags)
        if isinstance(arg, str) and "#" in flags:
            return go_quote(arg)
        return format_value(arg, plus="+" in flags)
    if verb == "T":
        return type_name(arg)
    if isinstance(arg, list | tuple):
        return "[" + " ".join(format_verb(a, verb, flags, prec) for a in arg) + "]"
    if isinstance(arg, dict):
        items = (
            f"{format_verb(k, verb, flags, prec)}:{format_verb(arg[k], verb, flags, prec)}"
            for k in sort_keys(arg)
        )
        return "map[" + " ".join(items) + "]"
    if isinstance(arg, Struct):
        return "{" + " ".join(format_verb(v, verb, flags, prec) for v in arg.fields.values()) + "}"
    if isinstance(arg, bool):
        return ("true" if arg else "false") if verb == "t" else _bad(verb, arg)
    if isinstance(arg, int):
        return _format_int(arg, verb, flags, prec)
    if isinstance(arg, float):
        return _format_float_verb(arg, verb, flags, prec)
    if isinstance(arg, str):
        return _format_string(arg, verb, flags, prec)
    return _bad(verb, arg)


def _format_int(value: int, verb: str, flags: str, prec: int | None) -> str:
    bases = {"d": "d", "x": "x", "X": "X", "o": "o", "b": "b"}
    if verb in bases:
        text = format(abs(value), bases[verb])
        if prec is not None:
            text = text.rjust(prec, "0") if prec or value else ""
        if "#" in flags:
            text = {"x": "0x", "X": "0X", "o": "0", "b": ""}.get(verb, "") + text
        return _sign(("-" if value < 0 else "") + text, value, flags)
    if verb == "c":
        return chr(value) if 0 <= value <= 0x10FFFF else "\ufffd"
    if verb == "q":
        char = chr(value) if 0 <= value <= 0x10FFFF else "\ufffd"
        return "'" + go_quote(char)[1:-1].replace('\\"', '"').replace("'", "\\'") + "'"
    if verb == "U":
        return f"U+{value:04X}"
    if verb in "eEfFgG":
        return _bad(verb, value)
    return _bad(verb, value)


def _format_float_verb(value: float, verb: str, flags: str, prec: int | None) -> str:
    if verb not in "eEfFgG":
        return _bad(verb, value)
    if math.isinf(value) or math.isnan(value):
        return (
            _sign(format_float(value).lstrip("+"), value, flags)
            if value > 0
            else format_float(value)
        )
    if verb in "gG" and prec is None:
        text = format_float(value)
        return _sign(text.upper() if verb == "G" else text, value, flags)
    spec = f".{6 if prec is None else prec}{verb.lower() if verb == 'F' else verb}"
    return _sign(format(value, spec), value, flags)


def _format_string(value: str, verb: str, flags: str, prec: int | None) -> str:
    if prec is not None and verb in "sqxX":
        value = value[:prec]
    if verb == "s":
        return value
    if verb == "q":
        if "#" in flags and "`" not in value and value.isprintable():
            return f"`{value}`"
        return go_quote(value, ascii_only="+" in flags)
    if verb in "xX":
        hexed = value.encode("utf-8", "surrogatepass").hex()
        return hexed.upper() if verb == "X" else hexed
    return _bad(verb, value)
