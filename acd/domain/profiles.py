"""Queues and agents as settings: the one parser of the file's ``[[queues]]`` and
``[[agents]]`` tables and of the HTTP API's bodies, and the merge a ``PATCH`` makes.

Limits come from the model (priority, rank, skill levels), so they are written once.
"""

from __future__ import annotations

import json
from collections.abc import Container, Mapping
from dataclasses import asdict, fields
from typing import Any

from acd.domain.model import (
    MAX_PRIORITY,
    MAX_RANK,
    MIN_PRIORITY,
    Agent,
    FallbackKind,
    Queue,
    Role,
    Step,
    StepKind,
    Strategy,
)
from acd.domain.names import check_dial_string, check_name, check_text
from acd.domain.setting_table import SettingTable, whole_number
from acd.domain.skills import MAX_LEVEL
from acd.errors import SettingError

MAX_AGENT_NAME = 128
QUEUE_KEYS = tuple(f.name for f in fields(Queue))
STEP_KEYS = tuple(f.name for f in fields(Step))
# The profile, not the live state: that changes through the agent's own commands.
AGENT_KEYS = ("id", "dial", "name", "team", "role", "skills", "queues")


def queue_from_table(table: SettingTable) -> Queue:
    """A :class:`Queue` from one table, naming the bad or unknown setting on error."""
    table.expect(QUEUE_KEYS)
    return Queue(
        name=table.checked("name", check_name),
        strategy=table.choice("strategy", Strategy, Strategy.LONGEST_IDLE),
        skills=table.levels("skills"),
        priority=table.whole("priority", MIN_PRIORITY, low=MIN_PRIORITY, high=MAX_PRIORITY),
        service_level_seconds=table.number("service_level_seconds", 20.0, low=1),
        wrap_up_seconds=table.number("wrap_up_seconds", 0.0, low=0),
        ring_timeout_seconds=table.whole("ring_timeout_seconds", 15, low=1),
        max_wait_seconds=table.whole("max_wait_seconds", 600, low=1),
        max_length=table.whole("max_length", 0, low=0),
        steps=tuple(_step(step) for step in table.tables("steps")),
        teams=table.names("teams", check_name),
        aging_seconds=table.number("aging_seconds", 0.0, low=0),
        no_answer_pause=table.flag("no_answer_pause", True),
    )


def _step(table: SettingTable) -> Step:
    """One routing step: a ``[[queues.steps]]`` table."""
    table.expect(STEP_KEYS)
    return Step(
        after=table.number("after", 0.0, low=0),
        kind=table.choice("kind", StepKind, StepKind.SKILLS),
        skills=table.levels("skills", low=0),
        cap=table.whole("cap", 0, low=0, high=MAX_LEVEL),
        to=table.choice("to", FallbackKind, FallbackKind.DIALPLAN),
        target=table.checked("target", check_name, optional=True),
        name=table.checked("name", check_name, optional=True),
    )


def agent_from_table(table: SettingTable) -> Agent:
    """An :class:`Agent` (logged out) from one table, naming the bad or unknown setting."""
    table.expect(AGENT_KEYS)
    agent_id = table.checked("id", check_name, str(table.value("id", "")))
    name = table.check("name", _display_name, table.value("name", ""))
    return Agent(
        id=agent_id,
        dial=table.checked("dial", check_dial_string),
        name=name,
        team=table.checked("team", check_name, optional=True),
        role=_role(table),
        skills=table.levels("skills"),
        queues=_ranks(table),
    )


def _display_name(field: str, value: str) -> str:
    """An agent's name is text shown to supervisors and published: bounded, no controls."""
    return check_text(field, value, MAX_AGENT_NAME)


def _role(table: SettingTable) -> Role:
    try:
        return Role(table.text("role", Role.AGENT.value))
    except ValueError:
        raise table.error("role", "must be agent, lead or supervisor") from None


def _ranks(table: SettingTable) -> dict[str, int]:
    """``queues``: a table of queue = rank, or a plain list (rank 1 everywhere)."""
    raw = table.value("queues", {})
    if isinstance(raw, list):
        if not all(isinstance(queue, str) for queue in raw):
            raise table.error("queues", "a list of queue names, or a table of queue = rank")
        raw = dict.fromkeys(raw, 1)
    if not isinstance(raw, Mapping):
        raise table.error("queues", "must be a table of queue = rank")
    ranks: dict[str, int] = {}
    for queue, rank in raw.items():
        table.check("queues", check_name, queue)
        if not whole_number(rank) or not 1 <= rank <= MAX_RANK:
            raise table.error(f"queues.{queue}", f"rank must be a whole number 1-{MAX_RANK}")
        ranks[queue] = rank
    return ranks


def check_fallback_targets(queue: Queue, names: Container[str], where: str) -> None:
    """Raise unless every step of ``queue`` falling back to a queue names one of ``names``
    (the file's queues, or Redis's when the API changes a queue)."""
    for index, step in enumerate(queue.steps):
        if step.to is FallbackKind.QUEUE and step.target not in names:
            raise SettingError(where, f"steps[{index}].target", f"unknown queue {step.target!r}")


def check_agent_queues(agent: Agent, names: Container[str], where: str) -> None:
    """Raise unless ``agent`` serves only queues among ``names``."""
    for queue in agent.queues:
        if queue not in names:
            raise SettingError(where, "queues", f"unknown queue {queue!r}")


def queue_settings(queue: Queue) -> dict[str, Any]:
    """A queue as the table :func:`queue_from_table` reads it back from (for a merge)."""
    # Through JSON, as a body would come: tuples become lists, enums their values.
    return dict(json.loads(json.dumps(asdict(queue))))


def agent_settings(agent: Agent) -> dict[str, Any]:
    """An agent's profile as the table :func:`agent_from_table` reads it back from."""
    return {
        "id": agent.id,
        "dial": agent.dial,
        "name": agent.name,
        "team": agent.team,
        "role": agent.role.value,
        "skills": dict(agent.skills),
        "queues": dict(agent.queues),
    }


def merge_patch(target: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """``target`` changed by ``patch`` as JSON Merge Patch (RFC 7396) says: tables merge key by
    key, ``null`` removes a key (its default then applies), anything else replaces."""
    merged = dict(target)
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = merge_patch(merged[key], value)
        else:
            merged[key] = value
    return merged
