"""The dialplan's small languages: application arguments and ``$[ ... ]`` expressions.

:func:`separate_args` is a port of ``__ast_app_separate_args`` (main/app.c): commas split,
except inside double quotes, parentheses or brackets; quotes and backslashes are removed.
:func:`evaluate` follows main/ast_expr2.y: ``|``, ``&``, comparisons, ``+ - * / %``, unary
``-`` and ``!``, the regex operators ``:`` and ``=~``, ``?:`` (written ``cond ? a :: b``),
quoted strings; two values compare as numbers only when both look like numbers.
"""

from __future__ import annotations

import logging
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger(__name__)

_OPERATORS = (
    "::",
    "=~",
    "!=",
    "<=",
    ">=",
    "==",
    "|",
    "&",
    "=",
    "<",
    ">",
    "+",
    "-",
    "*",
    "/",
    "%",
    "?",
    ":",
    "!",
    "(",
    ")",
)
# ast_expr2.fl: a bare token runs until a blank, a quote or an operator character.
_TOKEN_END = set(' \t\r\n"|&=><+-*/%?!():')
_ORDER: dict[str, Callable[[Any, Any], bool]] = {
    "=": operator.eq,
    "==": operator.eq,
    "!=": operator.ne,
    "<": operator.lt,
    ">": operator.gt,
    "<=": operator.le,
    ">=": operator.ge,
}
# The value main/ast_expr2.y returns for a division by zero.
_INT_MAX = 2147483647


def separate_args(
    text: str, delim: str = ",", *, remove_chars: bool = True, limit: int = 1024
) -> list[str]:
    """Split application arguments the way Asterisk does (at most ``limit`` of them)."""
    args: list[str] = []
    i, size = 0, len(text)
    paren = bracket = 0
    quote = False
    ended_on_delim = False
    while i < size and len(args) < limit - 1:
        current: list[str] = []
        ended_on_delim = False
        while i < size:
            char = text[i]
            if char == "\\":
                if not remove_chars:
                    current.append(char)
                if i + 1 < size:
                    current.append(text[i + 1])
                i += 2
                continue
            if char == '"' and delim != '"':
                quote = not quote
                if not remove_chars:
                    current.append(char)
            elif char == delim and not paren and not quote and not bracket:
                i += 1
                ended_on_delim = True
                break
            else:
                paren += char == "("
                paren -= char == ")" and paren > 0
                bracket += char == "["
                bracket -= char == "]" and bracket > 0
                current.append(char)
            i += 1
        args.append("".join(current))
    if i < size:
        args.append(text[i:])
    elif ended_on_delim:
        args.append("")
    return args


def looks_numeric(text: str) -> bool:
    """ast_expr2's test: digits and dots, optionally led by '-' or '.'."""
    if not text or not (text[0].isdigit() or text[0] in "-."):
        return False
    return all(char.isdigit() or char == "." for char in text[1:])


def format_number(value: float) -> str:
    """Numbers as the expression parser prints them: integers without a decimal point."""
    if value == int(value) and abs(value) < 1e18:
        return str(int(value))
    return f"{value:.15g}"


@dataclass(frozen=True)
class _Value:
    text: str
    number: float | None = None  # set for results of arithmetic and comparisons

    @staticmethod
    def of(number: float) -> _Value:
        return _Value(format_number(number), number)

    def as_number(self) -> float | None:
        if self.number is not None:
            return self.number
        if looks_numeric(self.text):
            try:
                return float(self.text)
            except ValueError:
                return 0.0 if self.text in ("-", ".", "-.") else None
        return None

    def is_string(self) -> bool:
        return self.number is None and not looks_numeric(self.text)

    def is_zero_or_null(self) -> bool:
        number = self.as_number()
        return number == 0 if number is not None else not self.text


class ExpressionError(ValueError):
    """A ``$[ ... ]`` expression Asterisk would reject with a syntax error."""


