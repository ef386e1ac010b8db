"""The event stream as Server-Sent Events: call and agent events as they happen."""

from __future__ import annotations

import contextlib
import json
import logging
import re

from aiohttp import web

from acd.api.auth import Role, Token
from acd.api.context import EVENTS, TOKEN, require
from acd.errors import InvalidInput, StoreUnavailable
from acd.store.event_stream import StreamEvent

log = logging.getLogger("acd.api")
routes = web.RouteTableDef()
STREAM_ID = re.compile(r"\d{1,20}-\d{1,20}")


@routes.get("/api/v1/events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-Sent Events: call and agent events as they happen, filtered by queue or agent,
    resumable with ``Last-Event-ID``. An agent token sees its own agent's events only."""
    token: Token = request[TOKEN]
    queue = request.query.get("queue", "")
    agent = request.query.get("agent", "")
    if token.role is Role.AGENT:
        agent = token.agent
    else:
        require(request, Role.VIEWER)
    last = request.headers.get("Last-Event-ID", "").strip()
    if last and not STREAM_ID.fullmatch(last):
        raise InvalidInput("Last-Event-ID", "must be an event id this stream sent")
    stream = request.app[EVENTS]
    # Pin "from now" to an id, and read once, before answering: no event falls between the
    # two, and Redis being down is a 503 (by errors_as_json), not a stream that stops at once.
    batches = stream.follow(last or await stream.last_id())
    batch = await anext(batches)
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-cache",
        }
    )
    await response.prepare(request)
    try:
        while True:
            frames = _sse_frames(batch, queue, agent)
            if frames:  # all filtered out: nothing to say
                await response.write(frames)
            batch = await anext(batches)
    except StoreUnavailable as exc:
        # Ended cleanly; the client reconnects with Last-Event-ID, after the retry given here.
        log.warning("event stream ended: redis unavailable", extra={"error": str(exc)})
        with contextlib.suppress(ConnectionResetError):
            await response.write(b": state store unavailable\nretry: 5000\n\n")
    except ConnectionResetError:
        pass  # the client went away
    finally:
        await batches.aclose()
    return response


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
