"""The event stream for integrators: every call and agent event, in a bounded Redis stream.

Kept in Redis (not in memory) so that every acd process sharing a site writes one stream, and
a client that reconnects with ``Last-Event-ID`` resumes where it left off.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis.asyncio import Redis
from redis.exceptions import RedisError

from acd.metrics import Metrics
from acd.service.ports import EventSink
from acd.store.keys import Keys

log = logging.getLogger("acd.events")

MAX_EVENTS = 100_000  # about a busy day of a mid-size contact centre; XADD trims beyond it


@dataclass(frozen=True, slots=True)
class StreamEvent:
    """One event as stored: its stream id (the SSE event id), kind and fields."""

    id: str
    kind: str
    data: dict[str, Any]


class RedisEventLog:
    """An :class:`EventSink` that appends to ``acd:{site}:events``; failures never reach routing."""

    def __init__(self, redis: Redis, site: str, metrics: Metrics) -> None:
        self.redis = redis
        self.key = Keys(site).prefix + "events"
        self.metrics = metrics

    async def publish(self, kind: str, data: dict[str, object]) -> None:
        fields = {"kind": kind, "ts": repr(time.time()),
                  "data": json.dumps(data, ensure_ascii=False, default=str)}
        try:
            await self.redis.xadd(self.key, fields, maxlen=MAX_EVENTS,  # type: ignore[arg-type]
                                  approximate=True)
        except (RedisError, OSError) as exc:
            # The stream is for integrators; a call must not wait on it.
            self.metrics.redis_errors.inc()
            log.warning("event not recorded", extra={"kind": kind, "error": str(exc)})

    async def last_id(self) -> str:
        """The id of the newest event ('0-0' when there is none)."""
        newest: Any = await self.redis.xrevrange(self.key, count=1)
        return str(newest[0][0]) if newest else "0-0"

    async def follow(self, after: str, block_ms: int = 15_000) -> AsyncIterator[StreamEvent | None]:
        """Events after stream id ``after``, as they come.

        Yields None when ``block_ms`` pass without an event, so the caller can send a
        keep-alive and notice a client that went away.
        """
        last = after
        while True:
            reply: Any = await self.redis.xread({self.key: last}, count=100, block=block_ms)
            entries = _entries(reply)
            if not entries:
                yield None
                continue
            for entry_id, fields in entries:
                last = entry_id
                yield StreamEvent(entry_id, fields.get("kind", ""),
                                  json.loads(fields.get("data") or "{}"))


def _entries(reply: Any) -> Sequence[Any]:
    """XREAD's entries for our one stream, in RESP2 (list) or RESP3 (map) shape."""
    if not reply:
        return []
    if isinstance(reply, dict):
        return cast(Sequence[Any], next(iter(reply.values()))[0])
    return cast(Sequence[Any], reply[0][1])


class Fanout:
    """Several sinks behind one: the event log, and whatever else wants the events."""

    def __init__(self, *sinks: EventSink) -> None:
        self.sinks = sinks

    async def publish(self, kind: str, data: dict[str, object]) -> None:
        for sink in self.sinks:
            await sink.publish(kind, data)
