"""The event stream as Server-Sent Events: call and agent events as they happen."""

from __future__ import annotations

import contextlib
import json
import logging
import re

from aiohttp import web

from acd.api.auth import Role, Token
from acd.api.context import EVENT_FEED, TOKEN, require
from acd.api.event_feed import EventFeed, Lagged, Subscription, TooManyClients, stream_position
from acd.domain.names import id_problem
from acd.errors import InvalidInput, StoreUnavailable
from acd.store.event_stream import READ_COUNT, StreamEvent

log = logging.getLogger("acd.api")
routes = web.RouteTableDef()
STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")
RETRY_AFTER_SECONDS = 5


@routes.get("/api/v1/events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: call and agent events as they happen, filtered by queue or agent,
    resumable with ``Last-Event-ID``. An agent token sees its own agent's events only.

    Every client of the process shares one reader of the stream (:class:`EventFeed`); past
    ``http.max_event_clients`` at once the answer is 503 with a ``Retry-After``.
    """
    token: Token = request[TOKEN]
    queue = request.query.get("queue", "")
    agent = request.query.get("agent", "")
    if token.role is Role.AGENT:
        agent = token.agent
    else:
        require(request, Role.VIEWER)
    for field, value in (("queue", queue), ("agent", agent)):
        if value and id_problem(value) is not None:
            raise InvalidInput(field, "must be a queue or agent id")
    last = request.headers.get("Last-Event-ID", "").strip()
    if last and not STREAM_ID.fullmatch(last):
        raise InvalidInput("Last-Event-ID", "must be an event id this stream sent")
    feed = request.app[EVENT_FEED]
    # Pin "from now" to an id and join the feed before answering: Redis being down is a 503
    # (by errors_as_json), not a stream that stops at once.
    after = last or await feed.stream.last_id()
    try:
        subscription = await feed.subscribe()
    except TooManyClients as exc:
        return web.json_response(
            {"error": str(exc)}, status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)}
        )
    try:
        return await _stream(request, feed, subscription, after, queue, agent)
    finally:
        feed.unsubscribe(subscription)


async def _stream(
    request: web.Request,
    feed: EventFeed,
    subscription: Subscription,
    after: str,
    queue: str,
    agent: str,
) -> web.StreamResponse:
    """What came after ``after`` (read from Redis, in pages), then the shared feed's batches,
    each event once."""
    after, batch = await feed.stream.read(after)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
        }
    )
    await response.prepare(request)
    sent = stream_position(after)
    try:
        while len(batch) == READ_COUNT:  # a full page: more may follow
            await response.write(_sse_frames(batch, queue, agent))
            after, batch = await feed.stream.read(after)
            sent = stream_position(after)
        await _write(response, batch, queue, agent)
        while True:
            batch = await subscription.next_batch()
            fresh = [e for e in batch if stream_position(e.id) > sent]
            if batch and not fresh:
                continue  # already sent while catching up
            await _write(response, fresh, queue, agent)
            if fresh:
                sent = stream_position(fresh[-1].id)
    except StoreUnavailable as exc:
        # Ended cleanly; the client reconnects with Last-Event-ID, after the retry given here.
        log.warning("event stream ended: redis unavailable", extra={"error": str(exc)})
        with contextlib.suppress(ConnectionResetError):
            await response.write(b": state store unavailable\nretry: 5000\n\n")
    except Lagged:
        log.warning("event stream client too slow, told to reconnect", extra={"path": request.path})
        with contextlib.suppress(ConnectionResetError):
            await response.write(b": too far behind\nretry: 1000\n\n")
    except ConnectionResetError:
        pass  # the client went away
    return response


async def _write(
    response: web.StreamResponse, events: list[StreamEvent], queue: str, agent: str
) -> None:
    frames = _sse_frames(events, queue, agent)
    if frames:  # all filtered out: nothing to say
        await response.write(frames)


def _sse_frames(events: list[StreamEvent], queue: str, agent: str) -> bytes:
    """The SSE frames of the events matching the filters; a keep-alive when none came."""
    if not events:
        return b": keep-alive\n\n"
    frames = []
    for event in events:
        if (queue and event.data.get("queue") != queue) or (
            agent and event.data.get("agent") != agent
        ):
            continue
        payload = json.dumps({"kind": event.kind, **event.data}, ensure_ascii=False)
        frames.append(f"id: {event.id}\nevent: {event.kind}\ndata: {payload}\n\n")
    return "".join(frames).encode()
