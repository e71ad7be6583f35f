"""encoding/json's Marshal for template values: map keys sorted, `<>&` escaped as \\u003c…
(unless `escape_html=False`, as toRawJson), structs by their json tags with omitempty,
floats as Go writes them (1e+21 and up, below 1e-6: exponent form)."""

from __future__ import annotations

import math
from decimal import Decimal
from typing import Any

from server.gotemplate.errors import FuncError
from server.gotemplate.values import MISSING, Nil, Struct

MAX_NODES = 200_000  # values visited while encoding: a list that holds itself twice, doubled


def _float(value: float) -> str:
    if math.isnan(value) or math.isinf(value):
        raise FuncError(
            f"json: unsupported value: {value!r}".replace("inf", "+Inf").replace("nan", "NaN")
        )
    if value == 0:
        return "-0" if math.copysign(1, value) < 0 else "0"
    magnitude = abs(value)
    if magnitude < 1e-6 or magnitude >= 1e21:
        sign, digit_tuple, exp = Decimal(repr(value)).normalize().as_tuple()
        assert isinstance(exp, int)
        digits = "".join(map(str, digit_tuple))
        power = len(digits) - 1 + exp
        mantissa = ("-" if sign else "") + digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{mantissa}e{'-' if power < 0 else '+'}{abs(power)}"
    text = format(Decimal(repr(value)), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


_ESCAPE = {
    '"': '\\"',
    "\\": "\\\\",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\b": "\\u0008",
    "\f": "\\u000c",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"}


def _string(text: str, escape_html: bool) -> str:
    out = ['"']
    for ch in text:
        if ch in _ESCAPE:
            out.append(_ESCAPE[ch])
        elif escape_html and ch in _HTML:
            out.append(_HTML[ch])
        elif ord(ch) < 0x20:
            out.append(f"\\u{ord(ch):04x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            out.append("\\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def _empty(value: Any) -> bool:
    """omitempty: false, 0, "", nil, and empty slices and maps."""
    if value is None or value is MISSING or isinstance(value, Nil):
        return True
    if isinstance(value, bool | int | float):
        return not value
    if isinstance(value, str | list | tuple | dict):
        return len(value) == 0
    return False


def struct_items(value: Struct) -> list[tuple[str, Any]]:
    """A struct's fields as encoding/json writes them: json names, omitempty applied,
    `json:"-"` skipped."""
    items = []
    for name, field_value in value.fields.items():
        tag = value.json.get(name, name)
        key, _, options = tag.partition(",")
        if key == "-" and not options:
            continue
        if "omitempty" in options.split(",") and _empty(field_value):
            continue
        items.append((key or name, field_value))
    return items


class _Encoder:
    def __init__(self, escape_html: bool, indent: str) -> None:
        self.escape_html = escape_html
        self.indent = indent
        self.visited = 0

    def encode(self, value: Any, depth: int = 0) -> str:
        self.visited += 1
        if self.visited > MAX_NODES:
            raise FuncError(f"json: value has more than {MAX_NODES} parts")
        if value is None or value is MISSING or isinstance(value, Nil):
            return "null"
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return _float(value)
        if isinstance(value, str):
            return _string(value, self.escape_html)
        if isinstance(value, list | tuple):
            return self.join("[", "]", [self.encode(v, depth + 1) for v in value], depth)
        if isinstance(value, dict):
            keys = sorted(value, key=lambda k: str(k).encode("utf-8", "surrogatepass"))
            members = [
                f"{_string(str(k), self.escape_html)}:{self.sep}{self.encode(value[k], depth + 1)}"
                for k in keys
            ]
            return self.join("{", "}", members, depth)
        if isinstance(value, Struct):
            members = [
                f"{_string(k, self.escape_html)}:{self.sep}{self.encode(v, depth + 1)}"
                for k, v in struct_items(value)
            ]
            return self.join("{", "}", members, depth)
        raise FuncError(f"json: unsupported type: {type(value).__name__}")

    @property
    def sep(self) -> str:
        return " " if self.indent else ""

    def join(self, left: str, right: str, members: list[str], depth: int) -> str:
        if not members:
            return left + right
        if not self.indent:
            return left + ",".join(members) + right
        inner = "\n" + self.indent * (depth + 1)
        return left + inner + ("," + inner).join(members) + "\n" + self.indent * depth + right


def marshal(value: Any, escape_html: bool = True, indent: str = "") -> str:
    return _Encoder(escape_html, indent).encode(value)


def to_plain(value: Any) -> Any:
    """The value as encoding/json would decode its own output: structs become maps under
    their json names (omitempty applied), typed nils null."""
    counter = [0]

    def walk(v: Any) -> Any:
        counter[0] += 1
        if counter[0] > MAX_NODES:
            raise FuncError(f"value has more than {MAX_NODES} parts")
        if v is MISSING or isinstance(v, Nil):
            return None
        if isinstance(v, Struct):
            return {k: walk(x) for k, x in struct_items(v)}
        if isinstance(v, dict):
            return {str(k): walk(x) for k, x in v.items()}
        if isinstance(v, list | tuple):
            return [walk(x) for x in v]
        return v

    return walk(value)
