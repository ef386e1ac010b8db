"""Webhook subscribers' Redis consumer groups on the event stream, ``webhook:<name>``: what
each consumer (an acd process) read, holds unacknowledged, and acknowledged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from redis.exceptions import ResponseError

from acd.store.event_stream import Entry, EventStream, stream_entries
from acd.store.round_trips import round_trip

GROUP_PREFIX = "webhook:"


class WebhookGroup:
    """One subscriber's consumer group; failures raise StoreUnavailable, and GroupMissing when
    the group (or the stream) is gone."""

    def __init__(self, stream: EventStream, subscriber: str) -> None:
        self.redis = stream.redis
        self.key = stream.key
        self.metrics = stream.metrics
        self.name = GROUP_PREFIX + subscriber

    async def create(self) -> None:
        """The group, from new events on; an existing one keeps its position."""
        await round_trip(self.metrics, self._create())

    async def _create(self) -> None:
        try:
            await self.redis.xgroup_create(self.key, self.name, id="$", mkstream=True)
        except ResponseError as exc:
            if not str(exc).startswith("BUSYGROUP"):  # BUSYGROUP: it exists, as wanted
                raise

    async def read(
        self, consumer: str, after: str, count: int, block_ms: int | None
    ) -> list[Entry]:
        """XREADGROUP: ``">"`` for new entries, ``"0"`` for those ``consumer`` holds already."""
        reply: Any = await round_trip(
            self.metrics,
            self.redis.xreadgroup(
                self.name, consumer, {self.key: after}, count=count, block=block_ms
            ),
            blocking=block_ms is not None,
        )
        return stream_entries(reply)

    async def claim_idle(
        self, consumer: str, idle_ms: int, start: str, count: int
    ) -> tuple[str, list[Entry], list[str]]:
        """Take over entries other consumers left unacknowledged for ``idle_ms``: the cursor
        to go on from ('0-0' once the scan is over), the entries, and the ids of entries
        trimmed from the stream while they were pending."""
        reply: Any = await round_trip(
            self.metrics,
            self.redis.xautoclaim(
                self.key, self.name, consumer, idle_ms, start_id=start, count=count
            ),
        )
        trimmed = [str(i) for i in reply[2]] if len(reply) > 2 else []  # Redis 7 and later
        return str(reply[0]), cast(list[Entry], list(reply[1])), trimmed

    async def keep_claimed(self, consumer: str, entry_ids: Sequence[str]) -> None:
        """Reset the idle time of entries ``consumer`` holds, so no one else claims them."""
        await round_trip(
            self.metrics,
            self.redis.xclaim(self.key, self.name, consumer, 0, list(entry_ids), justid=True),
        )

    async def acknowledge(self, entry_ids: Sequence[str]) -> None:
        """Done with these entries (delivered or given up on)."""
        await round_trip(self.metrics, self.redis.xack(self.key, self.name, *entry_ids))

    async def leave(self, consumer: str) -> None:
        """Remove ``consumer`` from the group if it holds nothing, so names do not pile up."""
        pending: Any = await round_trip(
            self.metrics,
            self.redis.xpending_range(self.key, self.name, "-", "+", 1, consumername=consumer),
        )
        if not pending:
            await round_trip(
                self.metrics, self.redis.xgroup_delconsumer(self.key, self.name, consumer)
            )
