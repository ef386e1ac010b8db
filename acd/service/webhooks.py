"""Webhooks: every event POSTed, signed, to each subscriber, from the Redis event stream.

Routing never hands webhooks an event, so it never waits on them: each subscriber is a Redis
consumer group ``webhook:<name>`` (:class:`~acd.store.webhook_groups.WebhookGroup`) on the
event stream that :class:`~acd.service.event_log.EventLog` writes. One delivery task per
subscriber reads the group (XREADGROUP), POSTs each event in stream order, retrying with
exponential backoff and jitter, and acknowledges it (XACK) once delivered or given up. What
was read and not acknowledged stays pending in Redis, so delivery is at least once: a restart
resumes where the group left off (a new group starts with the events published after it), and
the entries of a consumer that died are claimed by another (XAUTOCLAIM) once idle for
``claim_idle_seconds``. Several acd processes sharing a site split each subscriber's events
between them; the order then holds within each process.

Each POST carries the JSON body ``{"id", "kind", "ts", "data"}`` (UTF-8) and the headers
``X-ACD-Event`` (the kind), ``X-ACD-Delivery`` (the stream id, as the body's ``id``: the same on
every retry and after a restart, so a receiver can drop duplicates), ``X-ACD-Timestamp`` (unix
seconds of this attempt) and ``X-ACD-Signature: sha256=<hex>``, the HMAC-SHA256 with the
subscriber's secret of ``"<timestamp>." + body``. A receiver recomputes it over the raw body,
compares in constant time, and rejects a timestamp more than a few minutes old (a replay).
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import logging
import os
import random
import socket
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

import aiohttp

from acd.domain.addresses import check_http_url
from acd.domain.event_kinds import EventKind
from acd.domain.names import check_name
from acd.domain.setting_table import Secret, SettingTable
from acd.errors import ConfigError, InvalidInput, StoreUnavailable
from acd.metrics import Metrics
from acd.store.event_stream import Entry, EventStream, StreamEvent, event_of
from acd.store.round_trips import GroupMissing
from acd.store.webhook_groups import WebhookGroup
from acd.tasks import cancel_all

log = logging.getLogger("acd.webhooks")

EVENT_KINDS = frozenset(kind.value for kind in EventKind)
READ_COUNT = 50  # stream entries read, then delivered one by one, per XREADGROUP
BLOCK_MS = 2_000  # an XREADGROUP waits this long for new events; below the client's timeout
CLAIM_IDLE_SECONDS = 60.0  # a consumer's unacknowledged entries this idle are taken over
REDIS_RETRY_CAP_SECONDS = 30.0  # longest pause before reading again after a Redis error


def check_webhook_url(where: str, url: str) -> str:
    """``url`` if it is an absolute http(s) URL with a valid host and port, else a
    :class:`ConfigError` naming ``where``."""
    try:
        return check_http_url(where, url)
    except InvalidInput as exc:
        raise ConfigError(str(exc)) from None


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
    max_attempts: int = 20  # 0.5 s doubling to 60 s, jittered: a receiver may be down 6-13 min
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 60.0

    def __post_init__(self) -> None:
        check_webhook_url(f"webhooks.{self.name}.url", self.url)
        if not self.secret:
            raise ConfigError(f"webhooks.{self.name}.secret: missing")

    @classmethod
    def from_table(cls, table: SettingTable, env: Mapping[str, str]) -> WebhookSettings:
        """One ``[[webhooks]]`` subscriber; its secret from ``secret`` or from ``secret_env``."""
        table.expect([*(f.name for f in dataclasses.fields(cls)), "secret_env"])
        name = table.checked("name", check_name)
        url = check_webhook_url(table.field("url"), table.text("url", ""))
        secret_env = table.text("secret_env", "")
        if table.has("secret") and secret_env:
            raise table.error("secret", "give secret or secret_env, not both")
        secret = env.get(secret_env, "") if secret_env else table.text("secret", "")
        if not secret:
            missing = f"environment variable {secret_env} is not set" if secret_env else "missing"
            raise table.error("secret", missing)
        base = table.number("backoff_base_seconds", 0.5, low=0.001)
        return cls(
            name=name,
            url=url,
            secret=Secret(secret),
            kinds=frozenset(
                check_event_kind(table.field("kinds"), kind) for kind in table.strings("kinds")
            ),
            queues=frozenset(table.names("queues", check_name)),
            timeout_seconds=table.number("timeout_seconds", 5.0, low=0.01),
            max_attempts=table.whole("max_attempts", 20, low=1, high=100),
            backoff_base_seconds=base,
            backoff_cap_seconds=table.number("backoff_cap_seconds", max(60.0, base), low=base),
        )

    def wants(self, kind: str, data: dict[str, object]) -> bool:
        """Whether this subscriber takes an event of ``kind`` with ``data``."""
        if self.kinds and not any(
            kind == k or (k.endswith(".") and kind.startswith(k)) for k in self.kinds
        ):
            return False
        return not self.queues or data.get("queue") in self.queues

    def backoff(self, attempt: int) -> float:
        """Seconds to wait after failed ``attempt`` (1-based): doubling, capped, jittered."""
        delay = min(self.backoff_cap_seconds, self.backoff_base_seconds * 2 ** (attempt - 1))
        return random.uniform(delay / 2, delay)  # jitter: many acd processes do not retry at once


def webhook_body(event: StreamEvent) -> bytes:
    """The JSON body of one event's POST, UTF-8, names in any script kept as they are."""
    payload = {"id": event.id, "kind": event.kind, "ts": event.ts, "data": event.data}
    return json.dumps(payload, ensure_ascii=False, default=str).encode("utf-8")


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-ACD-Signature`` value: HMAC-SHA256 of ``"<timestamp>." + body``."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class Attempt(Enum):
    """What one POST came to."""

    DELIVERED = "delivered"
    RETRY = "retry"
    REJECTED = "rejected"


