"""Webhooks: every event POSTed, signed, to each subscriber, without ever slowing routing down.

``publish`` only puts the event on a bounded in-memory queue per subscriber (dropping the
oldest when full) and returns; one delivery task per subscriber POSTs them in order, retrying
with exponential backoff and jitter.

Each POST carries the JSON body ``{"id", "kind", "ts", "data"}`` (UTF-8) and the headers
``X-ACD-Event`` (the kind), ``X-ACD-Delivery`` (unique per event and subscriber, the same on
every retry, so a receiver can drop duplicates), ``X-ACD-Timestamp`` (unix seconds of this
attempt) and ``X-ACD-Signature: sha256=<hex>``, the HMAC-SHA256 with the subscriber's secret of
``"<timestamp>." + body``. A receiver recomputes it over the raw body, compares in constant time,
and rejects a timestamp more than a few minutes old (a replay).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import aiohttp

from acd.errors import ConfigError
from acd.metrics import Metrics

if TYPE_CHECKING:
    from acd.config import Secret

log = logging.getLogger("acd.webhooks")

EVENT_KINDS = frozenset({
    "call.offered", "call.answered", "call.abandoned", "call.overflowed", "call.failed",
    "call.ended", "agent.state", "agent.missed", "telephony.reconciled",
})
QUEUE_SIZE = 10_000  # events held per subscriber while it is slow or down
DROP_LOG_EVERY = 1_000  # a receiver that is down for long logs one line per this many drops


def check_webhook_url(where: str, url: str) -> str:
    """``url`` if it is an absolute http(s) URL, else a :class:`ConfigError` naming ``where``."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{where}: must be an http or https URL")
    return url


def check_event_kind(where: str, kind: str) -> str:
    """A known event kind, or a prefix of some (``"call."``), else a :class:`ConfigError`."""
    if kind in EVENT_KINDS or (kind.endswith(".") and any(k.startswith(kind) for k in EVENT_KINDS)):
        return kind
    raise ConfigError(f"{where}: unknown event kind {kind!r}")


