"""The stream of business events for integrators, ``acd:{site}:events``: a bounded Redis stream
appended to by the event log, read by the SSE endpoint (XREAD) and by webhooks' consumer groups.

Kept in Redis (not in memory) so that every acd process sharing a site writes one stream, and
a client that reconnects with ``Last-Event-ID`` resumes where it left off.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncGenerator, Mapping
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis

from acd.metrics import Metrics
from acd.store.keys import Keys
from acd.store.round_trips import round_trip
from acd.store.side_writes import SideWrites

log = logging.getLogger("acd.events")

MAX_EVENTS = 100_000  # about a busy day of a mid-size contact centre; XADD trims beyond it
LONGEST_BLOCK_MS = 15_000  # a follower hears at least this often that nothing came
READ_COUNT = 100

Entry = tuple[str, dict[str, str] | None]  # a stream id and its fields (None: trimmed away)


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event as stored: its stream id (the SSE event id, the webhook delivery id), kind,
    when it was recorded (unix seconds) and its fields."""

    id: str
    kind: str
    ts: float
    data: dict[str, Any]


def stream_entries(reply: Any) -> list[Entry]:
    """The entries of an XREAD or XREADGROUP reply about one stream, RESP2 (list) or RESP3 (map)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return cast(list[Entry], list(next(iter(reply.values()))[0]))
    return cast(list[Entry], list(reply[0][1]))


def event_of(entry_id: str, fields: Mapping[str, str]) -> StreamEvent:
    """The event an entry holds, as :meth:`EventStream.append` wrote it; ValueError if malformed."""
    data = json.loads(fields.get("data") or "{}")
    if not isinstance(data, dict):
        raise ValueError("data is not a JSON object")
    return StreamEvent(entry_id, fields.get("kind", ""), float(fields.get("ts") or 0), data)


def _entry_fields(kind: str, data: Mapping[str, object]) -> dict[str, str]:
    return {
        "kind": kind,
        "ts": repr(time.time()),
        "data": json.dumps(data, ensure_ascii=False, default=str),
    }


def _longest_block_ms(redis: Redis) -> int:
    """How long a blocking read may wait: below the client's socket timeout, which would
    otherwise end a quiet read as a Redis error."""
    pool = getattr(redis, "connection_pool", None)  # a cluster client has one per node
    timeout = pool.connection_kwargs.get("socket_timeout") if pool is not None else None
    if not timeout:
        return LONGEST_BLOCK_MS
    return max(1, min(LONGEST_BLOCK_MS, int(float(timeout) * 500)))


class EventStream:
    """The site's event stream; every failure raises StoreUnavailable."""

    def __init__(self, redis: Redis, keys: Keys, metrics: Metrics) -> None:
        self.redis = redis
        self.key = keys.events
        self.metrics = metrics
        self.block_ms = _longest_block_ms(redis)

    async def append(self, kind: str, data: Mapping[str, object]) -> None:
        """Append one event (the oldest beyond ``MAX_EVENTS`` are trimmed)."""
        await round_trip(
            self.metrics,
            self.redis.xadd(
                self.key,
                _entry_fields(kind, data),  # type: ignore[arg-type]
                maxlen=MAX_EVENTS,
                approximate=True,
            ),
        )

    def append_into(self, writes: SideWrites, kind: str, data: Mapping[str, object]) -> None:
        """Add the event's XADD to a batch of side writes."""
        writes.pipeline(self.redis, self.metrics).xadd(
            self.key,
            _entry_fields(kind, data),  # type: ignore[arg-type]
            maxlen=MAX_EVENTS,
            approximate=True,
        )

    async def last_id(self) -> str:
        """The id of the newest event ('0-0' when there is none)."""
        newest: Any = await round_trip(self.metrics, self.redis.xrevrange(self.key, count=1))
        return str(newest[0][0]) if newest else "0-0"

    async def read(self, after: str, block_ms: int | None = None) -> tuple[str, list[StreamEvent]]:
        """Events after stream id ``after`` (with ``block_ms``, waiting that long for one), and
        the id to read after next."""
        reply: Any = await round_trip(
            self.metrics,
            self.redis.xread({self.key: after}, count=READ_COUNT, block=block_ms),
            blocking=block_ms is not None,
        )
        events = []
        for entry_id, fields in stream_entries(reply):
            after = entry_id
            try:
                events.append(event_of(entry_id, fields or {}))
            except ValueError as exc:  # written by something else than acd: skipped, said once
                log.warning("malformed event skipped", extra={"event": entry_id, "error": str(exc)})
        return after, events

    async def follow(self, after: str) -> AsyncGenerator[list[StreamEvent], None]:
        """The events after ``after`` in batches: the first at once (maybe empty), then one
        whenever events come or ``block_ms`` passed without any (empty: time for a
        keep-alive)."""
        after, events = await self.read(after)
        while True:
            yield events
            after, events = await self.read(after, self.block_ms)
