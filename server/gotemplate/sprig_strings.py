"""Sprig's string, regex, encoding, hash and path functions (Masterminds/sprig v3), with
Sprig's argument order: the string operated on comes last, so `"foobar" | contains "foo"`.

Regular expressions are Go's RE2 syntax run by Python's `re`; the two agree on what
templates use (classes, groups, anchors, `(?i)`), and `$` / `\\z` are mapped to Go's
meaning (end of text).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from typing import Any

from server.gotemplate.errors import FuncError
from server.gotemplate.funcs import Func, f
from server.gotemplate.printing import format_value, go_quote
from server.gotemplate.values import MISSING

MAX_VALUE = 1 << 20  # the largest string or list a function may build (characters or items)


def strval(value: Any) -> str:
    """Sprig's strval: a string as it is, anything else as %v prints it."""
    if isinstance(value, str):
        return value
    return format_value(None if value is MISSING else value)


def strslice(value: Any) -> list[str]:
    """Sprig's strslice: a list's non-nil items as strings; one value as a list of one."""
    if isinstance(value, list | tuple):
        return [strval(v) for v in value if v is not None and v is not MISSING]
    if value is None or value is MISSING:
        return []
    return [strval(value)]


def _check_size(size: int) -> None:
    if size > MAX_VALUE:
        raise FuncError(f"result would be {size} long, more than the limit of {MAX_VALUE}")


def _bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")


def _text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


def repeat(count: int, text: str) -> str:
    if count < 0:
        raise FuncError("strings: negative Repeat count")
    _check_size(count * len(text))
    return text * count


def substr(start: int, end: int, text: str) -> str:
    data = _bytes(text)
    if start < 0:
        return _text(data[:end])
    if end < 0 or end > len(data):
        return _text(data[start:])
    if start > end:
        raise FuncError(f"slice bounds out of range [{start}:{end}]")
    return _text(data[start:end])


def trunc(count: int, text: str) -> str:
    data = _bytes(text)
    if count < 0 and len(data) + count > 0:
        return _text(data[len(data) + count :])
    if count >= 0 and len(data) > count:
        return _text(data[:count])
    return text


def abbrev(width: int, text: str) -> str:
    if width < 4 or len(text) <= width:
        return text
    return text[: width - 3] + "..."


def title(text: str) -> str:
    """strings.Title: upper-case the first letter of each word."""
    out = []
    previous = " "
    for ch in text:
        separator = not (previous.isalnum() or previous == "_")
        out.append(ch.upper() if separator else ch)
        previous = ch
    return "".join(out)


def untitle(text: str) -> str:
    out = []
    previous = " "
    for ch in text:
        out.append(ch.lower() if previous.isspace() else ch)
        previous = ch
    return "".join(out)


def initials(text: str) -> str:
    return "".join(word[0] for word in text.split())


def indent(spaces: int, text: str) -> str:
    _check_size(max(spaces, 0) * (text.count("\n") + 1) + len(text))
    pad = " " * max(spaces, 0)
    return pad + text.replace("\n", "\n" + pad)


def quote(*values: Any) -> str:
    return " ".join(go_quote(strval(v)) for v in values if v is not None)


def squote(*values: Any) -> str:
    return " ".join(f"'{format_value(v)}'" for v in values if v is not None)


def cat(*values: Any) -> str:
    return " ".join(format_value(v) for v in values if v is not None)


def plural(one: str, many: str, count: int) -> str:
    return one if count == 1 else many


def nospace(text: str) -> str:
    return "".join(ch for ch in text if not ch.isspace())


def split(sep: str, text: str) -> dict[str, Any]:
    return {f"_{i}": part for i, part in enumerate(_go_split(text, sep, -1))}


def splitn(sep: str, count: int, text: str) -> dict[str, Any]:
    return {f"_{i}": part for i, part in enumerate(_go_split(text, sep, count))}


def _go_split(text: str, sep: str, count: int) -> list[str]:
    """strings.SplitN: an empty separator splits into characters; count 0 gives nothing."""
    if count == 0:
        return []
    if sep == "":
        chars = list(text)
        if 0 < count < len(chars):
            chars = [*chars[: count - 1], "".join(chars[count - 1 :])]
        return chars
    return text.split(sep, count - 1) if count > 0 else text.split(sep)


def split_list(sep: str, text: str) -> tuple[str, ...]:
    return tuple(_go_split(text, sep, -1))


def join(sep: str, value: Any) -> str:
    return sep.join(strslice(value))


def sort_alpha(value: Any) -> tuple[str, ...]:
    if isinstance(value, list | tuple):
        return tuple(sorted(strslice(value), key=_bytes))
    return (strval(value),)


def trim_all(cutset: str, text: str) -> str:
    return text.strip(cutset) if cutset else text


# encodings and hashes


def _go_b64_error(text: str, alphabet: str) -> str:
    for i, ch in enumerate(text):
        if ch not in alphabet and ch != "=":
            return f"illegal base64 data at input byte {i}"
    return f"illegal base64 data at input byte {len(text.rstrip('='))}"


def b64dec(text: str) -> str:
    try:
        return _text(base64.b64decode(text, validate=True))
    except (binascii.Error, ValueError):
        alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
        return _go_b64_error(text, alphabet)


