"""AMI wire format: the messages a client sends and the way the simulator writes replies.

Asterisk keeps an action as the list of raw lines it received and looks headers up the way
``astman_get_header`` in main/manager.c does: the name, case-insensitively, immediately followed
by ``:``; the value with leading blanks skipped; the first match wins. A line without ``:``
is kept but never matches anything, so it cannot break a message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from acd.sim.expressions import separate_args

Header = tuple[str, str]

BANNER = b"Asterisk Call Manager/11.0.0\r\n"
EOL = "\r\n"
# main/manager.c: AST_MAX_MANHEADERS and the size of a session's input buffer.
MAX_HEADERS = 128
MAX_LINE = 1024


def encode(headers: Iterable[Header]) -> bytes:
    """One AMI message: ``Name: value`` lines with ``\\r\\n`` ends and a blank line after."""
    text = "".join(f"{name}: {value}{EOL}" for name, value in headers) + EOL
    return text.encode("utf-8", errors="surrogateescape")


@dataclass
class ActionMessage:
    """One action a client sent, as the raw lines Asterisk keeps for it."""

    lines: list[str] = field(default_factory=list)
    too_many_lines: bool = False
    line_too_long: bool = False

    def add_line(self, line: str) -> None:
        """Keep a header line, up to manager.c's limit on the number of lines."""
        if len(self.lines) < MAX_HEADERS:
            self.lines.append(line)
        else:
            self.too_many_lines = True

    def get(self, name: str, *, skip_empty: bool = False) -> str:
        """The first header called ``name`` ('' when absent), as astman_get_header reads it."""
        for value in self._values(name):
            if skip_empty and not value:
                continue
            return value
        return ""

    def get_all(self, name: str) -> list[str]:
        """Every value of a repeated header, in order."""
        return list(self._values(name))

    def _values(self, name: str) -> Iterable[str]:
        size = len(name)
        for line in self.lines:
            if line[:size].lower() == name.lower() and line[size : size + 1] == ":":
                yield line[size + 1 :].lstrip(" \t")

    @property
    def action(self) -> str:
        """The action's name; manager.c skips empty ``Action:`` headers."""
        return self.get("Action", skip_empty=True)

    @property
    def action_id(self) -> str:
        """The ActionID to echo, '' when the client sent none."""
        return self.get("ActionID")

    def variables(self) -> list[tuple[str, str]]:
        """``Variable: a=1,b=2`` headers as ``[("a", "1"), ("b", "2")]``, in the order sent.

        Like astman_get_variables, each header is split on commas (quotes keep commas) and every
        ``name=value`` part becomes one variable.
        """
        pairs: list[tuple[str, str]] = []
        for value in self.get_all("Variable"):
            for part in separate_args(value):
                name, sep, content = part.strip(" \t").partition("=")
                if sep and name:
                    pairs.append((name, content))
        return pairs


def response(kind: str, action_id: str, extra: Sequence[Header] = ()) -> list[Header]:
    """``Response: kind`` with the ActionID when there is one, as astman_send_response does."""
    headers: list[Header] = [("Response", kind)]
    if action_id:
        headers.append(("ActionID", action_id))
    headers.extend(extra)
    return headers


def with_action_id(headers: Sequence[Header], action_id: str) -> list[Header]:
    """Append ``ActionID`` to a list item when the client sent one."""
    return [*headers, ("ActionID", action_id)] if action_id else list(headers)