def _tokenize(expr: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    i, size = 0, len(expr)
    while i < size:
        char = expr[i]
        if char in " \t\r\n":
            i += 1
        elif char == '"':
            end = expr.find('"', i + 1)
            if end < 0:
                raise ExpressionError("unterminated quoted string")
            tokens.append(("str", expr[i + 1 : end]))
            i = end + 1
        else:
            for op in _OPERATORS:
                if expr.startswith(op, i):
                    tokens.append(("op", op))
                    i += len(op)
                    break
            else:
                start = i
                while i < size and expr[i] not in _TOKEN_END:
                    i += 1
                tokens.append(("str", expr[start:i]))
    return tokens


class _Parser:
    """Recursive descent over ast_expr2.y's precedence levels, lowest first."""

    def __init__(self, tokens: list[tuple[str, str]]) -> None:
        self.tokens = tokens
        self.pos = 0

    def peek(self) -> str | None:
        if self.pos < len(self.tokens) and self.tokens[self.pos][0] == "op":
            return self.tokens[self.pos][1]
        return None

    def take(self, op: str) -> bool:
        if self.peek() == op:
            self.pos += 1
            return True
        return False

    def parse(self) -> _Value:
        if not self.tokens:
            return _Value("")
        value = self.conditional()
        if self.pos != len(self.tokens):
            raise ExpressionError(f"unexpected {self.tokens[self.pos][1]!r}")
        return value

    def conditional(self) -> _Value:
        condition = self.logical_or()
        if not self.take("?"):
            return condition
        when_true = self.conditional()
        if not self.take("::"):
            raise ExpressionError("'?' without '::'")
        when_false = self.conditional()
        if condition.is_string():
            chosen = condition.text not in ("", '""', "0")
        else:
            chosen = bool(condition.as_number())
        return when_true if chosen else when_false

    def logical_or(self) -> _Value:
        left = self.logical_and()
        while self.take("|"):
            right = self.logical_and()
            left = right if left.is_zero_or_null() else left
        return left

    def logical_and(self) -> _Value:
        left = self.comparison()
        while self.take("&"):
            right = self.comparison()
            left = _Value.of(0) if left.is_zero_or_null() or right.is_zero_or_null() else left
        return left

    def comparison(self) -> _Value:
        left = self.additive()
        while (op := self.peek()) in _ORDER:
            self.pos += 1
            left = _compare(op, left, self.additive())
        return left

    def additive(self) -> _Value:
        left = self.multiplicative()
        while (op := self.peek()) in ("+", "-"):
            self.pos += 1
            left = _arithmetic(op, left, self.multiplicative())
        return left

    def multiplicative(self) -> _Value:
        left = self.unary()
        while (op := self.peek()) in ("*", "/", "%"):
            self.pos += 1
            left = _arithmetic(op, left, self.unary())
        return left

    def unary(self) -> _Value:
        if self.take("-"):
            number = self.unary().as_number()
            return _Value.of(-number if number is not None else 0)
        if self.take("!"):
            operand = self.unary()
            if operand.is_string():
                return _Value.of(1 if operand.text in ("", "0") else 0)
            return _Value.of(1 if not operand.as_number() else 0)
        return self.regex()

    def regex(self) -> _Value:
        left = self.primary()
        while (op := self.peek()) in (":", "=~"):
            self.pos += 1
            pattern = self.primary().text
            found = (re.match if op == ":" else re.search)(pattern, left.text)
            if re.compile(pattern).groups:
                left = _Value((found.group(1) or "") if found else "")
            else:
                left = _Value.of(len(found.group(0)) if found else 0)
        return left

    def primary(self) -> _Value:
        if self.take("("):
            value = self.conditional()
            if not self.take(")"):
                raise ExpressionError("missing ')'")
            return value
        if self.pos >= len(self.tokens) or self.tokens[self.pos][0] != "str":
            raise ExpressionError("missing operand")
        self.pos += 1
        return _Value(self.tokens[self.pos - 1][1])


def _compare(op: str, left: _Value, right: _Value) -> _Value:
    test = _ORDER[op]
    if left.is_string() or right.is_string():
        result = test(left.text, right.text)
    else:
        result = test(left.as_number() or 0.0, right.as_number() or 0.0)
    return _Value.of(1 if result else 0)


def _arithmetic(op: str, left: _Value, right: _Value) -> _Value:
    a, b = left.as_number(), right.as_number()
    if a is None or b is None:  # ast_expr2 drops a non-numeric operand, with a warning
        log.warning("non-numeric argument in dialplan expression")
        return right if a is None and b is not None else left if b is not None else _Value.of(0)
    if op in ("/", "%") and b == 0:
        log.warning("division by zero in dialplan expression")
        return _Value.of(_INT_MAX)
    if op == "+":
        return _Value.of(a + b)
    if op == "-":
        return _Value.of(a - b)
    if op == "*":
        return _Value.of(a * b)
    if op == "/":
        return _Value.of(a / b)
    return _Value.of(math.fmod(a, b))


def evaluate(expr: str) -> str:
    """The value of ``$[expr]``; '' (and a warning) when Asterisk would report an error."""
    try:
        return _Parser(_tokenize(expr)).parse().text
    except (ExpressionError, re.error) as exc:
        log.warning("dialplan expression %r: %s", expr, exc)
        return ""
