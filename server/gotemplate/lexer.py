"""Go text/template's lexer: text, `{{ }}` actions, `{{- -}}` trimming, comments.

The rules are text/template/parse/lex.go's: a trim marker is `{{- ` / ` -}}` (the space is
required, so `{{-3}}` is the number -3); a comment is `{{/* … */}}` directly inside the
delimiters; actions may span lines; words end at a space, `.`, `,`, `|`, `:`, `(`, `)` or
the closing delimiter.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from server.gotemplate.printing import go_quote


class Kind(enum.Enum):
    TEXT = "text"
    LEFT = "{{"
    RIGHT = "}}"
    SPACE = "space"
    COMMENT = "comment"
    FIELD = "field"  # .Name
    VARIABLE = "variable"  # $name or $
    IDENTIFIER = "identifier"  # a function name
    DOT = "."
    STRING = "string"  # "quoted"
    RAW_STRING = "raw string"  # `raw`
    CHAR = "char constant"  # 'x'
    NUMBER = "number"
    BOOL = "bool"
    NIL = "nil"
    DECLARE = ":="
    ASSIGN = "="
    PIPE = "|"
    LEFT_PAREN = "("
    RIGHT_PAREN = ")"
    PUNCT = "character"  # any other printable ASCII, e.g. the "," of `$i, $e :=`
    KEYWORD = "keyword"
    ERROR = "error"  # a lexical error: the parser raises it when it gets there, as Go's does
    EOF = "EOF"


KEYWORDS = frozenset(
    {"block", "break", "continue", "define", "else", "end", "if", "range", "template", "with"}
)
SPACES = " \t\r\n"
TERMINATORS = frozenset(" \t\r\n.,|:()")


@dataclass(frozen=True)
class Token:
    kind: Kind
    text: str
    pos: int  # offset of the token's first character in the template

    def describe(self) -> str:
        if self.kind is Kind.EOF:
            return "EOF"
        if self.kind in (Kind.KEYWORD, Kind.TEXT, Kind.SPACE):
            return f"<{self.text}>" if self.kind is Kind.KEYWORD else repr(self.text)
        return '"' + self.text.replace('"', '\\"') + '"'


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0
        self.tokens: list[Token] = []

    def fail(self, message: str, offset: int | None = None) -> _LexError:
        return _LexError(message, self.pos if offset is None else offset)

    def emit(self, kind: Kind, start: int, end: int) -> None:
        self.tokens.append(Token(kind, self.text[start:end], start))

    def at_right(self, at: int) -> tuple[bool, bool]:
        """(a closing delimiter is at `at`, it carries the trim marker)."""
        text = self.text
        if text[at : at + 1] in tuple(SPACES) and text.startswith("-}}", at + 1) and at < len(text):
            return True, True
        return text.startswith("}}", at), False

    def run(self) -> list[Token]:
        text = self.text
        while True:
            left = text.find("{{", self.pos)
            if left < 0:
                if self.pos < len(text):
                    self.emit(Kind.TEXT, self.pos, len(text))
                self.tokens.append(Token(Kind.EOF, "", len(text)))
                return self.tokens
            trim = text[left + 2 : left + 3] == "-" and text[left + 3 : left + 4] in tuple(SPACES)
            end = left
            if trim:
                end = len(text[self.pos : left].rstrip(SPACES)) + self.pos
            if end > self.pos:
                self.emit(Kind.TEXT, self.pos, end)
            self.pos = left + 2 + (2 if trim else 0)
            if text.startswith("/*", self.pos):
                self.comment(left)
            else:
                self.tokens.append(Token(Kind.LEFT, "{{", left))
                self.inside_action()

    def comment(self, left: int) -> None:
        close = self.text.find("*/", self.pos + 2)
        if close < 0:
            raise self.fail("unclosed comment", left)
        self.emit(Kind.COMMENT, self.pos, close + 2)
        self.pos = close + 2
        delim, trim = self.at_right(self.pos)
        if not delim:
            raise self.fail("comment ends before closing delimiter", left)
        self.close(trim)

    def close(self, trim: bool) -> None:
        """Step over `}}` (or ` -}}`) and, if trimming, the whitespace after it."""
        self.pos += 4 if trim else 2
        if trim:
            rest = self.text[self.pos :]
            self.pos += len(rest) - len(rest.lstrip(SPACES))

    def inside_action(self) -> None:
        text = self.text
        depth = 0
        while True:
            delim, trim = self.at_right(self.pos)
            if delim:
                if depth:
                    raise self.fail("unclosed left paren")
                self.tokens.append(Token(Kind.RIGHT, "}}", self.pos + (2 if trim else 0)))
                self.close(trim)
                return
            if self.pos >= len(text):
                raise self.fail("unclosed action")
            start = self.pos
            ch = text[start]
            if ch in SPACES:
                end = start
                while end < len(text) and text[end] in SPACES:
                    end += 1
                # ` -}}`: the last space belongs to the trim marker
                if text.startswith("-}}", end) and end - start >= 1:
                    end -= 1
                    if end == start:
                        continue
                self.emit(Kind.SPACE, start, end)
                self.pos = end
                continue
            if ch == "=":
                self.emit_one(Kind.ASSIGN, 1)
            elif ch == ":":
                if text[start + 1 : start + 2] != "=":
                    raise self.fail("expected :=")
                self.emit_one(Kind.DECLARE, 2)
            elif ch == "|":
                self.emit_one(Kind.PIPE, 1)
            elif ch == '"':
                self.quoted()
            elif ch == "`":
                close = text.find("`", start + 1)
                if close < 0:
                    raise self.fail("unterminated raw quoted string")
                self.emit_one(Kind.RAW_STRING, close + 1 - start)
            elif ch == "'":
                self.char()
            elif ch == "$":
                self.word(Kind.VARIABLE, start + 1)
            elif ch == "." and not text[start + 1 : start + 2].isdigit():
                self.word(Kind.FIELD, start + 1)
            elif ch in "+-." or ch.isdigit():
                self.number()
            elif ch == "_" or ch.isalnum():
                self.identifier()
            elif ch == "(":
                depth += 1
                self.emit_one(Kind.LEFT_PAREN, 1)
            elif ch == ")":
                depth -= 1
                self.emit_one(Kind.RIGHT_PAREN, 1)
                if depth < 0:
                    raise self.fail("unexpected right paren U+0029 ')'", start)
            elif ord(ch) < 0x80 and ch.isprintable():
                self.emit_one(Kind.PUNCT, 1)
            else:
                raise self.fail(f"unrecognized character in action: U+{ord(ch):04X} {ch!r}")

    def emit_one(self, kind: Kind, length: int) -> None:
        self.emit(kind, self.pos, self.pos + length)
        self.pos += length

    def at_terminator(self, at: int) -> bool:
        return (
            at >= len(self.text) or self.text[at] in TERMINATORS or self.text.startswith("}}", at)
        )

    def scan_word(self, at: int) -> int:
        text = self.text
        while at < len(text) and (text[at] == "_" or text[at].isalnum()):
            at += 1
        if not self.at_terminator(at):
            bad = text[at]
            raise self.fail(f"bad character U+{ord(bad):04X} {bad!r}", at)
        return at

    def word(self, kind: Kind, after_sigil: int) -> None:
        if self.at_terminator(after_sigil):  # a bare "." or "$"
            self.emit(Kind.DOT if kind is Kind.FIELD else kind, self.pos, after_sigil)
            self.pos = after_sigil
            return
        end = self.scan_word(after_sigil)
        self.emit(kind, self.pos, end)
        self.pos = end

    def identifier(self) -> None:
        end = self.scan_word(self.pos)
        word = self.text[self.pos : end]
        if word in KEYWORDS:
            kind = Kind.KEYWORD
        elif word in ("true", "false"):
            kind = Kind.BOOL
        elif word == "nil":
            kind = Kind.NIL
        else:
            kind = Kind.IDENTIFIER
        self.emit(kind, self.pos, end)
        self.pos = end

    def quoted(self) -> None:
        text = self.text
        at = self.pos + 1
        while True:
            if at >= len(text) or text[at] == "\n":
                raise self.fail("unterminated quoted string")
            if text[at] == "\\":
                at += 2
                continue
            if text[at] == '"':
                break
            at += 1
        self.emit_one(Kind.STRING, at + 1 - self.pos)

    def char(self) -> None:
        text = self.text
        at = self.pos + 1
        while True:
            if at >= len(text) or text[at] == "\n":
                raise self.fail("unterminated character constant")
            if text[at] == "\\":
                at += 2
                continue
            if text[at] == "'":
                break
            at += 1
        self.emit_one(Kind.CHAR, at + 1 - self.pos)

    def number(self) -> None:
        text = self.text
        at = self.pos
        if text[at] in "+-":
            at += 1
        digits = "0123456789_"
        if text.startswith(("0x", "0X"), at):
            at, digits = at + 2, "0123456789abcdefABCDEF_"
        elif text.startswith(("0o", "0O"), at):
            at, digits = at + 2, "01234567_"
        elif text.startswith(("0b", "0B"), at):
            at, digits = at + 2, "01_"
        while at < len(text) and text[at] in digits:
            at += 1
        if text[at : at + 1] == ".":
            at += 1
            while at < len(text) and text[at] in digits:
                at += 1
        exponent = "eE" if len(digits) == 11 else "pP" if len(digits) > 11 else ""
        if exponent and text[at : at + 1] in tuple(exponent):
            at += 1
            if text[at : at + 1] in ("+", "-"):
                at += 1
            while at < len(text) and text[at] in "0123456789_":
                at += 1
        if text[at : at + 1] == "i":
            raise self.fail("complex numbers are not supported", self.pos)
        if at < len(text) and (text[at] == "_" or text[at].isalnum()):
            raise self.fail(f"bad number syntax: {go_quote(text[self.pos : at + 1])}")
        self.emit_one(Kind.NUMBER, at - self.pos)


class _LexError(Exception):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def lex(text: str) -> list[Token]:
    """The template's tokens, ending with EOF, or with an ERROR token (its text the message)
    where a lexical error stopped the lexer."""
    lexer = _Lexer(text)
    try:
        return lexer.run()
    except _LexError as err:
        return [*lexer.tokens, Token(Kind.ERROR, str(err), err.offset)]
