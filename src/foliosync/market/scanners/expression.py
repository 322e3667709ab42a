"""A small, safe filter language for scans, parsed by hand (never `eval`).

    atr_pct > 3 and close > sma_50 and rsi_14 < 35
    (macd > macd_signal or adx_14 > 25) and not close < sma_200
    close > 2 * atr_14 + sma_20
    40 <= rsi_14 <= 50 and abs(close - ema_21) <= atr_14
    dollar_volume_20 >= 20m

Grammar (lowest precedence first):
    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | comparison
    comparison := sum (("<" | "<=" | ">" | ">=" | "==" | "=" | "!=") sum)*     chained like Python
    sum        := product (("+" | "-") product)*
    product    := unary (("*" | "/") unary)*
    unary      := ("-" | "+") unary | primary
    primary    := NUMBER | FIELD | FUNCTION "(" sum ("," sum)* ")" | "(" expr ")"
Numbers accept `_` separators, exponents and a k/m/b suffix (20m = 20,000,000).
Functions: abs(x), min(a, b), max(a, b).

Evaluation is vectorized over every symbol at once. A missing value (NaN: not enough history)
makes a comparison *unknown*, and unknown follows three-valued logic, so `not rsi_14 < 30` does not
select a symbol that has no RSI; only rows that are definitely true match.
"""

from __future__ import annotations

import difflib
import operator
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from foliosync.errors import ValidationFailed

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

MAX_LENGTH = 2_000
MAX_DEPTH = 60


class ExpressionError(ValidationFailed):
    code = "invalid_scan_expression"

    def __init__(self, message: str, *, position: int | None = None, source: str = "") -> None:
        where = ""
        if position is not None and source:
            where = f" at position {position + 1}: {source[:position]}\u2192{source[position:]}"
        super().__init__(
            message + where,
            hint="Example: atr_pct > 3 and close > sma_50 and rsi_14 < 35. GET /api/v1/market/fields lists fields.",
        )
        self.position = position


