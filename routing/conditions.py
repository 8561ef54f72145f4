"""A tiny, safe condition language over a request's attributes (no ``eval``).

Grammar::

    expr    := or
    or      := and ("or" and)*
    and     := unary ("and" unary)*
    unary   := "not" unary | compare
    compare := operand (("==" | "!=" | "<" | "<=" | ">" | ">=") operand
                        | "in" list | "not" "in" list)?
    operand := NAME | NUMBER | STRING | "true" | "false" | "null" | "(" expr ")"
    list    := "[" (literal ("," literal)*)? "]"

A NAME is either a declared field (an attribute of the request) or a named condition of
the rule set. A missing attribute is ``null``; an ordering comparison with ``null`` is
false, so a rule that needs an answer the citizen did not give does not match.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

FIELD_TYPES = {"int": (int,), "number": (int, float), "bool": (bool,), "str": (str,)}


class ConditionError(ValueError):
    """A condition that does not parse or does not type-check."""


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Const:
    value: Any


@dataclass(frozen=True)
class Ref:
    """A named condition of the rule set."""

    name: str


@dataclass(frozen=True)
class Compare:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class InList:
    operand: Any
    values: tuple
    negated: bool = False


@dataclass(frozen=True)
class Not:
    item: Any


@dataclass(frozen=True)
class And:
    items: tuple


@dataclass(frozen=True)
class Or:
    items: tuple


_TOKEN = re.compile(
    r"""\s*(?:
        (?P<number>-?\d+(?:\.\d+)?)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<op>==|!=|<=|>=|<|>|\(|\)|\[|\]|,)
      | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    )""",
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null"}


def _tokens(text: str) -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m or m.end() == pos:
            raise ConditionError(f"unexpected character {text[pos:].lstrip()[:1]!r} in {text!r}")
        pos = m.end()
        if m.group("number") is not None:
            raw = m.group("number")
            out.append(("const", float(raw) if "." in raw else int(raw)))
        elif m.group("string") is not None:
            raw = m.group("string")[1:-1]
            out.append(("const", re.sub(r"\\(.)", r"\1", raw)))
        elif m.group("op") is not None:
            out.append(("op", m.group("op")))
        else:
            word = m.group("name")
            if word in ("true", "false", "null"):
                out.append(("const", {"true": True, "false": False, "null": None}[word]))
            elif word in _KEYWORDS:
                out.append(("kw", word))
            else:
                out.append(("name", word))
    return out


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, Any] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, kind: str | None = None, value: Any = None) -> tuple[str, Any]:
        token = self.peek()
        if token is None:
            raise ConditionError(f"unexpected end of condition {self.text!r}")
        if (kind and token[0] != kind) or (value is not None and token[1] != value):
            raise ConditionError(f"unexpected {token[1]!r} in condition {self.text!r}")
        self.pos += 1
        return token

    def at(self, kind: str, value: Any) -> bool:
        token = self.peek()
        return token is not None and token[0] == kind and token[1] == value

    def parse(self):
        node = self.or_()
        if self.peek() is not None:
            raise ConditionError(f"unexpected {self.peek()[1]!r} in condition {self.text!r}")
        return node

    def or_(self):
        items = [self.and_()]
        while self.at("kw", "or"):
            self.take()
            items.append(self.and_())
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self):
        items = [self.unary()]
        while self.at("kw", "and"):
            self.take()
            items.append(self.unary())
        return items[0] if len(items) == 1 else And(tuple(items))

    def unary(self):
        if self.at("kw", "not"):
            self.take()
            return Not(self.unary())
        return self.compare()

    def compare(self):
        left = self.operand()
        token = self.peek()
        if token and token[0] == "op" and token[1] in _COMPARE:
            self.take()
            return Compare(token[1], left, self.operand())
        if self.at("kw", "in"):
            self.take()
            return InList(left, self.literal_list())
        if self.at("kw", "not"):
            self.take()
            self.take("kw", "in")
            return InList(left, self.literal_list(), negated=True)
        return left

    def operand(self):
        kind, value = self.take()
        if kind == "const":
            return Const(value)
        if kind == "name":
            return Field(value)
        if (kind, value) == ("op", "("):
            node = self.or_()
            self.take("op", ")")
            return node
        raise ConditionError(f"unexpected {value!r} in condition {self.text!r}")

    def literal_list(self) -> tuple:
        self.take("op", "[")
        values = []
        while not self.at("op", "]"):
            if values:
                self.take("op", ",")
            values.append(self.take("const")[1])
        self.take("op", "]")
        return tuple(values)


def _lt(a, b):
    return a is not None and b is not None and a < b


def _le(a, b):
    return a is not None and b is not None and a <= b


def _gt(a, b):
    return a is not None and b is not None and a > b


def _ge(a, b):
    return a is not None and b is not None and a >= b


_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "==": operator.eq,
    "!=": operator.ne,
    "<": _lt,
    "<=": _le,
    ">": _gt,
    ">=": _ge,
}


def parse_condition(text: str):
    """The syntax tree of ``text``; raises ``ConditionError``."""
    if not isinstance(text, str) or not text.strip():
        raise ConditionError("a condition must be a non-empty string")
    return _Parser(text).parse()


def resolve_names(node, fields: Mapping[str, str], conditions: Mapping[str, Any]):
    """Turn each NAME into a ``Field`` or a ``Ref`` and type-check comparisons.

    ``fields`` maps field names to their type ("int", "number", "bool", "str");
    ``conditions`` holds the names of the rule set's named conditions.
    Raises ``ConditionError`` for an unknown name or a comparison of the wrong type.
    """
    if isinstance(node, Field):
        if node.name in conditions:
            return Ref(node.name)
        if node.name not in fields:
            raise ConditionError(f"unknown field {node.name!r}")
        return node
    if isinstance(node, Const):
        return node
    if isinstance(node, Compare):
        left = resolve_names(node.left, fields, conditions)
        right = resolve_names(node.right, fields, conditions)
        for a, b in ((left, right), (right, left)):
            if isinstance(a, Field) and isinstance(b, Const):
                _check_type(a.name, fields[a.name], b.value, node.op)
        return Compare(node.op, left, right)
    if isinstance(node, InList):
        operand = resolve_names(node.operand, fields, conditions)
        if isinstance(operand, Field):
            for value in node.values:
                _check_type(operand.name, fields[operand.name], value, "in")
        return InList(operand, node.values, node.negated)
    if isinstance(node, Not):
        return Not(resolve_names(node.item, fields, conditions))
    if isinstance(node, And | Or):
        return type(node)(tuple(resolve_names(i, fields, conditions) for i in node.items))
    raise ConditionError(f"cannot resolve {node!r}")


def _check_type(name: str, type_name: str, value: Any, op: str) -> None:
    if value is None and op in ("==", "!="):
        return
    allowed = FIELD_TYPES[type_name]
    ok = isinstance(value, allowed) and not (isinstance(value, bool) and bool not in allowed)
    if not ok:
        raise ConditionError(
            f"wrong type: field {name!r} is {type_name}, compared with {value!r} "
            f"({type(value).__name__})"
        )
    if type_name in ("bool", "str") and op in ("<", "<=", ">", ">="):
        raise ConditionError(f"wrong type: field {name!r} is {type_name} and cannot use {op!r}")


def references(node) -> set[str]:
    """The named conditions ``node`` refers to."""
    if isinstance(node, Ref):
        return {node.name}
    if isinstance(node, Compare):
        return references(node.left) | references(node.right)
    if isinstance(node, InList):
        return references(node.operand)
    if isinstance(node, Not):
        return references(node.item)
    if isinstance(node, And | Or):
        return set().union(*(references(i) for i in node.items))
    return set()


def compile_condition(node, named: Mapping[str, Any]) -> Callable[[Mapping[str, Any]], bool]:
    """A function of the attributes mapping that evaluates ``node``.

    ``named`` maps named conditions to their (resolved) trees; references are inlined,
    so the rule set must be free of reference cycles (the loader guarantees it).
    """
    fn = _compile(node, named)
    while isinstance(node, Ref):
        node = named[node.name]
    if isinstance(node, Compare | InList | Not | And | Or):
        return fn  # these already give a bool
    return lambda attrs: bool(fn(attrs))


def _field_compare(op: str, key: str, value: Any):
    # The usual shape, "field op constant", without a call per operator.
    if op == "==":
        return lambda a: a.get(key) == value
    if op == "!=":
        return lambda a: a.get(key) != value
    if value is None:
        return lambda a: False
    if op == "<":
        return lambda a: (v := a.get(key)) is not None and v < value
    if op == "<=":
        return lambda a: (v := a.get(key)) is not None and v <= value
    if op == ">":
        return lambda a: (v := a.get(key)) is not None and v > value
    return lambda a: (v := a.get(key)) is not None and v >= value


def _compile(node, named):
    if isinstance(node, Field):
        key = node.name
        return lambda a: a.get(key)
    if isinstance(node, Const):
        value = node.value
        return lambda a: value
    if isinstance(node, Ref):
        return _compile(named[node.name], named)
    if isinstance(node, Compare):
        op = _COMPARE[node.op]
        if isinstance(node.left, Field) and isinstance(node.right, Const):
            return _field_compare(node.op, node.left.name, node.right.value)
        left, right = _compile(node.left, named), _compile(node.right, named)
        return lambda a: op(left(a), right(a))
    if isinstance(node, InList):
        operand, values, negated = (
            _compile(node.operand, named),
            frozenset(node.values),
            node.negated,
        )
        if negated:
            return lambda a: operand(a) not in values
        return lambda a: operand(a) in values
    if isinstance(node, Not):
        item = _compile(node.item, named)
        return lambda a: not item(a)
    if isinstance(node, And):
        items = tuple(_compile(i, named) for i in node.items)
        return lambda a: all(f(a) for f in items)  # noqa: C419 - short-circuits
    if isinstance(node, Or):
        items = tuple(_compile(i, named) for i in node.items)
        return lambda a: any(f(a) for f in items)
    raise ConditionError(f"cannot compile {node!r}")


def is_constant_false(node) -> bool:
    """True for a condition that is literally ``false``."""
    return isinstance(node, Const) and not node.value
