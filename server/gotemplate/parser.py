"""Go text/template's parser: tokens → a tree, checked as Go checks it at Parse time.

Parse-time errors, as Go reports them: an undefined variable, a function not defined, an
unexpected token, `{{end}}`/`{{else}}` out of place, `{{break}}` outside `{{range}}`, a
non-executable command after `|`, an unclosed `{{if}}` ("unexpected EOF").
`{{define}}`, `{{template}}` and `{{block}}` are parsed into a table of named templates.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, field

from server.gotemplate import nodes as n
from server.gotemplate.errors import TemplateError, position
from server.gotemplate.lexer import Kind, Token, lex
from server.gotemplate.literals import number, unquote
from server.gotemplate.printing import go_quote


@dataclass
class Parsed:
    """A parsed template: its body and the templates it defines, by name."""

    text: str
    root: n.ListNode
    defines: dict[str, n.ListNode] = field(default_factory=dict)


class _End(n.Node):
    pass


class _Else(n.Node):
    pass


class _Parser:
    def __init__(self, text: str, functions: Container[str]) -> None:
        self.text = text
        self.tokens = lex(text)
        self.at = 0
        self.functions = functions
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.defines: dict[str, n.ListNode] = {}

    # token stream

    def peek(self) -> Token:
        token = self.tokens[self.at]
        if token.kind is Kind.ERROR:
            raise self.fail(token.text, token.pos)
        return token

    def next(self) -> Token:
        token = self.peek()
        if token.kind is not Kind.EOF:
            self.at += 1
        return token

    def peek_non_space(self) -> Token:
        while self.peek().kind is Kind.SPACE:
            self.at += 1
        return self.peek()

    def next_non_space(self) -> Token:
        self.peek_non_space()
        return self.next()

    def fail(self, message: str, offset: int | None = None) -> TemplateError:
        line, column = position(self.text, self.peek().pos if offset is None else offset)
        return TemplateError(message, line, column)

    def unexpected(self, token: Token, context: str) -> TemplateError:
        if token.kind is Kind.EOF:
            return self.fail(f"unexpected EOF in {context}", token.pos)
        return self.fail(f"unexpected {token.describe()} in {context}", token.pos)

    def expect(self, kind: Kind, context: str) -> Token:
        token = self.next_non_space()
        if token.kind is not kind:
            raise self.unexpected(token, context)
        return token

    # structure

    def parse(self) -> Parsed:
        nodes: list[n.Node] = []
        start = self.peek().pos
        while self.peek().kind is not Kind.EOF:
            if self.peek().kind is Kind.LEFT and self._is_define():
                continue
            node = self.text_or_action()
            if isinstance(node, _End | _Else):
                raise self.fail(
                    f"unexpected {{{{{'end' if isinstance(node, _End) else 'else'}}}}}", node.pos
                )
            nodes.append(node)
        return Parsed(self.text, n.ListNode(start, tuple(nodes)), self.defines)

    def _is_define(self) -> bool:
        mark = self.at
        self.next()
        token = self.next_non_space()
        if token.kind is Kind.KEYWORD and token.text == "define":
            name = self.template_name(self.next_non_space(), "define clause")
            self.expect(Kind.RIGHT, "define clause")
            saved_vars, self.vars = self.vars, ["$"]
            body, end = self.item_list()
            self.vars = saved_vars
            if not isinstance(end, _End):
                raise self.fail("unexpected {{else}} in define clause", end.pos)
            self.add_define(name, body, token.pos)
            return True
        self.at = mark
        return False

    def add_define(self, name: str, body: n.ListNode, pos: int) -> None:
        existing = self.defines.get(name)
        if existing is not None and any(not _is_blank(x) for x in existing.nodes):
            if any(not _is_blank(x) for x in body.nodes):
                raise self.fail(f"template: multiple definition of template {go_quote(name)}", pos)
            return
        self.defines[name] = body

    def item_list(self) -> tuple[n.ListNode, n.Node]:
        start = self.peek_non_space().pos
        nodes: list[n.Node] = []
        while self.peek_non_space().kind is not Kind.EOF:
            node = self.text_or_action()
            if isinstance(node, _End | _Else):
                return n.ListNode(start, tuple(nodes)), node
            nodes.append(node)
        raise self.fail("unexpected EOF")

    def text_or_action(self) -> n.Node:
        token = self.next_non_space()
        if token.kind is Kind.TEXT:
            return n.Text(token.pos, token.text)
        if token.kind is Kind.COMMENT:
            return n.Comment(token.pos, token.text)
        if token.kind is Kind.LEFT:
            return self.action()
        raise self.unexpected(token, "input")

    def action(self) -> n.Node:
        token = self.next_non_space()
        if token.kind is Kind.KEYWORD:
            word = token.text
            if word == "if":
                return n.If(token.pos, *self.control("if"))
            if word == "with":
                return n.With(token.pos, *self.control("with"))
            if word == "range":
                return n.Range(token.pos, *self.control("range"))
            if word == "end":
                self.expect(Kind.RIGHT, "end")
                return _End(token.pos)
            if word == "else":
                peek = self.peek_non_space()
                if peek.kind is Kind.KEYWORD and peek.text in ("if", "with"):
                    return _Else(token.pos)
                self.expect(Kind.RIGHT, "else")
                return _Else(token.pos)
            if word in ("break", "continue"):
                if not self.range_depth:
                    raise self.fail(f"{{{{{word}}}}} outside {{{{range}}}}", token.pos)
                self.expect(Kind.RIGHT, word)
                return n.Break(token.pos) if word == "break" else n.Continue(token.pos)
            if word == "template":
                name = self.template_name(self.next_non_space(), "template clause")
                pipe = None
                if self.peek_non_space().kind is not Kind.RIGHT:
                    pipe = self.pipeline("template clause", Kind.RIGHT)
                else:
                    self.next()
                return n.TemplateCall(token.pos, name, pipe)
            if word == "block":
                name = self.template_name(self.next_non_space(), "block clause")
                pipe = self.pipeline("block clause", Kind.RIGHT)
                saved_vars, self.vars = self.vars, ["$"]
                body, end = self.item_list()
                self.vars = saved_vars
                if not isinstance(end, _End):
                    raise self.fail("unexpected {{else}} in block clause", end.pos)
                self.add_define(name, body, token.pos)
                return n.TemplateCall(token.pos, name, pipe)
            raise self.fail(f"unexpected <{word}> in command", token.pos)
        self.at -= 1
        start = self.peek().pos
        return n.Action(start, self.pipeline("command", Kind.RIGHT))

    def unquote(self, token: Token) -> str:
        try:
            return unquote(token)
        except ValueError as err:
            raise self.fail(str(err), token.pos) from None

    def template_name(self, token: Token, context: str) -> str:
        if token.kind not in (Kind.STRING, Kind.RAW_STRING):
            raise self.unexpected(token, context)
        return self.unquote(token)

    def control(self, context: str) -> tuple[n.Pipe, n.ListNode, n.ListNode | None]:
        saved = len(self.vars)
        try:
            pipe = self.pipeline(context, Kind.RIGHT)
            if context == "range":
                self.range_depth += 1
            body, end = self.item_list()
            if context == "range":
                self.range_depth -= 1
            otherwise = None
            if isinstance(end, _Else):
                peek = self.peek_non_space()
                if context in ("if", "with") and peek.kind is Kind.KEYWORD and peek.text == context:
                    # {{else if x}} is {{else}}{{if x}}…{{end}}, the inner {{end}} shared
                    self.next()
                    inner = n.If if context == "if" else n.With
                    nested = inner(peek.pos, *self.control(context))
                    otherwise = n.ListNode(peek.pos, (nested,))
                else:
                    otherwise, end = self.item_list()
                    if not isinstance(end, _End):
                        raise self.fail("expected end; found {{else}}", end.pos)
            return pipe, body, otherwise
        finally:
            del self.vars[saved:]

    # pipelines

    def pipeline(self, context: str, end: Kind) -> n.Pipe:
        start = self.peek_non_space().pos
        decl: list[str] = []
        is_assign = False
        while self.peek_non_space().kind is Kind.VARIABLE:
            mark = self.at
            variable = self.next()
            after = self.peek()
            following = self.peek_non_space()
            if following.kind in (Kind.DECLARE, Kind.ASSIGN):
                is_assign = following.kind is Kind.ASSIGN
                self.next()
                decl.append(variable.text)
                self.vars.append(variable.text)
                break
            if following.kind is Kind.PUNCT and following.text == ",":
                self.next()
                decl.append(variable.text)
                self.vars.append(variable.text)
                if context == "range" and len(decl) < 2:
                    nxt = self.peek_non_space()
                    if nxt.kind in (Kind.VARIABLE, Kind.RIGHT, Kind.RIGHT_PAREN):
                        continue
                    raise self.fail("range can only initialize variables", nxt.pos)
                raise self.fail(f"too many declarations in {context}", following.pos)
            del after
            self.at = mark
            break
        commands: list[n.Command] = []
        while True:
            token = self.next_non_space()
            if token.kind is end:
                if not commands:
                    raise self.fail(f"missing value for {context}", token.pos)
                for i, command in enumerate(commands[1:], start=2):
                    if isinstance(
                        command.args[0], n.Bool | n.Dot | n.NilLiteral | n.Number | n.String
                    ):
                        raise self.fail(
                            f"non executable command in pipeline stage {i}", command.pos
                        )
                if len(decl) == 2 and context != "range":
                    raise self.fail(f"too many declarations in {context}", start)
                return n.Pipe(start, tuple(decl), is_assign, tuple(commands))
            if token.kind in _OPERAND_START:
                self.at -= 1
                commands.append(self.command())
                continue
            raise self.unexpected(token, context)

    def command(self) -> n.Command:
        start = self.peek_non_space().pos
        args: list[n.Node] = []
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                args.append(operand)
            token = self.next()
            if token.kind is Kind.SPACE:
                continue
            if token.kind in (Kind.RIGHT, Kind.RIGHT_PAREN):
                self.at -= 1
            elif token.kind is not Kind.PIPE:
                raise self.unexpected(token, "operand")
            break
        if not args:
            raise self.fail("empty command", start)
        return n.Command(start, tuple(args))

    def operand(self) -> n.Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().kind is Kind.FIELD:
            names: list[str] = []
            while self.peek().kind is Kind.FIELD:
                names.append(self.next().text[1:])
            if isinstance(node, n.Field):
                return n.Field(node.pos, node.names + tuple(names))
            if isinstance(node, n.Variable):
                return n.Variable(node.pos, node.names + tuple(names))
            if isinstance(node, n.Bool | n.String | n.Number | n.NilLiteral | n.Dot):
                raise self.fail(f"unexpected . after term {go_quote(str(node))}", node.pos)
            return n.Chain(node.pos, node, tuple(names))
        return node

    def term(self) -> n.Node | None:
        token = self.next_non_space()
        kind = token.kind
        if kind is Kind.IDENTIFIER:
            if token.text not in self.functions:
                raise self.fail(f"function {go_quote(token.text)} not defined", token.pos)
            return n.Identifier(token.pos, token.text)
        if kind is Kind.DOT:
            return n.Dot(token.pos)
        if kind is Kind.NIL:
            return n.NilLiteral(token.pos)
        if kind is Kind.VARIABLE:
            if token.text not in self.vars:
                raise self.fail(f"undefined variable {go_quote(token.text)}", token.pos)
            return n.Variable(token.pos, (token.text,))
        if kind is Kind.FIELD:
            return n.Field(token.pos, (token.text[1:],))
        if kind is Kind.BOOL:
            return n.Bool(token.pos, token.text == "true")
        if kind in (Kind.NUMBER, Kind.CHAR):
            try:
                return number(token)
            except ValueError as err:
                raise self.fail(str(err), token.pos) from None
        if kind is Kind.LEFT_PAREN:
            return self.pipeline("parenthesized pipeline", Kind.RIGHT_PAREN)
        if kind in (Kind.STRING, Kind.RAW_STRING):
            return n.String(token.pos, token.text, self.unquote(token))
        self.at -= 1
        return None


_OPERAND_START = frozenset(
    {
        Kind.BOOL,
        Kind.CHAR,
        Kind.DOT,
        Kind.FIELD,
        Kind.IDENTIFIER,
        Kind.NUMBER,
        Kind.NIL,
        Kind.RAW_STRING,
        Kind.STRING,
        Kind.VARIABLE,
        Kind.LEFT_PAREN,
    }
)


def _is_blank(node: n.Node) -> bool:
    return (isinstance(node, n.Text) and not node.text.strip()) or isinstance(node, n.Comment)


def parse(text: str, functions: Container[str]) -> Parsed:
    """Parse a template; `functions` names the functions it may call."""
    try:
        return _Parser(text, functions).parse()
    except RecursionError:
        raise TemplateError("template is nested too deeply") from None
