"""The parse tree, one frozen dataclass per node kind of text/template/parse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Node:
    pos: int


# Operands


@dataclass(frozen=True)
class Field(Node):
    names: tuple[str, ...]  # .A.B → ("A", "B")

    def __str__(self) -> str:
        return "".join("." + n for n in self.names)


@dataclass(frozen=True)
class Variable(Node):
    names: tuple[str, ...]  # $x.A → ("$x", "A")

    def __str__(self) -> str:
        return ".".join(self.names)


@dataclass(frozen=True)
class Identifier(Node):
    name: str

    def __str__(self) -> str:
        return self.name


@dataclass(frozen=True)
class Dot(Node):
    def __str__(self) -> str:
        return "."


@dataclass(frozen=True)
class NilLiteral(Node):
    def __str__(self) -> str:
        return "nil"


@dataclass(frozen=True)
class Bool(Node):
    value: bool

    def __str__(self) -> str:
        return "true" if self.value else "false"


@dataclass(frozen=True)
class Number(Node):
    text: str
    int_value: int | None  # set when the constant is an integer
    float_value: float | None  # set when it can be a float
    is_char: bool = False

    def __str__(self) -> str:
        return self.text

    def ideal(self) -> Any:
        """The constant as an untyped value becomes: float if written as one, else int."""
        is_hex = self.text.lower().lstrip("+-").startswith("0x")
        written_float = (
            any(c in self.text for c in ".eEpP") if not is_hex else "p" in self.text.lower()
        )
        if self.float_value is not None and written_float and not self.is_char:
            return self.float_value
        if self.int_value is not None:
            return self.int_value
        return self.float_value


@dataclass(frozen=True)
class String(Node):
    quoted: str
    value: str

    def __str__(self) -> str:
        return self.quoted


@dataclass(frozen=True)
class Chain(Node):
    operand: Node  # a parenthesised pipeline, mostly: (index .X 0).DHCP
    names: tuple[str, ...]

    def __str__(self) -> str:
        inner = f"({self.operand})" if isinstance(self.operand, Pipe) else str(self.operand)
        return inner + "".join("." + n for n in self.names)


@dataclass(frozen=True)
class Command(Node):
    args: tuple[Node, ...]

    def __str__(self) -> str:
        return " ".join(f"({a})" if isinstance(a, Pipe) else str(a) for a in self.args)


@dataclass(frozen=True)
class Pipe(Node):
    decl: tuple[str, ...]  # variables declared or assigned by this pipeline
    is_assign: bool
    commands: tuple[Command, ...]

    def __str__(self) -> str:
        head = ""
        if self.decl:
            head = ", ".join(self.decl) + (" = " if self.is_assign else " := ")
        return head + " | ".join(str(c) for c in self.commands)


# Statements


@dataclass(frozen=True)
class Text(Node):
    text: str


@dataclass(frozen=True)
class Comment(Node):
    text: str


@dataclass(frozen=True)
class Action(Node):
    pipe: Pipe


@dataclass(frozen=True)
class ListNode(Node):
    nodes: tuple[Node, ...]


@dataclass(frozen=True)
class If(Node):
    pipe: Pipe
    body: ListNode
    otherwise: ListNode | None


@dataclass(frozen=True)
class With(Node):
    pipe: Pipe
    body: ListNode
    otherwise: ListNode | None


@dataclass(frozen=True)
class Range(Node):
    pipe: Pipe
    body: ListNode
    otherwise: ListNode | None


@dataclass(frozen=True)
class Break(Node):
    pass


@dataclass(frozen=True)
class Continue(Node):
    pass


@dataclass(frozen=True)
class TemplateCall(Node):
    name: str
    pipe: Pipe | None
