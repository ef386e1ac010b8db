"""extensions.conf, read the way pbx_config does, and dialplan lookups.

Supported: ``[context]``, ``exten => name,priority,App(args)``, ``same => ...``, priorities
``1``/``n``/``n(label)``, patterns (``_`` with X, Z, N, ``[...]``, ``.``, ``!``), ``include =>``,
``#include``, ``[globals]``, and ``;`` comments (``\\;`` is a literal semicolon).
Contexts of the same name are merged as pbx_config merges them: a priority already defined
stays as it was first written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from acd.sim.expressions import separate_args


class DialplanError(ValueError):
    """A dialplan file the simulator cannot read."""


@dataclass(frozen=True)
class Step:
    """One priority: the application and its arguments as written (not yet substituted)."""

    priority: int
    app: str
    args: str
    label: str | None = None


@dataclass
class Extension:
    """The steps of one extension (or pattern) of a context."""

    name: str
    steps: dict[int, Step] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    last_priority: int = 0
    pattern: re.Pattern[str] | None = None


@dataclass
class Context:
    """A dialplan context: its extensions, in the order they were written, and includes."""

    name: str
    extensions: dict[str, Extension] = field(default_factory=dict)
    includes: list[str] = field(default_factory=list)


def _pattern(name: str) -> re.Pattern[str]:
    """``_8XXX`` -> a regular expression matching whole extensions."""
    out, i = [], 1
    while i < len(name):
        char = name[i]
        if char in "Xx":
            out.append("[0-9]")
        elif char in "Zz":
            out.append("[1-9]")
        elif char in "Nn":
            out.append("[2-9]")
        elif char == ".":
            out.append(".+")
        elif char == "!":
            out.append(".*")
        elif char == "[":
            end = name.find("]", i)
            if end < 0:
                raise DialplanError(f"pattern {name}: missing ']'")
            out.append("[" + name[i + 1 : end].replace("\\", "\\\\") + "]")
            i = end
        else:
            out.append(re.escape(char))
        i += 1
    return re.compile("".join(out) + r"\Z")


def _strip_comment(line: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(line):
        if line[i] == "\\" and line[i + 1 : i + 2] == ";":
            out.append(";")
            i += 2
            continue
        if line[i] == ";":
            break
        out.append(line[i])
        i += 1
    return "".join(out).strip()


def parse_app(text: str) -> tuple[str, str]:
    """``Dial(PJSIP/1001,15)`` -> ``("Dial", "PJSIP/1001,15")``; ``Answer`` -> ("Answer", "")."""
    text = text.strip()
    if "(" not in text:
        name, _, args = text.partition(",")
        return name.strip(), args
    name, _, rest = text.partition("(")
    return name.strip(), rest[:-1] if rest.endswith(")") else rest


class Dialplan:
    """Every context read from the files, with Asterisk's lookup rules."""

    def __init__(self) -> None:
        self.contexts: dict[str, Context] = {}
        self.globals: dict[str, str] = {}

    @classmethod
    def load(cls, paths: list[Path]) -> Dialplan:
        """Read ``paths`` in order into one dialplan."""
        dialplan = cls()
        for path in paths:
            dialplan._read(Path(path), depth=0)
        return dialplan

    def _read(self, path: Path, depth: int) -> None:
        if depth > 10:
            raise DialplanError(f"{path}: #include nested too deep")
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise DialplanError(f"cannot read dialplan {path}: {exc}") from exc
        context: Context | None = None
        last: Extension | None = None
        for number, raw in enumerate(lines, 1):
            if raw.lstrip().startswith("#include"):
                target = raw.split(None, 1)[1].strip().strip('"<>') if " " in raw.strip() else ""
                self._read(path.parent / target, depth + 1)
                continue
            line = _strip_comment(raw)
            if not line:
                continue
            where = f"{path}:{number}"
            if line.startswith("["):
                name = line[1 : line.index("]")] if "]" in line else line[1:]
                context = self.contexts.setdefault(name, Context(name))
                last = None
                continue
            key, sep, value = line.partition("=")
            value = value[1:] if value.startswith(">") else value
            key, value = key.strip().lower(), value.strip()
            if not sep or context is None:
                raise DialplanError(f"{where}: cannot read {raw.strip()!r}")
            if context.name == "globals":
                self.globals[line.partition("=")[0].strip()] = value
            elif context.name == "general":
                continue
            elif key == "include":
                context.includes.append(value)
            elif key in ("exten", "same"):
                last = self._add_step(context, last, key, value, where)

    def _add_step(
        self, context: Context, last: Extension | None, key: str, value: str, where: str
    ) -> Extension:
        if key == "exten":
            name, _, value = value.partition(",")
            name = name.strip()
            extension = context.extensions.get(name)
            if extension is None:
                pattern = _pattern(name) if name.startswith("_") else None
                extension = Extension(name, pattern=pattern)
                context.extensions[name] = extension
        elif last is None:
            raise DialplanError(f"{where}: 'same =>' without an extension before it")
        else:
            extension = last
        priority_text, _, app_text = value.partition(",")
        priority_text = priority_text.strip()
        label = None
        if "(" in priority_text and priority_text.endswith(")"):
            priority_text, _, label = priority_text[:-1].partition("(")
        if priority_text == "n":
            priority = extension.last_priority + 1
        elif priority_text.isdigit():
            priority = int(priority_text)
        elif priority_text == "hint":
            return extension
        else:
            raise DialplanError(f"{where}: priority {priority_text!r} is not understood")
        app, args = parse_app(app_text)
        extension.last_priority = priority
        if priority in extension.steps:
            # pbx_config keeps the first: "Unable to register extension 's' priority 1 in
            # 'ctx', already in use". Two contexts of one name are merged this way.
            return extension
        if label in extension.labels:
            label = None  # add_priority discards a label already used at another priority
        extension.steps[priority] = Step(priority, app, args, label)
        if label:
            extension.labels[label] = priority
        return extension

    def find_extension(
        self, context: str, exten: str, _seen: frozenset[str] = frozenset()
    ) -> Extension | None:
        """The extension ``exten`` runs in ``context``: exact names before patterns."""
        found = self.contexts.get(context)
        if found is None or context in _seen:
            return None
        exact = found.extensions.get(exten)
        if exact is not None and exact.pattern is None:
            return exact
        candidates = [
            e for e in found.extensions.values() if e.pattern is not None and e.pattern.match(exten)
        ]
        if candidates:
            # Asterisk prefers the most specific pattern; fewer wildcards first approximates it.
            return min(
                candidates, key=lambda e: (e.name.count(".") + e.name.count("!"), -len(e.name))
            )
        for include in found.includes:
            extension = self.find_extension(include, exten, _seen | {context})
            if extension is not None:
                return extension
        return None

    def step(self, context: str, exten: str, priority: int) -> Step | None:
        """The step at ``context,exten,priority``, or None."""
        extension = self.find_extension(context, exten)
        return None if extension is None else extension.steps.get(priority)

    def exists(self, context: str, exten: str, priority: int = 1) -> bool:
        """ast_exists_extension."""
        return self.step(context, exten, priority) is not None

    def priority_of(self, context: str, exten: str, priority: str) -> int | None:
        """A priority given as a number or a label, as ast_findlabel_extension resolves it."""
        if priority.strip().lstrip("-").isdigit():
            return int(priority)
        extension = self.find_extension(context, exten)
        return None if extension is None else extension.labels.get(priority.strip())

    def goto_target(self, spec: str, context: str, exten: str) -> tuple[str, str, int] | None:
        """``[[context,]exten,]priority`` relative to where a channel is; None if invalid."""
        parts = [part.strip() for part in separate_args(spec)]
        if not parts or len(parts) > 3 or not parts[-1]:
            return None
        if len(parts) == 3:
            context, exten = parts[0] or context, parts[1] or exten
        elif len(parts) == 2:
            exten = parts[0] or exten
        priority = self.priority_of(context, exten, parts[-1])
        if priority is None or priority < 1:
            return None
        return context, exten, priority
