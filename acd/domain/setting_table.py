"""Reading one table of settings (a TOML table of the file, or an HTTP body) by name.

Every getter names the path of what it reads, so a bad value is reported where it is
(``queues[0].wrap_up_seconds``), and :meth:`SettingTable.expect` refuses, before anything is
read, a key that is not a setting, with the nearest known name: a typo never silently means
the default, nor shows up as a "missing" setting it was meant to be.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from enum import StrEnum
from typing import Any, TypeVar

from acd.domain.names import check_skill_name
from acd.domain.skills import MAX_LEVEL, MIN_LEVEL
from acd.errors import InvalidInput, SettingError

E = TypeVar("E", bound=StrEnum)


class Secret(str):
    """A string that never shows itself in repr, logs or tracebacks."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"


def nearest_known(key: str, known: Collection[str]) -> str:
    """``did you mean port?``, or the known names when none is close to ``key``."""
    # Compared without separators: "wrapup" is near "wrap_up_seconds" as a reader sees it.
    plain = {name.replace("_", "").lower(): name for name in known}
    close = difflib.get_close_matches(key.replace("_", "").lower(), sorted(plain), n=1, cutoff=0.6)
    if close:
        return f"did you mean {plain[close[0]]}?"
    return f"known: {', '.join(sorted(known))}"


class SettingTable:
    """One table of settings: ``where`` is the table's own path (``queues[0]``, '' for an HTTP
    body), ``path`` the position of this table inside it (``steps[1]``)."""

    def __init__(self, raw: object, where: str = "", path: str = "") -> None:
        if not isinstance(raw, Mapping):
            raise SettingError("", _join(where, path), "must be a table")
        self.raw: Mapping[str, Any] = raw
        self.where = where
        self.path = path

    def field(self, key: str) -> str:
        """The path of ``key`` inside the table ``where`` names."""
        return _join(self.path, key)

    def error(self, key: str, reason: str) -> SettingError:
        """The error naming ``key`` of this table."""
        return SettingError(self.where, self.field(key), reason)

    def expect(self, keys: Iterable[str]) -> SettingTable:
        """This table, if it has no key but ``keys``; else the error naming the first other
        one with the nearest of ``keys``."""
        known = set(keys)
        for key in sorted(set(self.raw) - known):
            raise self.error(key, f"unknown setting ({nearest_known(key, known)})")
        return self

    def value(self, key: str, default: Any) -> Any:
        """``key``'s value as it is, for settings with a shape of their own."""
        return self.raw.get(key, default)

    def has(self, key: str) -> bool:
        """Whether the table gives ``key``."""
        return key in self.raw

    def text(self, key: str, default: str) -> str:
        value = self.value(key, default)
        if not isinstance(value, str):
            raise self.error(key, "must be a string")
        return value

    def checked(
        self,
        key: str,
        check: Callable[[str, str], str],
        default: str = "",
        *,
        optional: bool = False,
    ) -> str:
        """A string that passes ``check`` (a name, a dial string); '' is let through when
        ``optional``."""
        value = self.value(key, default)
        if optional and value == "":
            return ""
        return self.check(key, check, value)

    def choice(self, key: str, enum: type[E], default: E) -> E:
        text = self.text(key, default.value)
        try:
            return enum(text)
        except ValueError:
            choices = ", ".join(e.value for e in enum)
            raise self.error(key, f"must be one of {choices}") from None

    def flag(self, key: str, default: bool) -> bool:
        value = self.value(key, default)
        if not isinstance(value, bool):
            raise self.error(key, "must be true or false")
        return value

    def number(self, key: str, default: float, *, low: float, high: float | None = None) -> float:
        value = self.value(key, default)
        try:
            number = float(value)
        except (TypeError, ValueError, OverflowError):
            raise self.error(key, f"must be a number, got {value!r}") from None
        if not math.isfinite(number):
            raise self.error(key, f"must be a finite number, got {value!r}")
        if number < low or (high is not None and number > high):
            bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
            raise self.error(key, f"must be {bound}, got {value!r}")
        return number

    def whole(self, key: str, default: int, *, low: int, high: int | None = None) -> int:
        """A number of the same checks, as a whole number (fractions are cut off)."""
        return int(self.number(key, default, low=low, high=high))

    def port(self, key: str, default: int) -> int:
        value = self.value(key, default)
        try:
            port = int(value)
        except (TypeError, ValueError):
            raise self.error(key, f"must be a port number, got {value!r}") from None
        if not 0 <= port <= 65535:
            raise self.error(key, f"must be a port number 0-65535, got {value!r}")
        return port

    def strings(self, key: str) -> list[str]:
        value = self.value(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise self.error(key, "must be a list of strings")
        return value

    def names(self, key: str, check: Callable[[str, str], str]) -> tuple[str, ...]:
        """A list of strings, each passing ``check``."""
        return tuple(self.check(key, check, name) for name in self.strings(key))

    def levels(self, key: str, low: int = MIN_LEVEL) -> dict[str, int]:
        """A table of skill = level (``low``-10)."""
        table = self.value(key, {})
        if not isinstance(table, Mapping):
            raise self.error(key, "must be a table of skill = level")
        skills: dict[str, int] = {}
        for name, level in table.items():
            self.check(key, check_skill_name, name)
            if not whole_number(level) or not low <= level <= MAX_LEVEL:
                raise self.error(f"{key}.{name}", f"level must be a whole number {low}-{MAX_LEVEL}")
            skills[name] = level
        return skills

    def table(self, key: str) -> SettingTable:
        """The table under ``key`` (empty when not given)."""
        return SettingTable(self.value(key, {}), self.where, self.field(key))

    def tables(self, key: str) -> list[SettingTable]:
        """The array of tables under ``key`` (``[[queues.steps]]``), each with its index."""
        value = self.value(key, [])
        if not isinstance(value, list):
            raise self.error(key, f"must be an array of tables ([[{key}]])")
        return [
            SettingTable(item, self.where, self.field(f"{key}[{index}]"))
            for index, item in enumerate(value)
        ]

    def check(self, key: str, check: Callable[[str, str], str], value: Any) -> str:
        """``value``, found under ``key``, if it passes ``check``; else the error naming it."""
        try:
            return str(check(self.field(key), value))
        except InvalidInput as exc:
            raise SettingError(self.where, exc.field, exc.reason) from None


def whole_number(value: object) -> bool:
    """True for an int that is not a bool (JSON and TOML both have ``true``)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _join(path: str, key: str) -> str:
    if not path:
        return key
    return f"{path}{key}" if key.startswith("[") else f"{path}.{key}"
