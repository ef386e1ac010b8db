"""manager.conf ``eventfilter`` lines, applied to the events a user's sessions receive.

After main/manager.c (manager_add_filter, filter_cmp_fn, should_send_event) of Asterisk 22:
an advanced filter ``eventfilter(action(include|exclude),name(E),header(H),method(M)) = V``
matches events named E whose header H (every line starting ``H:``) or, without a header, whose
whole text matches V by M (regex by default for legacy filters, none for advanced ones); a
legacy ``eventfilter = V`` is a regex over the whole event, ``!V`` excludes. With include
filters only, an event must match one; with exclude filters only, it must match none; with
both, it must match an include and no exclude. Action responses and list items are written to
the session directly and are never filtered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from acd.sim.events import AmiEvent

_ADVANCED = re.compile(r"^eventfilter\((?P<options>.*)\)$")


@dataclass(frozen=True, slots=True)
class EventFilter:
    """One filter line."""

    exclude: bool
    method: str  # regex, exact, starts_with, ends_with, contains, none
    pattern: str
    name: str = ""
    header: str = ""  # with its colon, as manager.c stores it

    def matches(self, event: AmiEvent, text: str) -> bool:
        """Whether ``event`` (whose wire form is ``text``) matches."""
        if self.name and event.name != self.name:
            return False
        if not self.header:
            return self._match(text)
        for line in text.split("\r\n"):
            if line.startswith(self.header):
                value = line[len(self.header) :].lstrip(" \t")
                if value and self._match(value):
                    return True
        return False

    def _match(self, data: str) -> bool:
        match self.method:
            case "regex":
                return re.search(self.pattern, data) is not None
            case "starts_with":
                return data.startswith(self.pattern)
            case "ends_with":
                return data.endswith(self.pattern)
            case "contains":
                return self.pattern in data
            case "exact":
                return data == self.pattern
        return True  # none


@dataclass(frozen=True, slots=True)
class EventFilters:
    """A user's filters: should_send_event."""

    include: tuple[EventFilter, ...] = ()
    exclude: tuple[EventFilter, ...] = ()

    def allows(self, event: AmiEvent) -> bool:
        if not (self.include or self.exclude):
            return True
        text = event.wire.decode("utf-8", "replace")
        if self.include and not any(f.matches(event, text) for f in self.include):
            return False
        return not any(f.matches(event, text) for f in self.exclude)


def parse_filter(criteria: str, value: str) -> EventFilter:
    """One ``criteria = value`` line; ValueError if manager.c would refuse it."""
    exclude = value.startswith("!")
    pattern = value[1:] if exclude else value
    found = _ADVANCED.match(criteria.strip())
    if found is None:
        if criteria.strip() != "eventfilter" or not pattern:
            raise ValueError(f"not an event filter: {criteria} = {value}")
        return EventFilter(exclude, "regex", pattern)
    name = header = ""
    method = "none"
    for option in filter(None, re.split(r"[ ,)]+", found.group("options"))):
        key, _, argument = option.partition("(")
        argument = argument.strip()
        if key == "action" and argument in ("include", "exclude"):
            exclude = argument == "exclude"
        elif key == "name" and argument:
            name = argument
        elif key == "header" and argument:
            header = argument if argument.endswith(":") else argument + ":"
        elif key == "method" and argument in (
            "regex",
            "exact",
            "starts_with",
            "ends_with",
            "contains",
            "none",
        ):
            method = argument
        else:
            raise ValueError(f"filter option {option!r} is unknown")
    if (method == "none") != (not pattern) or not (name or header or pattern):
        raise ValueError(f"filter method {method!r} does not fit the pattern {pattern!r}")
    return EventFilter(exclude, method, pattern, name, header)


def load_user_filters(manager_conf: Path, user: str) -> EventFilters:
    """The event filters of ``[user]`` in a manager.conf."""
    section = ""
    include: list[EventFilter] = []
    exclude: list[EventFilter] = []
    for raw in manager_conf.read_text(encoding="utf-8").splitlines():
        line = raw.split(";", 1)[0].strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1].strip()
        elif section.lower() == user.lower() and line.startswith("eventfilter"):
            criteria, _, value = line.partition("=")
            parsed = parse_filter(criteria.strip(), value.strip())
            (exclude if parsed.exclude else include).append(parsed)
    return EventFilters(tuple(include), tuple(exclude))
