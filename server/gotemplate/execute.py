"""Go text/template's executor (text/template/exec.go's rules, over the values of
`values.py`).

What it guards against, since templates come from users: output past `limit` bytes is an
error (not a truncation); so is work past `MAX_STEPS` evaluations (a `{{range}}` over a huge
number prints nothing but costs time) and `{{template}}` calls nested past
`MAX_TEMPLATE_DEPTH`.
"""

from __future__ import annotations

from typing import Any

from server.gotemplate import nodes as n
from server.gotemplate.arguments import Arguments
from server.gotemplate.errors import FuncError, TemplateError, position
from server.gotemplate.funcs import GO_TYPE, Func, FuncMap
from server.gotemplate.output import Output, Rendered
from server.gotemplate.parser import Parsed
from server.gotemplate.printing import format_value, go_quote, sort_keys
from server.gotemplate.values import (
    MISSING,
    Nil,
    Probe,
    ProbeMap,
    Struct,
    is_int,
    is_true,
    type_name,
)

MAX_STEPS = 500_000
MAX_TEMPLATE_DEPTH = 100


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Executor(Arguments):
    def __init__(self, parsed: Parsed, funcs: FuncMap, missing_key_error: bool, limit: int) -> None:
        self.parsed = parsed
        self.funcs = funcs
        self.missing_key_error = missing_key_error
        self.out = Output(limit)
        self.vars: list[tuple[str, Any]] = []
        self.node: n.Node | None = None
        self.steps = 0
        self.depth = 0

    # errors

    def fail(self, message: str, node: n.Node | None = None) -> TemplateError:
        node = node or self.node
        if node is None:
            return TemplateError(message)
        line, column = position(self.parsed.text, node.pos)
        where = _describe(node)
        return TemplateError(f"at <{where}>: {message}" if where else message, line, column)

    def at(self, node: n.Node) -> None:
        self.node = node
        self.steps += 1
        if self.steps > MAX_STEPS:
            raise self.fail(f"template does more than {MAX_STEPS} steps of work; refusing to go on")

    # statements

    def run(self, data: Any) -> Rendered:
        self.vars = [("$", data)]
        try:
            self.walk(data, self.parsed.root)
        except RecursionError:
            raise self.fail("template is nested too deeply") from None
        return Rendered("".join(self.out.parts), self.parsed.text, tuple(self.out.trace))

    def write(self, text: str, source: int, copied: bool = False) -> None:
        if not self.out.write(text, source, copied):
            raise self.fail(f"rendered template exceeds {self.out.limit} bytes")

    def walk(self, dot: Any, node: n.Node) -> None:
        self.at(node)
        if isinstance(node, n.Text):
            self.write(node.text, node.pos, copied=True)
        elif isinstance(node, n.Action):
            value = self.eval_pipeline(dot, node.pipe)
            if not node.pipe.decl:
                self.print_value(node, value)
        elif isinstance(node, n.ListNode):
            for child in node.nodes:
                self.walk(dot, child)
        elif isinstance(node, n.If | n.With):
            self.walk_if_or_with(dot, node)
        elif isinstance(node, n.Range):
            self.walk_range(dot, node)
        elif isinstance(node, n.Break):
            raise _Break()
        elif isinstance(node, n.Continue):
            raise _Continue()
        elif isinstance(node, n.TemplateCall):
            self.walk_template(dot, node)
        elif isinstance(node, n.Comment):
            pass
        else:  # pragma: no cover - the parser makes no other node
            raise self.fail(f"unknown node: {node!r}")

    def print_value(self, node: n.Node, value: Any) -> None:
        self.at(node)
        self.write("<no value>" if value is MISSING else format_value(value), node.pos)

    def walk_if_or_with(self, dot: Any, node: n.If | n.With) -> None:
        mark = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            if is_true(value):
                self.walk(value if isinstance(node, n.With) else dot, node.body)
            elif node.otherwise is not None:
                self.walk(dot, node.otherwise)
        finally:
            del self.vars[mark:]

    def walk_range(self, dot: Any, node: n.Range) -> None:
        self.at(node)
        outer = len(self.vars)
        try:
            value = self.eval_pipeline(dot, node.pipe)
            mark = len(self.vars)
            decl = node.pipe.decl
            if is_int(value) and len(decl) > 1:
                raise self.fail(f"can't use {value} to iterate over more than one variable")
            items = self.range_items(value)
            for index, elem in items:
                if decl:
                    if node.pipe.is_assign:
                        self.set_var(decl[0], index if len(decl) > 1 else elem)
                        if len(decl) > 1:
                            self.set_var(decl[1], elem)
                    else:
                        self.vars[mark - 1] = (self.vars[mark - 1][0], elem)
                        if len(decl) > 1:
                            self.vars[mark - 2] = (self.vars[mark - 2][0], index)
                try:
                    self.walk(elem, node.body)
                except _Continue:
                    pass
                except _Break:
                    return
                finally:
                    del self.vars[mark:]
            if not items and node.otherwise is not None:
                self.walk(dot, node.otherwise)
        finally:
            del self.vars[outer:]

    def range_items(self, value: Any) -> list[tuple[Any, Any]]:
        if isinstance(value, list | tuple):
            return list(enumerate(value))
        if isinstance(value, dict):
            return [(k, value[k]) for k in sort_keys(value)]
        if is_int(value):
            if value > MAX_STEPS:
                raise self.fail(f"range over {value} is more than {MAX_STEPS} iterations")
            return [(i, i) for i in range(max(value, 0))]
        if value is MISSING or value is None:
            return []
        raise self.fail(f"range can't iterate over {format_value(value)}")

    def walk_template(self, dot: Any, node: n.TemplateCall) -> None:
        self.at(node)
        body = self.parsed.defines.get(node.name)
        if body is None:
            raise self.fail(f"template {go_quote(node.name)} not defined")
        if self.depth >= MAX_TEMPLATE_DEPTH:
            raise self.fail(f"exceeded maximum template depth ({MAX_TEMPLATE_DEPTH})")
        new_dot = self.eval_pipeline(dot, node.pipe) if node.pipe is not None else MISSING
        saved = self.vars
        self.vars = [("$", new_dot)]
        self.depth += 1
        try:
            self.walk(new_dot, body)
        finally:
            self.depth -= 1
            self.vars = saved

    # variables

    def var_value(self, name: str) -> Any:
        for var_name, value in reversed(self.vars):
            if var_name == name:
                return value
        raise self.fail(f"undefined variable: {name}")

    def set_var(self, name: str, value: Any) -> None:
        for i in range(len(self.vars) - 1, -1, -1):
            if self.vars[i][0] == name:
                self.vars[i] = (name, value)
                return
        raise self.fail(f"undefined variable: {name}")

    # pipelines and commands

    def eval_pipeline(self, dot: Any, pipe: n.Pipe) -> Any:
        self.at(pipe)
        value = MISSING
        final: Any = _NO_FINAL
        for command in pipe.commands:
            value = self.eval_command(dot, command, final)
            if value is None:  # a nil interface{} becomes Go's invalid value
                value = MISSING
            final = value
        for name in pipe.decl:
            if pipe.is_assign:
                self.set_var(name, value)
            else:
                self.vars.append((name, value))
        return value

    def not_a_function(self, args: tuple[n.Node, ...], final: Any) -> None:
        if len(args) > 1 or final is not _NO_FINAL:
            raise self.fail(f"can't give argument to non-function {_describe(args[0])}")

    def eval_command(self, dot: Any, command: n.Command, final: Any) -> Any:
        first = command.args[0]
        if isinstance(first, n.Field):
            return self.eval_field_node(dot, first, command.args, final)
        if isinstance(first, n.Chain):
            return self.eval_chain(dot, first, command.args, final)
        if isinstance(first, n.Identifier):
            return self.eval_function(dot, first, command, command.args, final)
        if isinstance(first, n.Pipe):
            self.not_a_function(command.args, final)
            return self.eval_pipeline(dot, first)
        if isinstance(first, n.Variable):
            return self.eval_variable(dot, first, command.args, final)
        self.at(first)
        self.not_a_function(command.args, final)
        if isinstance(first, n.Bool):
            return first.value
        if isinstance(first, n.Dot):
            return dot
        if isinstance(first, n.NilLiteral):
            raise self.fail("nil is not a command")
        if isinstance(first, n.Number):
            return self.ideal(first)
        if isinstance(first, n.String):
            return first.value
        raise self.fail(f"can't evaluate command {first}")  # pragma: no cover

    def eval_field_node(self, dot: Any, node: n.Field, args: tuple[n.Node, ...], final: Any) -> Any:
        self.at(node)
        return self.eval_field_chain(dot, node, node.names, args, final)

    def eval_chain(self, dot: Any, node: n.Chain, args: tuple[n.Node, ...], final: Any) -> Any:
        self.at(node)
        if isinstance(node.operand, n.NilLiteral):
            raise self.fail(f"indirection through explicit nil in {node}")
        receiver = self.eval_arg(dot, "value", node.operand)
        return self.eval_field_chain(receiver, node, node.names, args, final)

    def eval_variable(
        self, dot: Any, node: n.Variable, args: tuple[n.Node, ...], final: Any
    ) -> Any:
        self.at(node)
        value = self.var_value(node.names[0])
        if len(node.names) == 1:
            self.not_a_function(args, final)
            return value
        return self.eval_field_chain(value, node, node.names[1:], args, final)

    def eval_field_chain(
        self,
        receiver: Any,
        node: n.Node,
        names: tuple[str, ...],
        args: tuple[n.Node, ...],
        final: Any,
    ) -> Any:
        boxed = False  # a map's value is an interface{}: Go's errors name that type
        for name in names[:-1]:
            next_boxed = isinstance(receiver, dict)
            receiver = self.eval_field(name, (), _NO_FINAL, receiver, boxed)
            boxed = next_boxed
        return self.eval_field(names[-1], args, final, receiver, boxed)

    def eval_field(
        self, name: str, args: tuple[n.Node, ...], final: Any, receiver: Any, boxed: bool = False
    ) -> Any:
        has_args = len(args) > 1 or final is not _NO_FINAL
        if receiver is MISSING:
            if self.missing_key_error:
                raise self.fail(f"nil data; no entry for key {go_quote(name)}")
            return MISSING
        if receiver is None:
            raise self.fail(f"nil pointer evaluating interface {{}}.{name}")
        if isinstance(receiver, Probe):
            return receiver
        if isinstance(receiver, Struct):
            if name in receiver.fields:
                if has_args:
                    raise self.fail(f"{name} has arguments but cannot be invoked as function")
                return receiver.fields[name]
        elif isinstance(receiver, dict):
            if has_args:
                raise self.fail(f"{name} is not a method but has arguments")
            if name in receiver:
                return receiver[name]
            if isinstance(receiver, ProbeMap):
                return receiver.probe
            if self.missing_key_error:
                raise self.fail(f"map has no entry for key {go_quote(name)}")
            return MISSING
        elif isinstance(receiver, Nil):
            raise self.fail(f"nil pointer evaluating {receiver.type_name}.{name}")
        typ = "interface {}" if boxed else type_name(receiver)
        raise self.fail(f"can't evaluate field {name} in type {typ}")

    # function calls

    def eval_function(
        self, dot: Any, node: n.Identifier, command: n.Node, args: tuple[n.Node, ...], final: Any
    ) -> Any:
        self.at(node)
        func = self.funcs.get(node.name)
        if func is None:
            raise self.fail(f'"{node.name}" is not a defined function')
        return self.eval_call(dot, func, command, node.name, args, final)

    def eval_call(
        self, dot: Any, func: Func, node: n.Node, name: str, args: tuple[n.Node, ...], final: Any
    ) -> Any:
        call_args = args[1:]
        count = len(call_args) + (final is not _NO_FINAL)
        fixed = len(func.params)
        if func.variadic is not None:
            if count < fixed:
                raise self.fail(
                    f"wrong number of args for {name}: want at least {fixed} got {count}"
                )
        elif count != fixed:
            raise self.fail(f"wrong number of args for {name}: want {fixed} got {count}")
        if func.lazy:  # and / or: stop at the first value that decides
            want = name == "or"
            value: Any = MISSING
            for arg in call_args:
                value = self.eval_arg(dot, "value", arg)
                if is_true(value) == want:
                    return value
            if final is not _NO_FINAL:
                value = final
            return value
        argv: list[Any] = []
        for i, arg in enumerate(call_args):
            kind = func.params[i] if i < fixed else func.variadic
            assert kind is not None
            argv.append(self.eval_arg(dot, kind, arg))
        if final is not _NO_FINAL:
            i = len(call_args)
            kind = func.params[i] if i < fixed else func.variadic
            assert kind is not None
            argv.append(self.check_type(final, kind))
        self.at(node)
        try:
            return func.fn(*argv)
        except FuncError as err:
            raise self.fail(f"error calling {name}: {err}") from None
        except TemplateError:
            raise
        except (ArithmeticError, ValueError, TypeError, KeyError, IndexError, OverflowError) as err:
            # Go recovers a panicking function the same way
            raise self.fail(f"error calling {name}: {err}") from None

    def eval_arg(self, dot: Any, kind: str, node: n.Node) -> Any:
        self.at(node)
        if isinstance(node, n.Dot):
            return self.check_type(dot, kind)
        if isinstance(node, n.NilLiteral):
            if kind in ("any", "map", "list"):
                return {} if kind == "map" else () if kind == "list" else None
            if kind == "value":
                return MISSING
            raise self.fail(f"cannot assign nil to {GO_TYPE[kind]}")
        if isinstance(node, n.Field):
            return self.check_type(self.eval_field_node(dot, node, (node,), _NO_FINAL), kind)
        if isinstance(node, n.Variable):
            return self.check_type(self.eval_variable(dot, node, (), _NO_FINAL), kind)
        if isinstance(node, n.Pipe):
            return self.check_type(self.eval_pipeline(dot, node), kind)
        if isinstance(node, n.Identifier):
            func = self.funcs.get(node.name)
            if func is None:
                raise self.fail(f'"{node.name}" is not a defined function')
            return self.check_type(
                self.eval_call(dot, func, node, node.name, (node,), _NO_FINAL), kind
            )
        if isinstance(node, n.Chain):
            return self.check_type(self.eval_chain(dot, node, (), _NO_FINAL), kind)
        return self.literal(kind, node)


class _NoFinal:
    def __repr__(self) -> str:
        return "NO_FINAL"


_NO_FINAL: Any = _NoFinal()


def _describe(node: n.Node) -> str:
    if isinstance(node, n.Action):
        return str(node.pipe)
    if isinstance(node, n.If | n.With | n.Range):
        return f"{type(node).__name__.lower()} {node.pipe}"
    if isinstance(node, n.TemplateCall):
        return "{{template " + go_quote(node.name) + (f" {node.pipe}" if node.pipe else "") + "}}"
    if isinstance(node, n.Text | n.ListNode | n.Comment | n.Break | n.Continue):
        return ""
    return str(node)