def b32dec(text: str) -> str:
    try:
        return _text(base64.b32decode(text))
    except (binascii.Error, ValueError):
        return _go_b64_error(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567").replace("base64", "base32")


# paths, as Go's package path treats them


def path_clean(path: str) -> str:
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    cleaned = "/".join(parts)
    return ("/" + cleaned) if rooted else (cleaned or ".")


def path_base(path: str) -> str:
    if not path:
        return "."
    path = path.rstrip("/")
    if not path:
        return "/"
    return path.rsplit("/", 1)[-1]


def path_dir(path: str) -> str:
    head = path[: path.rfind("/") + 1]
    return path_clean(head)


def path_ext(path: str) -> str:
    for i in range(len(path) - 1, -1, -1):
        if path[i] == "/":
            break
        if path[i] == ".":
            return path[i:]
    return ""


def url_parse(text: str) -> dict[str, Any]:
    import urllib.parse

    try:
        url = urllib.parse.urlsplit(text)
        hostname = url.hostname or ""
    except ValueError as err:
        raise FuncError(f"unable to parse url: {err}") from None
    userinfo, _, _ = url.netloc.rpartition("@")
    return {
        "scheme": url.scheme,
        "host": url.netloc.rpartition("@")[2],
        "hostname": hostname,
        "path": urllib.parse.unquote(url.path),
        "query": url.query,
        "opaque": "",
        "fragment": url.fragment,
        "userinfo": userinfo,
    }


def url_join(parts: dict[str, Any]) -> str:
    def get(key: str) -> str:
        value = parts.get(key)
        return value if isinstance(value, str) else ""

    text = f"{get('scheme')}:" if get("scheme") else ""
    if get("host") or get("userinfo"):
        text += "//" + (get("userinfo") + "@" if get("userinfo") else "") + get("host")
    text += get("path")
    text += "?" + get("query") if get("query") else ""
    text += "#" + get("fragment") if get("fragment") else ""
    return text


def _hex(algorithm: str) -> Func:
    return f(lambda s: hashlib.new(algorithm, _bytes(s)).hexdigest(), "string")


STRING_FUNCS: dict[str, Func] = {
    "abbrev": f(abbrev, "int", "string"),
    "trunc": f(trunc, "int", "string"),
    "trim": f(
        lambda s: s.strip(
            " \t\n\r\v\f\x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
            "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
        ),
        "string",
    ),
    "upper": f(str.upper, "string"),
    "lower": f(str.lower, "string"),
    "title": f(title, "string"),
    "untitle": f(untitle, "string"),
    "substr": f(substr, "int", "int", "string"),
    "repeat": f(repeat, "int", "string"),
    "trimall": f(trim_all, "string", "string"),
    "trimAll": f(trim_all, "string", "string"),
    "trimSuffix": f(lambda a, b: b.removesuffix(a), "string", "string"),
    "trimPrefix": f(lambda a, b: b.removeprefix(a), "string", "string"),
    "nospace": f(nospace, "string"),
    "initials": f(initials, "string"),
    "contains": f(lambda sub, s: sub in s, "string", "string"),
    "hasPrefix": f(lambda pre, s: s.startswith(pre), "string", "string"),
    "hasSuffix": f(lambda suf, s: s.endswith(suf), "string", "string"),
    "quote": f(quote, variadic="any"),
    "squote": f(squote, variadic="any"),
    "cat": f(cat, variadic="any"),
    "indent": f(indent, "int", "string"),
    "nindent": f(lambda n, s: "\n" + indent(n, s), "int", "string"),
    "replace": f(lambda old, new, s: s.replace(old, new), "string", "string", "string"),
    "plural": f(plural, "string", "string", "int"),
    "sha1sum": _hex("sha1"),
    "sha256sum": _hex("sha256"),
    "sha512sum": _hex("sha512"),
    "adler32sum": f(lambda s: str(zlib.adler32(_bytes(s))), "string"),
    "toString": f(strval, "any"),
    "split": f(split, "string", "string"),
    "splitList": f(split_list, "string", "string"),
    "splitn": f(splitn, "string", "int", "string"),
    "toStrings": f(lambda v: tuple(strslice(v)), "any"),
    "join": f(join, "string", "any"),
    "sortAlpha": f(sort_alpha, "any"),
    "b64enc": f(lambda s: base64.b64encode(_bytes(s)).decode(), "string"),
    "b64dec": f(b64dec, "string"),
    "b32enc": f(lambda s: base64.b32encode(_bytes(s)).decode(), "string"),
    "b32dec": f(b32dec, "string"),
    "base": f(path_base, "string"),
    "dir": f(path_dir, "string"),
    "clean": f(path_clean, "string"),
    "ext": f(path_ext, "string"),
    "isAbs": f(lambda p: p.startswith("/"), "string"),
    "osBase": f(path_base, "string"),
    "osDir": f(path_dir, "string"),
    "osClean": f(path_clean, "string"),
    "osExt": f(path_ext, "string"),
    "osIsAbs": f(lambda p: p.startswith("/"), "string"),
    "urlParse": f(url_parse, "string"),
    "urlJoin": f(url_join, "map"),
}
