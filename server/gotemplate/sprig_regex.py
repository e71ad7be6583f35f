"""Sprig's regex functions over Go's RE2 syntax, run by Python's `re`: the two agree on what
templates use (classes, groups, anchors, `(?i)`); `$` and `\\z` are mapped to Go's meaning
(the end of the text), and a replacement's `$1` / `${name}` expand as Go's Expand does.
`regexMatch` with a pattern that does not compile is false, as Sprig's is; the others fail.
"""

from __future__ import annotations

import re

from server.gotemplate.errors import FuncError
from server.gotemplate.funcs import Func, f


def compile_go(pattern: str) -> re.Pattern[str]:
    """A Go RE2 pattern for Python's `re`: `$` and `\\z` mean the end of the text."""
    out = []
    i = 0
    in_class = False
    multiline = bool(re.match(r"\(\?[a-zA-Z]*m", pattern))
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\" and i + 1 < len(pattern):
            pair = pattern[i : i + 2]
            out.append(r"\Z" if pair == r"\z" and not in_class else pair)
            i += 2
            continue
        if in_class:
            in_class = ch != "]"
        elif ch == "[":
            in_class = True
            if pattern[i + 1 : i + 2] == "^":
                out.append("[^")
                i += 2
                if pattern[i : i + 1] == "]":
                    out.append(r"\]")
                    i += 1
                continue
            if pattern[i + 1 : i + 2] == "]":
                out.append(r"[\]")
                i += 2
                continue
        elif ch == "$" and not multiline:
            out.append(r"\Z")
            i += 1
            continue
        out.append(ch)
        i += 1
    try:
        return re.compile("".join(out))
    except re.error as err:
        raise FuncError(f"error parsing regexp: {err}: `{pattern}`") from None


def regex_match(pattern: str, text: str) -> bool:
    """Sprig's regexMatch: a pattern that does not compile matches nothing."""
    try:
        return compile_go(pattern).search(text) is not None
    except FuncError:
        return False


def must_regex_match(pattern: str, text: str) -> bool:
    return compile_go(pattern).search(text) is not None


def regex_find(pattern: str, text: str) -> str:
    match = compile_go(pattern).search(text)
    return match.group(0) if match else ""


def regex_find_all(pattern: str, text: str, count: int) -> tuple[str, ...]:
    if count == 0:
        return ()
    found = [m.group(0) for m in compile_go(pattern).finditer(text)]
    return tuple(found if count < 0 else found[:count])


def _expand(template: str, match: re.Match[str]) -> str:
    """Go's Regexp.Expand: $1, ${1}, $name, ${name}; $$ is a dollar."""
    out = []
    i = 0
    while i < len(template):
        ch = template[i]
        if ch != "$" or i + 1 >= len(template):
            out.append(ch)
            i += 1
            continue
        if template[i + 1] == "$":
            out.append("$")
            i += 2
            continue
        braced = template[i + 1] == "{"
        found = re.match(r"\{(\w+)\}" if braced else r"(\w+)", template[i + 1 :])
        if found is None:
            out.append("$")
            i += 1
            continue
        name = found.group(1)
        i += 1 + found.end()
        try:
            group = match.group(int(name) if name.isdigit() else name)
        except IndexError:
            group = None
        out.append(group or "")
    return "".join(out)


def regex_replace_all(pattern: str, text: str, replacement: str) -> str:
    return compile_go(pattern).sub(lambda m: _expand(replacement, m), text)


def regex_replace_all_literal(pattern: str, text: str, replacement: str) -> str:
    return compile_go(pattern).sub(lambda m: replacement, text)


def regex_split(pattern: str, text: str, count: int) -> tuple[str, ...]:
    if count == 0:
        return ()
    regex = compile_go(pattern)
    if pattern and not text:
        return ("",)
    parts: list[str] = []
    begin = 0
    for match in regex.finditer(text):
        if 0 < count <= len(parts) + 1:
            break
        end = match.start()
        if match.end() == 0:
            continue
        parts.append(text[begin:end])
        begin = match.end()
    parts.append(text[begin:])
    return tuple(parts)


def regex_quote_meta(text: str) -> str:
    return "".join("\\" + ch if ch in "\\.+*?()|[]{}^$" else ch for ch in text)


REGEX_FUNCS: dict[str, Func] = {
    "regexMatch": f(regex_match, "string", "string"),
    "mustRegexMatch": f(must_regex_match, "string", "string"),
    "regexFind": f(regex_find, "string", "string"),
    "mustRegexFind": f(regex_find, "string", "string"),
    "regexFindAll": f(regex_find_all, "string", "string", "int"),
    "mustRegexFindAll": f(regex_find_all, "string", "string", "int"),
    "regexReplaceAll": f(regex_replace_all, "string", "string", "string"),
    "mustRegexReplaceAll": f(regex_replace_all, "string", "string", "string"),
    "regexReplaceAllLiteral": f(regex_replace_all_literal, "string", "string", "string"),
    "mustRegexReplaceAllLiteral": f(regex_replace_all_literal, "string", "string", "string"),
    "regexSplit": f(regex_split, "string", "string", "int"),
    "mustRegexSplit": f(regex_split, "string", "string", "int"),
    "regexQuoteMeta": f(regex_quote_meta, "string"),
}
