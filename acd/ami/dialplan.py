"""Whether Asterisk runs the dialplan contexts acd ships, checked after every (re)connection.

Asterisk merges contexts of the same name into one: an operator's own ``[acd.connect]``
loaded before ours keeps its ``s,1`` and ours is dropped with only a warning on the console,
and callers then go wherever that context sends them. So once logged in, acd lists each of
its contexts (AMI ``ShowDialPlan``, class reporting) and compares every priority with
extensions_acd.conf as packaged with acd (acd/sim/, kept equal to asterisk/ by a test). A
context that is missing or holds anything else is one ERROR line and
``acd_dialplan_problems{context} = 1``; routing goes on either way.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from pathlib import Path

from acd.ami.connection import AmiConnection
from acd.errors import AmiError
from acd.metrics import Metrics

log = logging.getLogger("acd.ami")

SHIPPED_DIALPLAN = Path(__file__).resolve().parents[1] / "sim" / "extensions_acd.conf"
Priority = tuple[str, str]  # (extension, priority), as ListDialplan names them
Step = tuple[str, str, str]  # (application, its data as written, label or "")
MISSING = "it does not exist"


def read_contexts(text: str) -> dict[str, dict[Priority, Step]]:
    """The priorities pbx_config registers from ``text``, by context.

    Enough of pbx_config for extensions_acd.conf: ``[context]``, ``exten =>`` and ``same =>``
    with a number or ``n`` and an optional ``(label)``, ``App(data)``, ``;`` comments.
    """
    contexts: dict[str, dict[Priority, Step]] = {}
    steps: dict[Priority, Step] = {}
    exten, last = "", 0
    for raw in text.splitlines():
        line = raw.replace("\\;", "\0").split(";", 1)[0].replace("\0", ";").strip()
        if line.startswith("["):
            steps = contexts.setdefault(line[1 : line.index("]")], {})
            exten, last = "", 0
            continue
        key, _, value = line.partition("=>")
        key = key.strip().lower()
        if key == "exten":
            exten, _, value = value.strip().partition(",")
        elif key != "same" or not exten:
            continue
        priority, _, app = value.strip().partition(",")
        priority, _, label = priority.partition("(")
        last = last + 1 if priority.strip() == "n" else int(priority)
        name, _, data = app.partition("(")
        data = data[: data.rfind(")")] if ")" in data else data
        steps.setdefault((exten.strip(), str(last)), (name.strip(), data, label.rstrip(")")))
    return contexts


@functools.cache
def shipped_contexts() -> dict[str, dict[Priority, Step]]:
    """The contexts of the packaged extensions_acd.conf."""
    return read_contexts(SHIPPED_DIALPLAN.read_text(encoding="utf-8"))


async def listed_context(
    ami: AmiConnection, context: str
) -> tuple[dict[Priority, Step], list[str]]:
    """What Asterisk runs in ``context``: its priorities, and what else it holds (includes,
    ignore patterns, switches). AmiError "Did not find context" when it has none."""
    reply = await ami.send_list({"Action": "ShowDialPlan", "Context": context})
    steps: dict[Priority, Step] = {}
    other: list[str] = []
    for item in reply:
        if item.get("Event") != "ListDialplan":
            continue
        if "Extension" in item:
            steps[(item["Extension"], item.get("Priority", ""))] = (
                item.get("Application", ""),
                item.get("AppData", ""),
                item.get("ExtensionLabel", ""),
            )
        else:
            other += [
                f"{k.lower()} {v}"
                for k, v in item.items()
                if k in ("IncludeContext", "IgnorePattern", "Switch")
            ]
    return steps, other


def differences(
    expected: dict[Priority, Step], found: dict[Priority, Step], other: list[str]
) -> list[str]:
    """What differs, in the dialplan's own words: ``s,1 is NoOp(x), not Dial(...)``."""

    def shown(step: Step) -> str:
        return f"{step[0]}({step[1]})" + (f" labelled {step[2]}" if step[2] else "")

    out: list[str] = []
    for key in sorted(expected.keys() | found.keys()):
        where = ",".join(key)
        if key not in found:
            out.append(f"{where} is missing, not {shown(expected[key])}")
        elif key not in expected:
            out.append(f"{where} is {shown(found[key])}, which acd does not define")
        elif found[key] != expected[key]:
            out.append(f"{where} is {shown(found[key])}, not {shown(expected[key])}")
    return out + [f"{entry}, which acd does not define" for entry in other]


async def check_context(
    ami: AmiConnection, context: str, expected: dict[Priority, Step]
) -> list[str] | None:
    """The problems of one context ([] if none); None when Asterisk could not be asked."""
    try:
        found, other = await listed_context(ami, context)
    except AmiError as exc:
        if "Did not find context" in str(exc):
            return [MISSING]
        log.warning(
            "could not list a dialplan context", extra={"context": context, "error": str(exc)}
        )
        return None
    return differences(expected, found, other)


async def check_dialplan(ami: AmiConnection, metrics: Metrics) -> dict[str, list[str]]:
    """Check every shipped context; log and count those that are not acd's. Never raises."""
    try:
        shipped = shipped_contexts()
    except OSError as exc:
        log.error("cannot read the packaged dialplan", extra={"error": str(exc)})
        return {}
    names = list(shipped)
    results = await asyncio.gather(*(check_context(ami, n, shipped[n]) for n in names))
    problems: dict[str, list[str]] = {}
    for name, found in zip(names, results, strict=True):
        if found is None:
            continue
        metrics.dialplan_problems.labels(name).set(1 if found else 0)
        if found:
            problems[name] = found
            log.error(_complaint(name, found), extra={"context": name, "differences": len(found)})
    return problems


def _complaint(name: str, found: list[str]) -> str:
    check = f"check with `dialplan show {name}` on the Asterisk CLI"
    if found == [MISSING]:
        return (
            f"dialplan context {name} is missing: #include the extensions_acd.conf of "
            f"this acd version and `dialplan reload`; {check}"
        )
    return (
        f"dialplan context {name} is not the one acd ships: {'; '.join(found[:4])}. "
        f"Another context named {name} was merged into it, or extensions_acd.conf is "
        f"outdated: {check}"
    )
