"""The event stream in Redis as the store reads it: over RESP2 and RESP3, past what acd did not
write, and quiet for longer than the client's socket timeout."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from acd.domain.event_kinds import EventKind
from acd.metrics import Metrics
from acd.store.event_stream import EventStream
from acd.store.keys import Keys
from acd.store.webhook_groups import WebhookGroup


@pytest.fixture(params=[2, 3], ids=["resp2", "resp3"])
async def client(request: pytest.FixtureRequest, redis_url: str) -> AsyncIterator[Redis]:
    redis = Redis.from_url(redis_url, decode_responses=True, protocol=request.param)
    yield redis
    await redis.aclose()


async def test_sse_and_webhooks_read_the_same_events_in_either_protocol(
    client: Redis, site: str
) -> None:
    stream = EventStream(client, Keys(site), Metrics())
    crm = WebhookGroup(stream, "crm")
    await crm.create()
    await stream.append(EventKind.CALL_OFFERED, {"call": "c1", "caller_name": "Фатима"})
    await stream.append(EventKind.CALL_ANSWERED, {"call": "c1", "agent": "1001"})

    after, events = await stream.read("0-0")
    assert [(e.kind, e.data["call"]) for e in events] == [
        ("call.offered", "c1"),
        ("call.answered", "c1"),
    ]
    assert events[0].data["caller_name"] == "Фатима" and after == events[-1].id
    entries = await crm.read("host-1", ">", count=10, block_ms=None)
    assert [entry_id for entry_id, _ in entries] == [e.id for e in events]


async def test_a_follower_reads_past_an_entry_acd_did_not_write(redis: Redis, site: str) -> None:
    stream = EventStream(redis, Keys(site), Metrics())
    await stream.append(EventKind.AGENT_STATE, {"agent": "1001", "state": "ready"})
    junk = await redis.xadd(stream.key, {"kind": "call.offered", "data": "not json"})
    after, events = await stream.read("0-0")
    assert [e.kind for e in events] == ["agent.state"] and after == junk


async def test_a_quiet_stream_keeps_its_follower_alive_past_the_clients_socket_timeout(
    redis_url: str, site: str
) -> None:
    impatient = Redis.from_url(redis_url, decode_responses=True, socket_timeout=1.0)
    stream = EventStream(impatient, Keys(site), Metrics())
    batches = stream.follow("0-0")
    try:
        assert await anext(batches) == []  # at once
        # A read blocking past 1 s would end in a TimeoutError instead of this keep-alive.
        assert await anext(batches) == []
    finally:
        await batches.aclose()
        await impatient.aclose()
