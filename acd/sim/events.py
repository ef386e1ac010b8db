"""Events and their delivery to AMI sessions.

In Asterisk, events travel from the core to each manager session through stasis and the
session's own thread, so they reach a client a little after the action responses written in
the same instant: a ``Setvar`` response comes before its ``VarSet``, and five pipelined actions
are all answered before the ``RequestBadFormat`` one of them caused (errors.ami). The
:class:`EventBus` reproduces that by delivering on the next turn of the event loop.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from acd.sim.protocol import Header, encode

# include/asterisk/manager.h: EVENT_FLAG_*, in the order of manager.c's perms[] table.
PERMISSIONS: dict[str, int] = {
    "system": 1 << 0,
    "call": 1 << 1,
    "log": 1 << 2,
    "verbose": 1 << 3,
    "command": 1 << 4,
    "agent": 1 << 5,
    "user": 1 << 6,
    "config": 1 << 7,
    "dtmf": 1 << 8,
    "reporting": 1 << 9,
    "cdr": 1 << 10,
    "dialplan": 1 << 11,
    "originate": 1 << 12,
    "agi": 1 << 13,
    "cc": 1 << 14,
    "aoc": 1 << 15,
    "test": 1 << 16,
    "security": 1 << 17,
    "message": 1 << 18,
}
# A new session receives everything (send_events = -1); "on" and "all" mean INT_MAX.
ALL_PERMISSIONS = -1
INT_MAX = 2147483647
_TRUE = ("yes", "true", "y", "t", "1", "on")
_FALSE = ("no", "false", "n", "f", "0", "off")


def event_mask(text: str) -> int:
    """manager.c's strings_to_mask: a number, on/off, or ``system,call,...``; -1 if empty.

    As in Asterisk, unknown names count for nothing: ``EventMask: nonsense`` turns events off.
    """
    text = text.strip()
    if not text:
        return -1
    if text.isdigit():
        return int(text)
    if text.lower() in _FALSE:
        return 0
    if text.lower() in _TRUE:
        return INT_MAX
    tokens = {token.strip().lower() for token in text.split(",")}
    if "all" in tokens:
        return INT_MAX
    mask = 0
    for name, bit in PERMISSIONS.items():
        if name in tokens:
            mask |= bit
    return mask


@dataclass(frozen=True)
class AmiEvent:
    """One event: its name, its permission class and its headers after ``Privilege``."""

    name: str
    category: str
    headers: tuple[Header, ...]
    privileged: bool = True  # list items (CoreShowChannel, ...) carry no Privilege header
    wire: bytes = field(default=b"", compare=False)

    @classmethod
    def build(
        cls, name: str, category: str, headers: Sequence[Header], privileged: bool = True
    ) -> AmiEvent:
        """An event with its bytes encoded once for every session."""
        lines: list[Header] = [("Event", name)]
        if privileged:
            lines.append(("Privilege", f"{category},all"))
        lines.extend(headers)
        return cls(name, category, tuple(headers), privileged, encode(lines))

    @property
    def bit(self) -> int:
        """The EVENT_FLAG_* bit a session needs in its read and event masks."""
        return PERMISSIONS.get(self.category, 0)


class Subscriber(Protocol):
    """Something that receives every event, in order (an AMI session)."""

    def deliver(self, events: Sequence[AmiEvent]) -> None:
        """Take a batch of events published since the last delivery."""


class EventBus:
    """Collects published events and hands them to every subscriber one loop turn later."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._pending: list[AmiEvent] = []
        self._handle: asyncio.Handle | None = None
        self.published = 0

    def subscribe(self, subscriber: Subscriber) -> None:
        """Start receiving events published from now on."""
        self._subscribers.append(subscriber)

    def unsubscribe(self, subscriber: Subscriber) -> None:
        """Stop receiving events."""
        if subscriber in self._subscribers:
            self._subscribers.remove(subscriber)

    def publish(self, event: AmiEvent) -> None:
        """Queue ``event`` for every subscriber."""
        self.published += 1
        self._pending.append(event)
        if self._handle is None:
            self._handle = asyncio.get_running_loop().call_soon(self._dispatch)

    def clear(self) -> None:
        """Forget events not yet delivered (Asterisk going down)."""
        self._pending.clear()
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def _dispatch(self) -> None:
        self._handle = None
        events, self._pending = self._pending, []
        for subscriber in list(self._subscribers):
            subscriber.deliver(events)