def default_consumer() -> str:
    """This process's consumer name in every group: host and pid, unique while it runs."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(slots=True)
class _Subscriber:
    settings: WebhookSettings
    group: WebhookGroup
    group_ready: bool = False
    in_flight: list[str] = field(default_factory=list)  # read, not yet acknowledged
    handled: list[str] = field(default_factory=list)  # done with; XACK still to send
    claim_from: str = "0-0"  # the XAUTOCLAIM cursor while a scan of the pending entries runs
    empty_reads: int = 0

    def reset(self) -> None:
        """Forget the group's state held here, before (re)joining it."""
        self.group_ready = False
        self.in_flight.clear()
        self.handled.clear()
        self.claim_from = "0-0"


class Webhooks:
    """Delivers the event stream to each subscriber through its own Redis consumer group."""

    def __init__(
        self,
        subscribers: Sequence[WebhookSettings],
        stream: EventStream,
        metrics: Metrics,
        *,
        consumer: str | None = None,
        block_ms: int = BLOCK_MS,
        claim_idle_seconds: float = CLAIM_IDLE_SECONDS,
    ) -> None:
        if block_ms <= 0:  # XREADGROUP BLOCK 0 would wait forever
            raise ValueError("block_ms must be positive")
        self.metrics = metrics
        self.consumer = consumer or default_consumer()
        self.block_ms = block_ms
        self.claim_idle_seconds = claim_idle_seconds
        self.subscribers = [_Subscriber(s, WebhookGroup(stream, s.name)) for s in subscribers]
        self._session: aiohttp.ClientSession | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping = False
        self._progress = asyncio.Condition()

    async def start(self) -> None:
        """Create the missing groups, open the HTTP session, start the delivery tasks.

        Never fails on Redis: a group that cannot be created yet is retried by its task.
        """
        self._stopping = False
        self._session = aiohttp.ClientSession(headers={"User-Agent": "acd-webhooks"})
        for subscriber in self.subscribers:
            subscriber.reset()
            try:
                await self._create_group(subscriber)
            except StoreUnavailable as exc:
                self._redis_failed("webhook group not created", subscriber, exc)
            self._spawn(self._deliver_forever(subscriber), f"webhook-{subscriber.settings.name}")
        if self.claim_idle_seconds > 0:
            self._spawn(self._keep_claimed(), "webhook-keep-claimed")

    async def stop(self) -> None:
        """Stop the tasks and close the session; what is pending is delivered after a restart."""
        self._stopping = True
        await cancel_all(self._tasks)
        await self._leave_groups()
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def wait_idle(self) -> None:
        """Return once every subscriber's task has handled what the stream held at the call.

        That is two empty reads after the call: the first may have been answered before the
        caller's last XADD, the second was sent after it. Callers bound this with a timeout.
        """
        targets = [(s, s.empty_reads + 2) for s in self.subscribers]
        async with self._progress:
            await self._progress.wait_for(lambda: all(s.empty_reads >= n for s, n in targets))

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(coro, name=name))

    # --- reading the stream -------------------------------------------------------------------

    async def _deliver_forever(self, sub: _Subscriber) -> None:
        """Read, deliver, acknowledge until stopped; Redis errors only delay it.

        First what this consumer name read before a restart and did not acknowledge, then the
        entries of consumers idle for ``claim_idle_seconds`` (again every so often), then new
        events.
        """
        loop = asyncio.get_running_loop()
        own_pending, next_claim, failures = True, 0.0, 0
        while not self._stopping:
            try:
                if not sub.group_ready:
                    await self._create_group(sub)
                await self._flush_acks(sub)
                if own_pending:
                    entries = await self._read(sub, "0")
                    own_pending = bool(entries)
                elif loop.time() >= next_claim:
                    entries = await self._claim(sub)
                    if sub.claim_from == "0-0":  # the scan is over; the next one later
                        next_claim = loop.time() + max(self.claim_idle_seconds, 1.0)
                else:
                    entries = await self._read(sub, ">")
                    if not entries:
                        async with self._progress:
                            sub.empty_reads += 1
                            self._progress.notify_all()
                failures = 0
            except GroupMissing:
                # The stream was deleted (or the group destroyed): start as a new group.
                log.warning(
                    "webhook group missing, created again", extra={"subscriber": sub.settings.name}
                )
                sub.reset()
                continue
            except Exception as exc:  # never ends the task: counted, logged, retried later
                if isinstance(exc, StoreUnavailable):
                    self._redis_failed("webhook stream not read", sub, exc)
                else:
                    log.exception("webhook reading failed", extra={"subscriber": sub.settings.name})
                failures += 1
                await asyncio.sleep(min(REDIS_RETRY_CAP_SECONDS, 0.1 * 2**failures))
                continue
            for entry_id, fields in entries:
                if self._stopping:
                    break
                await self._handle(sub, entry_id, fields)

    async def _create_group(self, sub: _Subscriber) -> None:
        """The subscriber's group, from new events on; an existing one keeps its position."""
        await sub.group.create()
        sub.group_ready = True

    async def _read(self, sub: _Subscriber, after: str) -> list[Entry]:
        """XREADGROUP: ``">"`` for new entries (blocking), ``"0"`` for this consumer's own."""
        block = self.block_ms if after == ">" else None
        entries = await sub.group.read(self.consumer, after, READ_COUNT, block)
        sub.in_flight.extend(entry_id for entry_id, _ in entries)
        return entries

    async def _claim(self, sub: _Subscriber) -> list[Entry]:
        """Take over entries another consumer left unacknowledged for ``claim_idle_seconds``."""
        sub.claim_from, entries, trimmed = await sub.group.claim_idle(
            self.consumer, int(self.claim_idle_seconds * 1000), sub.claim_from, READ_COUNT
        )
        for entry_id in trimmed:
            self._event_of(sub, entry_id, None)
        if entries:
            log.warning(
                "webhook events taken over from a stopped consumer",
                extra={"subscriber": sub.settings.name, "count": len(entries)},
            )
        sub.in_flight.extend(entry_id for entry_id, _ in entries)
        return entries

    async def _keep_claimed(self) -> None:
        """Touch the entries being delivered, so that no other process claims them meanwhile.

        A batch can take minutes when a receiver is down; XCLAIM to ourselves resets the idle
        time XAUTOCLAIM looks at.
        """
        while not self._stopping:
            await asyncio.sleep(self.claim_idle_seconds / 3)
            for sub in self.subscribers:
                if not sub.in_flight:
                    continue
                try:
                    await sub.group.keep_claimed(self.consumer, sub.in_flight)
                except StoreUnavailable as exc:
                    self._redis_failed("webhook entries not kept claimed", sub, exc)

    async def _leave_groups(self) -> None:
        """Acknowledge what was handled; leave each group if holding nothing (names pile up)."""
        for sub in self.subscribers:
            try:
                await self._flush_acks(sub)
                await sub.group.leave(self.consumer)
            except StoreUnavailable as exc:
                self._redis_failed("webhook consumer not removed", sub, exc)

    # --- one entry ----------------------------------------------------------------------------

    async def _handle(self, sub: _Subscriber, entry_id: str, fields: dict[str, str] | None) -> None:
        """Deliver one entry if the subscriber wants it, then acknowledge it."""
        event = self._event_of(sub, entry_id, fields)
        if event is None or not sub.settings.wants(event.kind, event.data):
            sub.handled.append(entry_id)  # acknowledged with the next delivered one
            return
        try:
            await self._deliver(sub.settings, event)
        except Exception:  # a bug here must not end deliveries for good
            self.metrics.webhook_deliveries.labels(sub.settings.name, "failed").inc()
            log.exception(
                "webhook delivery crashed",
                extra={"subscriber": sub.settings.name, "kind": event.kind, "delivery": entry_id},
            )
        # Only now: a stop during the POST leaves the entry pending, delivered after a restart.
        sub.handled.append(entry_id)
        try:
            await self._flush_acks(sub)
        except StoreUnavailable as exc:  # sent again before the next read
            self._redis_failed("webhook event not acknowledged", sub, exc)

    def _event_of(
        self, sub: _Subscriber, entry_id: str, fields: dict[str, str] | None
    ) -> StreamEvent | None:
        """The entry's event, or None (counted and logged) if trimmed away or malformed."""
        outcome, why = "dropped", "trimmed from the stream before delivery"
        if fields:
            try:
                return event_of(entry_id, fields)
            except ValueError as exc:
                outcome, why = "failed", f"malformed: {exc}"
        self.metrics.webhook_deliveries.labels(sub.settings.name, outcome).inc()
        log.warning(
            "webhook event not delivered",
            extra={"subscriber": sub.settings.name, "delivery": entry_id, "error": why},
        )
        return None

    async def _flush_acks(self, sub: _Subscriber) -> None:
        if not sub.handled:
            return
        done = list(sub.handled)
        await sub.group.acknowledge(done)
        del sub.handled[: len(done)]
        acked = set(done)
        sub.in_flight[:] = [i for i in sub.in_flight if i not in acked]

    def _redis_failed(self, message: str, sub: _Subscriber, exc: BaseException) -> None:
        # Counted in acd_redis_errors_total by the store already.
        log.warning(message, extra={"subscriber": sub.settings.name, "error": str(exc)})

    # --- HTTP ---------------------------------------------------------------------------------

    async def _deliver(self, settings: WebhookSettings, event: StreamEvent) -> None:
        """POST one event until it is delivered, refused, or out of attempts."""
        body = webhook_body(event)
        counter = self.metrics.webhook_deliveries
        for attempt in range(1, settings.max_attempts + 1):
            result, detail = await self._post(settings, event.kind, body, event.id)
            if result is Attempt.DELIVERED:
                counter.labels(settings.name, "delivered").inc()
                return
            if result is Attempt.REJECTED or attempt == settings.max_attempts:
                break
            counter.labels(settings.name, "retried").inc()
            await asyncio.sleep(settings.backoff(attempt))
        counter.labels(settings.name, "failed").inc()
        log.warning(
            "webhook not delivered",
            extra={
                "subscriber": settings.name,
                "kind": event.kind,
                "delivery": event.id,
                "attempts": attempt,
                "error": detail,
            },
        )

    async def _post(
        self, settings: WebhookSettings, kind: str, body: bytes, delivery: str
    ) -> tuple[Attempt, str]:
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
                settings.url,
                data=body,
                headers=headers,
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=settings.timeout_seconds),
            ) as response:
                status = response.status
                location = response.headers.get("Location", "")[:200]
        except TimeoutError:
            return Attempt.RETRY, "timeout"
        except (aiohttp.ClientError, OSError) as exc:
            return Attempt.RETRY, f"{type(exc).__name__}: {exc}"
        if 200 <= status < 300:
            return Attempt.DELIVERED, ""
        if 300 <= status < 400:
            # Not followed: the signed event would go wherever the Location says (and a 301/302
            # turns a POST into a GET). Most often the URL is out of date or a login page sits
            # in front of the receiver: retried like a 5xx, so nothing is lost while the
            # operator fixes the setting.
            log.warning(
                "webhook redirected",
                extra={"subscriber": settings.name, "status": status, "location": location},
            )
            return Attempt.RETRY, f"HTTP {status} to {location or '(no Location)'}"
        if status >= 500 or status in (408, 429):
            return Attempt.RETRY, f"HTTP {status}"
        return Attempt.REJECTED, f"HTTP {status}"
