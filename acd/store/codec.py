"""Turning calls, agents and queues into Redis hash fields and back.

Text is stored as UTF-8, so names in any script round-trip unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict
from typing import Any

from acd.domain.model import ESCALATED_PRIORITY, Agent, AgentState, Call, CallStatus, Queue, Role
from acd.domain.skills import format_skills, parse_skills

Fields = dict[str, str]

# Priority first (higher first), then arrival; fits a double exactly up to the year 2286.
_PRIORITY_SPAN = 10_000_000_000_000


def waiting_score(priority: int, arrived_at: float) -> float:
    """Score of a call in its queue's waiting zset: lower is served first."""
    return float((9 - priority) * _PRIORITY_SPAN + round(arrived_at * 1000))


def call_score(call: Call) -> float:
    """Score of ``call`` in its queue: escalated calls before every ordinary priority."""
    return waiting_score(
        ESCALATED_PRIORITY if call.escalated_by else call.priority, call.arrived_at
    )


def priority_band(priority: int) -> tuple[float, float]:
    """The score range [low, high) of the waiting calls of one priority."""
    low = float((9 - priority) * _PRIORITY_SPAN)
    return low, low + _PRIORITY_SPAN


def arrival_from_score(score: float) -> float:
    """The arrival time (seconds) encoded in a waiting score."""
    return (int(score) % _PRIORITY_SPAN) / 1000.0


def call_to_fields(call: Call) -> Fields:
    """Every field of a call, as strings."""
    return {
        "id": call.id,
        "channel": call.channel,
        "queue": call.queue,
        "priority": str(call.priority),
        "arrived_at": repr(call.arrived_at),
        "skills": format_skills(call.skills),
        "attrs": json.dumps(call.attrs, ensure_ascii=False),
        "caller_name": call.caller_name,
        "caller_number": call.caller_number,
        "status": call.status.value,
        "attempts": str(call.attempts),
        "agent": call.agent,
        "step": str(call.step),
        "escalated_by": call.escalated_by,
        "escalation_team": call.escalation_team,
        "own_skills": format_skills(call.own_skills),
    }


def call_from_fields(fields: Mapping[str, str]) -> Call:
    """Inverse of :func:`call_to_fields`, with the times the scripts record (the first answer,
    the end); other extra fields (fence, channels) are ignored."""
    skills = parse_skills("skills", fields.get("skills", ""))
    own = fields.get("own_skills")
    return Call(
        id=fields["id"],
        channel=fields["channel"],
        queue=fields["queue"],
        priority=int(fields["priority"]),
        arrived_at=float(fields["arrived_at"]),
        skills=skills,
        attrs=json.loads(fields.get("attrs") or "{}"),
        caller_name=fields.get("caller_name", ""),
        caller_number=fields.get("caller_number", ""),
        status=CallStatus(fields.get("status", "waiting")),
        attempts=int(fields.get("attempts", "0")),
        agent=fields.get("agent", ""),
        step=int(fields.get("step") or 0),
        escalated_by=fields.get("escalated_by", ""),
        escalation_team=fields.get("escalation_team", ""),
        # A call stored before its own skills were kept apart: all its skills count as its own.
        own_skills=skills if own is None else parse_skills("own_skills", own),
        answered_at=float(fields.get("first_answered_at") or fields.get("answered_at") or 0),
        ended_at=float(fields.get("ended_at") or 0),
        reserved_for=fields.get("reserved_for", ""),
        reserved_until=float(fields.get("reserved_until") or 0),
        hold_seconds=float(fields.get("hold_seconds") or 0),
        transfer=fields.get("transfer", ""),
        transfer_target=fields.get("transfer_target", ""),
    )


# The fields an administrator sets; the rest is live state owned by the router.
AGENT_PROFILE_FIELDS = ("id", "dial", "name", "team", "role", "skills", "queues")


def agent_profile_fields(agent: Agent) -> Fields:
    """The configured part of an agent (not its live state)."""
    return {
        "id": agent.id,
        "dial": agent.dial,
        "name": agent.name,
        "team": agent.team,
        "role": agent.role.value,
        "skills": json.dumps(agent.skills, ensure_ascii=False),
        "queues": json.dumps(agent.queues, ensure_ascii=False),
    }


def agent_state_fields(agent: Agent) -> Fields:
    """The live part of an agent, for its first save."""
    return {
        "state": agent.state.value,
        "state_since": repr(agent.state_since),
        "idle_since": repr(agent.idle_since),
        "pause_reason": agent.pause_reason,
        "call": agent.call,
        "calls_taken": str(agent.calls_taken),
        "talk_seconds": repr(agent.talk_seconds),
        "counts_day": agent.counts_day,
    }


def agent_from_fields(fields: Mapping[str, str]) -> Agent:
    """Build an :class:`Agent` from its hash."""
    return Agent(
        id=fields["id"],
        dial=fields["dial"],
        name=fields.get("name", ""),
        team=fields.get("team", ""),
        role=Role(fields.get("role", "agent")),
        skills=json.loads(fields.get("skills") or "{}"),
        queues=json.loads(fields.get("queues") or "{}"),
        state=AgentState(fields.get("state", "logged_out")),
        state_since=float(fields.get("state_since") or 0),
        idle_since=float(fields.get("idle_since") or 0),
        pause_reason=fields.get("pause_reason", ""),
        call=fields.get("call", ""),
        calls_taken=int(fields.get("calls_taken") or 0),
        talk_seconds=float(fields.get("talk_seconds") or 0),
        device_busy=fields.get("device_busy") == "1",
        counts_day=fields.get("counts_day", ""),
        pending_state=AgentState(fields["pending_state"]) if fields.get("pending_state") else None,
        pending_reason=fields.get("pending_reason", ""),
    )


def queue_to_json(queue: Queue) -> str:
    """A queue's whole configuration as one JSON document."""
    return json.dumps(asdict(queue), ensure_ascii=False)


def queue_from_json(text: str) -> Queue:
    """Inverse of :func:`queue_to_json` (Queue normalises its steps and enums itself)."""
    data: dict[str, Any] = json.loads(text)
    return Queue(**data)
