"""``${VAR}``, ``${FUNC(args)}``, ``${VAR:offset:length}`` and ``$[expr]`` substitution.

A port of ``pbx_substitute_variables_helper_full`` (main/pbx_variables.c): the text inside
``${...}`` or ``$[...]`` is substituted first, then looked up or evaluated, and the result is
not substituted again. Unknown variables and functions become ''.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Protocol
from urllib.parse import quote, unquote

from acd.sim.expressions import evaluate, separate_args

log = logging.getLogger(__name__)

# ast_uri_encode with ast_uri_http: letters, digits and RFC 2396 marks stay, the rest is %XX.
_URI_SAFE = "-_.!~*'()"


class Scope(Protocol):
    """Where names are looked up: a channel's variables, built-ins and globals."""

    def variable(self, name: str) -> str | None:
        """A variable's value, None when it is not set."""

    def function(self, name: str, argument: str) -> str | None:
        """A channel-dependent dialplan function (CALLERID, ...), None when unknown."""


def check_condition(text: str) -> bool:
    """pbx_checkcondition: '' is false, a leading integer is its value, other text is true."""
    text = text.strip()
    if not text:
        return False
    digits = ""
    for index, char in enumerate(text):
        if char.isdigit() or (index == 0 and char in "+-"):
            digits += char
        else:
            break
    if digits.lstrip("+-"):
        return int(digits) != 0
    return True


def _if(argument: str) -> str:
    parts = separate_args(argument, "?", limit=2)
    condition = parts[0] if parts else ""
    branches = separate_args(parts[1], ":", limit=2) if len(parts) > 1 else []
    when_true = branches[0].strip() if branches else ""
    when_false = branches[1].strip() if len(branches) > 1 else ""
    return when_true if check_condition(condition) else when_false


_FUNCTIONS: dict[str, Callable[[str], str]] = {
    "IF": _if,
    "URIENCODE": lambda text: quote(text, safe=_URI_SAFE),
    "URIDECODE": lambda text: unquote(text),
    "LEN": lambda text: str(len(text)),
    "ISNULL": lambda text: "0" if text else "1",
    "EXISTS": lambda text: "1" if text else "0",
    "TOUPPER": str.upper,
    "TOLOWER": str.lower,
}


def strftime(now: float, argument: str) -> str:
    """STRFTIME(epoch,timezone,format) (funcs/func_strings.c, ast_strftime): an empty epoch is
    now; ``%q`` is milliseconds, ``%1q``..``%6q`` that many decimals of the second."""
    args = separate_args(argument)
    try:
        when = float(args[0]) if args and args[0].strip() else now
    except ValueError:
        when = now
    text = args[2] if len(args) > 2 and args[2] else "%c"
    out: list[str] = []
    i = 0
    while i < len(text):
        decimals = 0
        if text[i] == "%" and text[i + 1 : i + 2] == "q":
            decimals, width = 3, 2
        elif text[i] == "%" and text[i + 1 : i + 2] in "123456" and text[i + 2 : i + 3] == "q":
            decimals, width = int(text[i + 1]), 3
        if decimals:
            fraction = int((when - int(when)) * 10**decimals)
            out.append(f"{fraction:0{decimals}d}")
            i += width
        elif text[i : i + 2] == "%s":
            out.append(str(int(when)))
            i += 2
        elif text[i] == "%" and i + 1 < len(text):
            out.append(text[i : i + 2])
            i += 2
        else:
            out.append(text[i])
            i += 1
    return time.strftime("".join(out), time.localtime(when))


def call_function(name: str, argument: str, scope: Scope) -> str:
    """Run a dialplan function; unknown ones log a warning and give '' as in Asterisk."""
    builtin = _FUNCTIONS.get(name.upper())
    if builtin is not None:
        return builtin(argument)
    value = scope.function(name.upper(), argument)
    if value is None:
        log.warning("dialplan function %s is not simulated", name)
        return ""
    return value


def _substring(value: str, spec: str) -> str:
    """``${VAR:offset:length}`` (negative offsets count from the end)."""
    offset_text, _, length_text = spec.partition(":")
    try:
        offset = int(offset_text or 0)
        length = int(length_text) if length_text else None
    except ValueError:
        return value
    start = max(0, len(value) + offset) if offset < 0 else offset
    if length is None:
        return value[start:]
    end = len(value) + length if length < 0 else start + length
    return value[start:end]


def _resolve(name: str, scope: Scope) -> str:
    parens = 0
    for index, char in enumerate(name):
        if char == "(":
            parens += 1
        elif char == ")":
            parens -= 1
        elif char == ":" and parens == 0:
            return _substring(_resolve(name[:index], scope), name[index + 1 :])
    if name.endswith(")") and "(" in name:
        open_at = name.index("(")
        return call_function(name[:open_at], name[open_at + 1 : -1], scope)
    value = scope.variable(name)
    return "" if value is None else value


def _closing(text: str, start: int, opening: str, closing: str) -> tuple[int, bool, bool]:
    """Index just past the matching bracket, whether a '$' nests inside, whether it closed."""
    depth, nested, i = 1, False, start
    other = "[" if opening == "{" else "{"
    while depth and i < len(text):
        if text[i] == "$" and text[i + 1 : i + 2] == opening:
            nested, depth, i = True, depth + 1, i + 1
        elif text[i] == "$" and text[i + 1 : i + 2] == other:
            nested, i = True, i + 1
        elif text[i] == opening:
            depth += 1
        elif text[i] == closing:
            depth -= 1
        i += 1
    return i, nested, depth == 0


def substitute(text: str, scope: Scope) -> str:
    """Replace every ``${...}`` and ``$[...]`` in ``text``."""
    out: list[str] = []
    i = 0
    while i < len(text):
        start = text.find("$", i)
        while start >= 0 and text[start + 1 : start + 2] not in ("{", "["):
            start = text.find("$", start + 1)
        if start < 0:
            out.append(text[i:])
            break
        out.append(text[i:start])
        opening = text[start + 1]
        closing = "}" if opening == "{" else "]"
        end, nested, closed = _closing(text, start + 2, opening, closing)
        inner = text[start + 2 : end - 1] if closed else text[start + 2 :]
        if nested:
            inner = substitute(inner, scope)
        out.append(_resolve(inner, scope) if opening == "{" else evaluate(inner))
        i = end
    return "".join(out)
