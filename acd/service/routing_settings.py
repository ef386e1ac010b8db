"""Router-wide behaviour that is not per queue: the ``[routing]`` settings."""

from __future__ import annotations

from dataclasses import dataclass, fields
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from acd.domain.setting_table import SettingTable


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    """Router-wide behaviour that is not per queue."""

    short_abandon_seconds: float = 5.0
    tick_seconds: float = 1.0
    no_answer_pause: bool = True
    offer_grace_seconds: float = 10.0
    no_answer_pause_seconds: float = 0.0  # 0 = paused until the agent resumes
    stats_timezone: str = "UTC"  # where "today" of the daily statistics starts and ends
    # How long business events and call history may gather before they are written (they
    # never wait on the decision's path; under load many calls share one round trip).
    side_writes_seconds: float = 0.02
    # How many items may wait for the worker before acd stops reading AMI (backpressure:
    # Asterisk's events wait in the socket, none is dropped); reading resumes at half.
    worker_queue_limit: int = 10_000

    @classmethod
    def from_table(cls, table: SettingTable) -> RoutingSettings:
        """Read the ``[routing]`` table."""
        table.expect(f.name for f in fields(cls))
        return cls(
            short_abandon_seconds=table.number("short_abandon_seconds", 5.0, low=0),
            tick_seconds=table.number("tick_seconds", 1.0, low=0.01),
            no_answer_pause=table.flag("no_answer_pause", True),
            offer_grace_seconds=table.number("offer_grace_seconds", 10.0, low=0.1),
            no_answer_pause_seconds=table.number("no_answer_pause_seconds", 0.0, low=0),
            stats_timezone=_timezone(table, "stats_timezone"),
            side_writes_seconds=table.number("side_writes_seconds", 0.02, low=0, high=1.0),
            worker_queue_limit=table.whole("worker_queue_limit", 10_000, low=10),
        )


def _timezone(table: SettingTable, key: str) -> str:
    name = table.text(key, "UTC")
    try:
        ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise table.error(key, f"unknown time zone {name!r} (e.g. Europe/Moscow)") from None
    return name