@dataclass(frozen=True, slots=True)
class WebhookSettings:
    """One subscriber: where to POST, the signing secret, and which events it wants.

    ``kinds`` holds event kinds or prefixes such as ``"call."``; ``queues`` keeps only events
    of those queues (events without a queue, such as ``agent.state``, then do not go). Empty
    means everything.
    """

    name: str
    url: str
    secret: Secret = field(repr=False)
    kinds: frozenset[str] = frozenset()
    queues: frozenset[str] = frozenset()
    timeout_seconds: float = 5.0
    max_attempts: int = 6
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 60.0

    def __post_init__(self) -> None:
        check_webhook_url(f"webhooks.{self.name}.url", self.url)
        if not self.secret:
            raise ConfigError(f"webhooks.{self.name}.secret: missing")

    def wants(self, kind: str, data: dict[str, object]) -> bool:
        """Whether this subscriber takes an event of ``kind`` with ``data``."""
        if self.kinds and not any(kind == k or (k.endswith(".") and kind.startswith(k))
                                  for k in self.kinds):
            return False
        return not self.queues or data.get("queue") in self.queues

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed ``attempt`` (1-based): doubling, capped, jittered."""
        delay = min(self.backoff_cap_seconds, self.backoff_base_seconds * 2 ** (attempt - 1))
        return random.uniform(delay / 2, delay)  # jitter: many acd processes do not retry at once


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """One event as subscribers receive it."""

    id: str
    kind: str
    ts: float
    data: dict[str, object]

    def body(self) -> bytes:
        """The JSON body, UTF-8, names in any script kept as they are."""
        payload = {"id": self.id, "kind": self.kind, "ts": self.ts, "data": self.data}
        return json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-ACD-Signature`` value: HMAC-SHA256 of ``"<timestamp>." + body``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body,
                   hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class Attempt(Enum):
    """What one POST came to."""

    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


@dataclass(slots=True)
class _Subscriber:
    settings: WebhookSettings
    queue: asyncio.Queue[WebhookEvent]
    dropped: int = 0


class Webhooks:
    """An :class:`~acd.service.ports.EventSink` that POSTs events to each subscriber."""

    def __init__(self, subscribers: Sequence[WebhookSettings], metrics: Metrics,
                 queue_size: int = QUEUE_SIZE) -> None:
        self.metrics = metrics
        self.subscribers = [_Subscriber(s, asyncio.Queue(maxsize=queue_size))
                            for s in subscribers]
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []

    async def publish(self, kind: str, data: dict[str, object]) -> None:
        """Queue the event for every subscriber that wants it; never waits."""
        event = WebhookEvent(uuid.uuid4().hex, kind, time.time(), dict(data))
        for subscriber in self.subscribers:
            if subscriber.settings.wants(kind, data):
                self._enqueue(subscriber, event)

    def _enqueue(self, subscriber: _Subscriber, event: WebhookEvent) -> None:
        if subscriber.queue.full():
            subscriber.queue.get_nowait()  # the oldest goes: fresh events matter more
            subscriber.queue.task_done()
            subscriber.dropped += 1
            name = subscriber.settings.name
            self.metrics.webhook_deliveries.labels(name, "dropped").inc()
            if subscriber.dropped % DROP_LOG_EVERY == 1:
                log.warning("webhook queue full, oldest events dropped",
                            extra={"subscriber": name, "dropped": subscriber.dropped})
        subscriber.queue.put_nowait(event)

    async def start(self) -> None:
        """Open the HTTP session and start one delivery task per subscriber."""
        self._session = aiohttp.ClientSession(headers={"User-Agent": "acd-webhooks"})
        for subscriber in self.subscribers:
            task = asyncio.create_task(self._deliver_forever(subscriber),
                                       name=f"webhook-{subscriber.settings.name}")
            self._tasks.append(task)

    async def stop(self) -> None:
        """Cancel the delivery tasks (queued events are not sent) and close the session."""
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def wait_idle(self) -> None:
        """Return once every queued event was delivered, refused or given up on."""
        for subscriber in self.subscribers:
            await subscriber.queue.join()

    async def _deliver_forever(self, subscriber: _Subscriber) -> None:
        while True:
            event = await subscriber.queue.get()
            try:
                await self._deliver(subscriber.settings, event)
            except Exception:  # a bug here must not end deliveries for good
                self.metrics.webhook_deliveries.labels(subscriber.settings.name, "failed").inc()
                log.exception("webhook delivery crashed",
                              extra={"subscriber": subscriber.settings.name, "kind": event.kind})
            finally:
                subscriber.queue.task_done()

    async def _deliver(self, settings: WebhookSettings, event: WebhookEvent) -> None:
        """POST one event until it is delivered, refused, or out of attempts."""
        body = event.body()
        delivery = uuid.uuid4().hex
        counter = self.metrics.webhook_deliveries
        for attempt in range(1, settings.max_attempts + 1):
            result, detail = await self._post(settings, event.kind, body, delivery)
            if result is Attempt.DELIVERED:
                counter.labels(settings.name, "delivered").inc()
                return
            if result is Attempt.REJECTED or attempt == settings.max_attempts:
                break
            counter.labels(settings.name, "retried").inc()
            await asyncio.sleep(settings.backoff(attempt))
        counter.labels(settings.name, "failed").inc()
        log.warning("webhook not delivered", extra={
            "subscriber": settings.name, "kind": event.kind, "delivery": delivery,
            "attempts": attempt, "error": detail,
        })

    async def _post(self, settings: WebhookSettings, kind: str, body: bytes,
                    delivery: str) -> tuple[Attempt, str]:
        assert self._session is not None, "Webhooks.start() was not awaited"
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "X-ACD-Event": kind,
            "X-ACD-Delivery": delivery,
            "X-ACD-Timestamp": timestamp,
            "X-ACD-Signature": sign(settings.secret, timestamp, body),
        }
        try:
            async with self._session.post(
                settings.url, data=body, headers=headers, allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=settings.timeout_seconds),
            ) as response:
                status = response.status
        except TimeoutError:
            return Attempt.RETRY, "timeout"
        except (aiohttp.ClientError, OSError) as exc:
            return Attempt.RETRY, f"{type(exc).__name__}: {exc}"
        if 200 <= status < 300:
            return Attempt.DELIVERED, ""
        if status >= 500 or status in (408, 429):
            return Attempt.RETRY, f"HTTP {status}"
        return Attempt.REJECTED, f"HTTP {status}"
