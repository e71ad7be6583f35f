"""Go's literals in templates: numbers (strconv's base-0 rules, Go's "integer overflow"),
character constants, and strconv.Unquote's string escapes."""

from __future__ import annotations

import ast
import re

from server.gotemplate import nodes as n
from server.gotemplate.lexer import Kind, Token
from server.gotemplate.printing import go_quote

_OCTAL = re.compile(r"[+-]?0[0-7_]+")


def number(token: Token) -> n.Number:
    text = token.text
    if token.kind is Kind.CHAR:
        try:
            char = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            char = None
        if not isinstance(char, str) or len(char) != 1:
            raise ValueError(f"malformed character constant: {text}")
        return n.Number(token.pos, text, ord(char), float(ord(char)), is_char=True)
    int_value: int | None = None
    float_value: float | None = None
    try:
        if _OCTAL.fullmatch(text):
            int_value = int(
                text.replace("0", "0o", 1) if text[0] == "0" else text[0] + "0o" + text[2:], 0
            )
        else:
            int_value = int(text, 0)
    except ValueError:
        pass
    if int_value is not None:
        if not -(2**63) <= int_value < 2**64:
            raise ValueError(f"integer overflow: {go_quote(text)}")
        float_value = float(int_value)
    else:
        try:
            lowered = text.lower().lstrip("+-")
            sign = -1.0 if text.startswith("-") else 1.0
            float_value = sign * (
                float.fromhex(lowered) if lowered.startswith("0x") else float(lowered)
            )
        except ValueError:
            raise ValueError(f"illegal number syntax: {go_quote(text)}") from None
        if not any(c in text for c in ".eEpP"):  # an integer that fits no int64
            raise ValueError(f"integer overflow: {go_quote(text)}")
        if float_value.is_integer() and abs(float_value) < 2**63:
            int_value = int(float_value)
    return n.Number(token.pos, text, int_value, float_value)


def unquote(token: Token) -> str:
    """A string token's value; a bad escape raises ValueError."""
    if token.kind is Kind.RAW_STRING:
        return token.text[1:-1].replace("\r", "")
    body = token.text[1:-1]
    if "\\" not in body:
        return body
    try:
        return _go_unescape(body)
    except ValueError as err:
        raise ValueError(f"invalid syntax in string {token.text}: {err}") from None


_SIMPLE = {
    "a": "\a",
    "b": "\b",
    "f": "\f",
    "n": "\n",
    "r": "\r",
    "t": "\t",
    "v": "\v",
    "\\": "\\",
    '"': '"',
}


def _go_unescape(body: str) -> str:
    """strconv.Unquote's escapes: the one-letter ones, \\xHH, \\NNN, \\uHHHH, \\UHHHHHHHH."""
    out: list[str] = []
    i = 0
    raw = bytearray()

    def flush() -> None:
        if raw:
            out.append(raw.decode("utf-8", "replace"))
            raw.clear()

    while i < len(body):
        ch = body[i]
        if ch != "\\":
            flush()
            out.append(ch)
            i += 1
            continue
        code = body[i + 1 : i + 2]
        if code in _SIMPLE:
            flush()
            out.append(_SIMPLE[code])
            i += 2
        elif code == "x":
            digits = body[i + 2 : i + 4]
            if len(digits) != 2 or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError("bad \\x escape")
            raw.append(int(digits, 16))
            i += 4
        elif code in ("u", "U"):
            size = 4 if code == "u" else 8
            digits = body[i + 2 : i + 2 + size]
            if len(digits) != size or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ValueError(f"bad \\{code} escape")
            value = int(digits, 16)
            if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
                raise ValueError(f"\\{code}{digits} is not a valid character")
            flush()
            out.append(chr(value))
            i += 2 + size
        elif code in tuple("01234567"):
            digits = body[i + 1 : i + 4]
            if len(digits) != 3 or not all(c in "01234567" for c in digits) or int(digits, 8) > 255:
                raise ValueError("bad octal escape")
            raw.append(int(digits, 8))
            i += 4
        else:
            raise ValueError(f"unknown escape \\{code}")
    flush()
    return "".join(out)