# --- tokens -----------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<number>(?:\d[\d_]*(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?[kKmMbB]?(?![A-Za-z0-9_]))
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<op><=|>=|==|!=|<|>|=|\+|-|\*|/|\(|\)|,)
    """,
    re.VERBOSE,
)
_SUFFIX = {"k": 1e3, "m": 1e6, "b": 1e9}
_KEYWORDS = frozenset({"and", "or", "not"})
_COMPARISONS: dict[str, Callable[[FloatArray, FloatArray], BoolArray]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "=": operator.eq,
    "!=": operator.ne,
}


@dataclass(frozen=True)
class Token:
    kind: str  # number, name, keyword, op, end
    text: str
    position: int


def tokenize(source: str) -> list[Token]:
    tokens: list[Token] = []
    position = 0
    while position < len(source):
        match = _TOKEN.match(source, position)
        if match is None:
            char = source[position]
            hint = {"&": "use 'and'", "|": "use 'or'", "!": "use 'not' or '!='"}.get(char, "")
            raise ExpressionError(
                f"unexpected character {char!r}" + (f" ({hint})" if hint else ""),
                position=position,
                source=source,
            )
        kind = match.lastgroup or ""
        text = match.group()
        if kind == "name" and text.lower() in _KEYWORDS:
            tokens.append(Token("keyword", text.lower(), position))
        elif kind != "space":
            tokens.append(Token(kind, text, position))
        position = match.end()
    tokens.append(Token("end", "", len(source)))
    return tokens


# --- syntax tree ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Number:
    value: float


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Negate:
    operand: Node


@dataclass(frozen=True)
class Arithmetic:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Call:
    function: str
    args: tuple[Node, ...]


@dataclass(frozen=True)
class Compare:
    operands: tuple[Node, ...]
    ops: tuple[str, ...]


@dataclass(frozen=True)
class Logical:
    op: str  # and / or
    operands: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    operand: Node


Node = Number | Field | Negate | Arithmetic | Call | Compare | Logical | Not
_NUMERIC = (Number, Field, Negate, Arithmetic, Call)

_FUNCTIONS: dict[str, int] = {"abs": 1, "min": 2, "max": 2}


def _number(text: str) -> float:
    scale = 1.0
    if text[-1].lower() in _SUFFIX:
        scale = _SUFFIX[text[-1].lower()]
        text = text[:-1]
    return float(text.replace("_", "")) * scale


class _Parser:
    def __init__(self, source: str, fields: Sequence[str]) -> None:
        self.source = source
        self.tokens = tokenize(source)
        self.index = 0
        self.depth = 0
        self.fields = set(fields)
        self.field_list = sorted(fields)

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, message: str, token: Token | None = None) -> ExpressionError:
        token = token or self.current
        return ExpressionError(message, position=token.position, source=self.source)

    def describe(self, token: Token) -> str:
        return "the end of the expression" if token.kind == "end" else repr(token.text)

    def parse(self) -> Node:
        node = self.expression()
        if self.current.kind != "end":
            raise self.fail(f"expected 'and', 'or' or an operator, found {self.describe(self.current)}")
        return node

    def _enter(self) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.fail(f"expression nested deeper than {MAX_DEPTH} levels")

    def expression(self) -> Node:
        self._enter()
        operands = [self.and_expr()]
        while self.current.kind == "keyword" and self.current.text == "or":
            self.advance()
            operands.append(self.and_expr())
        self.depth -= 1
        return operands[0] if len(operands) == 1 else Logical("or", tuple(operands))

    def and_expr(self) -> Node:
        operands = [self.not_expr()]
        while self.current.kind == "keyword" and self.current.text == "and":
            self.advance()
            operands.append(self.not_expr())
        return operands[0] if len(operands) == 1 else Logical("and", tuple(operands))

    def not_expr(self) -> Node:
        if self.current.kind == "keyword" and self.current.text == "not":
            self.advance()
            self._enter()
            node = Not(self.not_expr())
            self.depth -= 1
            return node
        return self.comparison()

    def comparison(self) -> Node:
        operands = [self.sum()]
        ops: list[str] = []
        while self.current.kind == "op" and self.current.text in _COMPARISONS:
            ops.append(self.advance().text)
            operands.append(self.sum())
        return operands[0] if not ops else Compare(tuple(operands), tuple(ops))

    def sum(self) -> Node:
        node = self.product()
        while self.current.kind == "op" and self.current.text in ("+", "-"):
            op = self.advance().text
            node = Arithmetic(op, node, self.product())
        return node

    def product(self) -> Node:
        node = self.unary()
        while self.current.kind == "op" and self.current.text in ("*", "/"):
            op = self.advance().text
            node = Arithmetic(op, node, self.unary())
        return node

    def unary(self) -> Node:
        if self.current.kind == "op" and self.current.text in ("-", "+"):
            op = self.advance().text
            self._enter()
            operand = self.unary()
            self.depth -= 1
            return Negate(operand) if op == "-" else operand
        return self.primary()

    def primary(self) -> Node:
        token = self.current
        if token.kind == "number":
            self.advance()
            return Number(_number(token.text))
        if token.kind == "name":
            self.advance()
            name = token.text.lower()
            if self.current.kind == "op" and self.current.text == "(":
                return self.call(name, token)
            if name not in self.fields:
                raise self.unknown_field(token)
            return Field(name)
        if token.kind == "op" and token.text == "(":
            self.advance()
            node = self.expression()
            if self.current.kind != "op" or self.current.text != ")":
                raise self.fail(f"expected ')', found {self.describe(self.current)}")
            self.advance()
            return node
        raise self.fail(f"expected a field, a number or '(', found {self.describe(token)}")

    def call(self, name: str, token: Token) -> Node:
        if name not in _FUNCTIONS:
            raise self.fail(
                f"unknown function {name!r}; functions are {', '.join(sorted(_FUNCTIONS))}", token
            )
        self.advance()  # (
        args = [self.expression()]
        while self.current.kind == "op" and self.current.text == ",":
            self.advance()
            args.append(self.expression())
        if self.current.kind != "op" or self.current.text != ")":
            raise self.fail(f"expected ',' or ')' in {name}(...), found {self.describe(self.current)}")
        self.advance()
        if len(args) != _FUNCTIONS[name]:
            raise self.fail(f"{name}() takes {_FUNCTIONS[name]} argument(s), got {len(args)}", token)
        return Call(name, tuple(args))

    def unknown_field(self, token: Token) -> ExpressionError:
        close = difflib.get_close_matches(token.text.lower(), self.field_list, n=3)
        suggestion = f" (did you mean {' or '.join(close)}?)" if close else ""
        return ExpressionError(
            f"unknown field {token.text!r}{suggestion}. Valid fields: {', '.join(self.field_list)}",
            position=token.position,
            source=self.source,
        )


# --- type check -------------------------------------------------------------------------------


def _is_numeric(node: Node) -> bool:
    return isinstance(node, _NUMERIC)


def _check(node: Node, want_condition: bool, source: str) -> None:
    """Numbers where numbers belong, conditions where conditions belong."""
    if want_condition and _is_numeric(node):
        raise ExpressionError(
            f"{describe(node)} is a number, not a condition; compare it, e.g. {describe(node)} > 0",
            source=source,
        )
    if not want_condition and not _is_numeric(node):
        raise ExpressionError(f"{describe(node)} is a condition where a number is expected", source=source)
    if isinstance(node, Negate):
        _check(node.operand, False, source)
    elif isinstance(node, Arithmetic):
        _check(node.left, False, source)
        _check(node.right, False, source)
    elif isinstance(node, Call):
        for arg in node.args:
            _check(arg, False, source)
    elif isinstance(node, Compare):
        for operand in node.operands:
            _check(operand, False, source)
    elif isinstance(node, Logical):
        for operand in node.operands:
            _check(operand, True, source)
    elif isinstance(node, Not):
        _check(node.operand, True, source)


def describe(node: Node) -> str:
    """The node written back as text (normalised spacing), for messages and echoes."""
    if isinstance(node, Number):
        return f"{node.value:g}"
    if isinstance(node, Field):
        return node.name
    if isinstance(node, Negate):
        return f"-{describe(node.operand)}"
    if isinstance(node, Arithmetic):
        return f"({describe(node.left)} {node.op} {describe(node.right)})"
    if isinstance(node, Call):
        return f"{node.function}({', '.join(describe(a) for a in node.args)})"
    if isinstance(node, Compare):
        parts = [describe(node.operands[0])]
        for op, operand in zip(node.ops, node.operands[1:], strict=True):
            parts += [op, describe(operand)]
        return " ".join(parts)
    if isinstance(node, Logical):
        return "(" + f" {node.op} ".join(describe(o) for o in node.operands) + ")"
    return f"not {describe(node.operand)}"


@dataclass(frozen=True)
class Condition:
    """A parsed, type-checked filter."""

    source: str
    root: Node

    def fields(self) -> set[str]:
        found: set[str] = set()

        def walk(node: Node) -> None:
            if isinstance(node, Field):
                found.add(node.name)
            for child in _children(node):
                walk(child)

        walk(self.root)
        return found

    def evaluate(self, values: Mapping[str, FloatArray]) -> BoolArray:
        truth, _known = _truth(self.root, values)
        return truth


@dataclass(frozen=True)
class NumericExpression:
    """A parsed arithmetic expression (used for sort keys)."""

    source: str
    root: Node

    def evaluate(self, values: Mapping[str, FloatArray]) -> FloatArray:
        return _value(self.root, values)


def _children(node: Node) -> tuple[Node, ...]:
    if isinstance(node, Negate | Not):
        return (node.operand,)
    if isinstance(node, Arithmetic):
        return (node.left, node.right)
    if isinstance(node, Call):
        return node.args
    if isinstance(node, Compare | Logical):
        return node.operands
    return ()


def _prepare(source: str) -> str:
    if not source or not source.strip():
        raise ExpressionError("the expression is empty")
    if len(source) > MAX_LENGTH:
        raise ExpressionError(f"the expression is longer than {MAX_LENGTH} characters")
    return source


def parse_condition(source: str, fields: Sequence[str]) -> Condition:
    root = _Parser(_prepare(source), fields).parse()
    _check(root, True, source)
    return Condition(source, root)


def parse_numeric(source: str, fields: Sequence[str]) -> NumericExpression:
    root = _Parser(_prepare(source), fields).parse()
    _check(root, False, source)
    return NumericExpression(source, root)


# --- evaluation -------------------------------------------------------------------------------


def _value(node: Node, values: Mapping[str, FloatArray]) -> FloatArray:
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        if isinstance(node, Number):
            size = len(next(iter(values.values()))) if values else 0
            return np.full(size, node.value)
        if isinstance(node, Field):
            return np.asarray(values[node.name], dtype=np.float64)
        if isinstance(node, Negate):
            return -_value(node.operand, values)
        if isinstance(node, Arithmetic):
            left, right = _value(node.left, values), _value(node.right, values)
            result: FloatArray
            if node.op == "+":
                result = left + right
            elif node.op == "-":
                result = left - right
            elif node.op == "*":
                result = left * right
            else:
                result = left / right
            # x / 0 is "unknown", not infinity.
            return np.where(np.isfinite(result), result, np.nan)
        if isinstance(node, Call):
            args = [_value(a, values) for a in node.args]
            if node.function == "abs":
                return np.abs(args[0])
            if node.function == "min":
                return np.minimum(args[0], args[1])
            return np.maximum(args[0], args[1])
    raise TypeError(f"not a numeric node: {node!r}")


def _truth(node: Node, values: Mapping[str, FloatArray]) -> tuple[BoolArray, BoolArray]:
    """(true, known) masks; `true` implies `known` (Kleene three-valued logic)."""
    if isinstance(node, Compare):
        operands = [_value(o, values) for o in node.operands]
        truth: BoolArray | None = None
        known: BoolArray | None = None
        for op, left, right in zip(node.ops, operands, operands[1:], strict=False):
            k = np.isfinite(left) & np.isfinite(right)
            with np.errstate(invalid="ignore"):
                t = _COMPARISONS[op](left, right) & k
            truth, known = (t, k) if truth is None or known is None else _and((truth, known), (t, k))
        assert truth is not None and known is not None
        return truth, known
    if isinstance(node, Logical):
        parts = [_truth(o, values) for o in node.operands]
        combined = parts[0]
        for part in parts[1:]:
            combined = _and(combined, part) if node.op == "and" else _or(combined, part)
        return combined
    if isinstance(node, Not):
        truth, known = _truth(node.operand, values)
        return ~truth & known, known
    raise TypeError(f"not a condition node: {node!r}")


def _and(a: tuple[BoolArray, BoolArray], b: tuple[BoolArray, BoolArray]) -> tuple[BoolArray, BoolArray]:
    (at, ak), (bt, bk) = a, b
    false_a, false_b = ak & ~at, bk & ~bt
    return at & bt, (ak & bk) | false_a | false_b


def _or(a: tuple[BoolArray, BoolArray], b: tuple[BoolArray, BoolArray]) -> tuple[BoolArray, BoolArray]:
    (at, ak), (bt, bk) = a, b
    return at | bt, (ak & bk) | at | bt
