"""Agents' daily figures: calls taken and talk time are kept per local calendar day."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from zoneinfo import ZoneInfo

from acd.domain.model import Agent


def counted_today(agent: Agent, today: str) -> Agent:
    """``agent`` with figures of an earlier day read as zero: even sharing (fewest calls,
    least talk time) starts each day anew."""
    if agent.counts_day == today or not (agent.calls_taken or agent.talk_seconds):
        return agent
    return replace(agent, calls_taken=0, talk_seconds=0.0)


def local_day(now: float, zone: ZoneInfo) -> str:
    """The calendar day of ``now`` (seconds since the epoch) in ``zone``, as 2026-11-29."""
    return datetime.fromtimestamp(now, zone).date().isoformat()
