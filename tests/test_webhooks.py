"""Webhooks: events read from the Redis stream by consumer group, POSTed signed to a real HTTP
receiver, retried, delivered at least once across restarts, never holding up routing."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, cast

import pytest
from aiohttp import web
from redis.asyncio import Redis

from acd.app import AcdApp
from acd.config import Secret, load_settings, settings_from_dict
from acd.errors import ConfigError
from acd.metrics import Metrics
from acd.service.event_log import EventLog, Fanout
from acd.service.webhooks import Webhooks, WebhookSettings
from acd.sim import Simulator
from acd.store.event_stream import EventStream
from acd.store.keys import Keys
from tests.support import contact_centre, log_in

SECRET = "whsec-Ñ-test"
GROUP = "webhook:crm"


class Receiver:
    """A tiny integrator: checks each POST's signature and answers from a script of statuses."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []  # answered in turn; 200 once used up
        self.location = ""  # the Location of a 3xx answer
        self.hang_first = 0  # this many requests wait until ``release`` is set
        self.release = asyncio.Event()
        self._changed = asyncio.Condition()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers["X-ACD-Timestamp"]
        expected = hmac.new(
            SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
        ).hexdigest()
        signed = hmac.compare_digest(request.headers["X-ACD-Signature"], "sha256=" + expected)
        status = self.statuses.pop(0) if self.statuses else 200
        async with self._changed:
            self.requests.append(
                {
                    "headers": dict(request.headers),
                    "body": json.loads(body),
                    "signed": signed,
                    "status": status,
                    "to": request.query.get("to", ""),
                }
            )
            self._changed.notify_all()
        if self.hang_first > 0:
            self.hang_first -= 1
            await self.release.wait()
        headers = {"Location": self.location} if 300 <= status < 400 and self.location else {}
        return web.Response(status=status, headers=headers)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The first ``count`` requests, awaited with a timeout."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.requests) >= count)
        return self.requests[:count]

    def delivered(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if 200 <= r["status"] < 300]

    def calls(self) -> list[str]:
        """The call ids of the delivered events, in the order they arrived."""
        return [r["body"]["data"]["call"] for r in self.delivered()]


async def serve(receiver: Receiver, port: int = 0) -> web.AppRunner:
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    receiver.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    return runner


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    runner = await serve(receiver)
    yield receiver
    receiver.release.set()
    await runner.cleanup()


def subscriber(url: str, **overrides: Any) -> WebhookSettings:
    fields: dict[str, Any] = {
        "name": "crm",
        "url": url,
        "secret": Secret(SECRET),
        "timeout_seconds": 2.0,
        "max_attempts": 4,
        "backoff_base_seconds": 0.01,
        "backoff_cap_seconds": 0.05,
    }
    return WebhookSettings(**(fields | overrides))


@pytest.fixture
async def metrics() -> Metrics:
    return Metrics()


@pytest.fixture
def event_log(redis: Redis, site: str, metrics: Metrics) -> EventLog:
    """The stream routing writes to; tests publish into it as the router does."""
    return EventLog(EventStream(redis, Keys(site), metrics))


StartWebhooks = Callable[..., Awaitable[Webhooks]]


@pytest.fixture
async def start_webhooks(event_log: EventLog, metrics: Metrics) -> AsyncIterator[StartWebhooks]:
    """Starts Webhooks as one acd process would; each call is another process (consumer)."""
    started: list[Webhooks] = []

    async def start(*subscribers: WebhookSettings, **options: Any) -> Webhooks:
        defaults: dict[str, Any] = {
            "consumer": f"host-{len(started)}",
            "block_ms": 50,
            "claim_idle_seconds": 0,
        }
        webhooks = Webhooks(subscribers, event_log.stream, metrics, **(defaults | options))
        await webhooks.start()
        started.append(webhooks)
        return webhooks

    yield start
    for webhooks in started:
        await webhooks.stop()


async def idle(*processes: Webhooks) -> None:
    """Wait until each process has delivered (or given up on) what the stream holds."""
    async with asyncio.timeout(10):
        for webhooks in processes:
            await webhooks.wait_idle()


async def stream_ids(redis: Redis, event_log: EventLog) -> list[str]:
    entries = cast(list[tuple[str, dict[str, str]]], await redis.xrange(event_log.stream.key))
    return [entry_id for entry_id, _ in entries]


def count(metrics: Metrics, name: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "acd_webhook_deliveries_total", {"subscriber": name, "outcome": outcome}
    )
    return 0.0 if value is None else value


async def test_crm_receives_signed_events_in_order_with_names_in_any_script(
    receiver: Receiver,
    metrics: Metrics,
    event_log: EventLog,
    redis: Redis,
    start_webhooks: StartWebhooks,
) -> None:
    webhooks = await start_webhooks(
        subscriber(receiver.url + "?to=crm"),
        subscriber(
            receiver.url + "?to=sales",
            name="sales-calls",
            kinds=frozenset({"call."}),
            queues=frozenset({"sales"}),
        ),
    )
    await event_log.publish(
        "call.offered", {"call": "c1", "queue": "sales", "caller_name": "Фатима الزهراء"}
    )
    await event_log.publish("agent.state", {"agent": "1001", "state": "ready"})
    await event_log.publish(
        "call.offered", {"call": "c2", "queue": "support", "caller_name": "Олег"}
    )
    await event_log.publish("call.answered", {"call": "c1", "queue": "sales", "agent": "1001"})
    await idle(webhooks)
    requests = await receiver.wait_for(6)
    assert len(receiver.requests) == 6
    assert all(r["signed"] for r in requests)
    seen = {
        to: [(r["body"]["kind"], r["body"]["data"].get("call")) for r in requests if r["to"] == to]
        for to in ("crm", "sales")
    }
    assert seen["crm"] == [
        ("call.offered", "c1"),
        ("agent.state", None),
        ("call.offered", "c2"),
        ("call.answered", "c1"),
    ]
    assert seen["sales"] == [("call.offered", "c1"), ("call.answered", "c1")]
    first = next(r for r in requests if r["to"] == "crm")
    assert first["body"]["data"]["caller_name"] == "Фатима الزهراء"
    assert first["headers"]["Content-Type"] == "application/json"
    assert first["headers"]["X-ACD-Event"] == "call.offered"
    assert set(first["body"]) == {"id", "kind", "ts", "data"}
    # An event's id is its stream id: in the body and the header, the same for every subscriber.
    assert all(r["headers"]["X-ACD-Delivery"] == r["body"]["id"] for r in requests)
    crm_ids = [r["body"]["id"] for r in requests if r["to"] == "crm"]
    assert crm_ids == await stream_ids(redis, event_log)
    assert count(metrics, "crm", "delivered") == 4
    assert count(metrics, "sales-calls", "delivered") == 2
    # Everything was acknowledged: nothing left for another process to take over.
    assert (await redis.xpending(event_log.stream.key, GROUP))["pending"] == 0
    assert (await redis.xpending(event_log.stream.key, "webhook:sales-calls"))["pending"] == 0


async def test_receiver_that_fails_twice_gets_the_event_once_after_retries(
    receiver: Receiver,
    metrics: Metrics,
    event_log: EventLog,
    start_webhooks: StartWebhooks,
) -> None:
    receiver.statuses = [500, 503]
    webhooks = await start_webhooks(subscriber(receiver.url))
    await event_log.publish("call.offered", {"call": "c1", "queue": "sales"})
    await event_log.publish("call.ended", {"call": "c1", "queue": "sales"})
    await idle(webhooks)
    requests = await receiver.wait_for(4)
    assert [r["status"] for r in requests] == [500, 503, 200, 200]
    assert [r["body"]["kind"] for r in receiver.delivered()] == ["call.offered", "call.ended"]
    # Retries of one event carry the same delivery id, so a receiver can drop duplicates.
    assert len({r["headers"]["X-ACD-Delivery"] for r in requests[:3]}) == 1
    assert count(metrics, "crm", "retried") == 2
    assert count(metrics, "crm", "delivered") == 2
    assert count(metrics, "crm", "failed") == 0


async def test_bad_request_is_not_retried_and_the_next_event_still_goes(
    receiver: Receiver,
    metrics: Metrics,
    event_log: EventLog,
    start_webhooks: StartWebhooks,
    caplog: pytest.LogCaptureFixture,
) -> None:
    receiver.statuses = [400]
    webhooks = await start_webhooks(subscriber(receiver.url))
    with caplog.at_level(logging.DEBUG, logger="acd.webhooks"):
        await event_log.publish("call.offered", {"call": "c1", "queue": "sales"})
        await event_log.publish("call.ended", {"call": "c1", "queue": "sales"})
        await idle(webhooks)
    requests = await receiver.wait_for(2)
    assert [r["status"] for r in requests] == [400, 200]
    assert count(metrics, "crm", "failed") == 1
    assert count(metrics, "crm", "retried") == 0
    assert "webhook not delivered" in caplog.text
    logged = caplog.text + " ".join(repr(vars(r)) for r in caplog.records)
    assert SECRET not in logged
    assert requests[0]["headers"]["X-ACD-Signature"] not in logged


@pytest.mark.parametrize("status", [408, 429])
async def test_timeout_and_too_many_requests_statuses_are_retried(
    receiver: Receiver,
    metrics: Metrics,
    event_log: EventLog,
    start_webhooks: StartWebhooks,
    status: int,
) -> None:
    receiver.statuses = [status]
    webhooks = await start_webhooks(subscriber(receiver.url))
    await event_log.publish("call.offered", {"call": "c1", "queue": "sales"})
    await idle(webhooks)
    assert [r["status"] for r in await receiver.wait_for(2)] == [status, 200]
    assert count(metrics, "crm", "retried") == 1 and count(metrics, "crm", "delivered") == 1


@pytest.mark.parametrize("status", [301, 302, 307, 308])
async def test_a_redirect_is_not_followed_but_retried_with_backoff_and_logged_with_its_location(
    receiver: Receiver,
    metrics: Metrics,
    event_log: EventLog,
    start_webhooks: StartWebhooks,
    caplog: pytest.LogCaptureFixture,
    status: int,
) -> None:
    # Following it would POST the signed event to wherever the Location says.
    elsewhere = Receiver()
    runner = await serve(elsewhere)
    try:
        receiver.statuses, receiver.location = [status, status], elsewhere.url
        webhooks = await start_webhooks(subscriber(receiver.url))
        with caplog.at_level(logging.WARNING, logger="acd.webhooks"):
            await event_log.publish("call.offered", {"call": "c1", "queue": "sales"})
            await idle(webhooks)
        assert [r["status"] for r in await receiver.wait_for(3)] == [status, status, 200]
        assert elsewhere.requests == []
        assert count(metrics, "crm", "retried") == 2 and count(metrics, "crm", "delivered") == 1
        redirected = [r for r in caplog.records if r.getMessage() == "webhook redirected"]
        assert len(redirected) == 2 and vars(redirected[0])["location"] == elsewhere.url
    finally:
        await runner.cleanup()


async def test_a_receiver_that_always_redirects_is_given_up_after_max_attempts(
    receiver: Receiver,
    metrics: Metrics,
    event_log: EventLog,
    start_webhooks: StartWebhooks,
) -> None:
    receiver.statuses, receiver.location = [302] * 4, "https://login.example/sso"
    webhooks = await start_webhooks(subscriber(receiver.url, max_attempts=4))
    await event_log.publish("call.offered", {"call": "c1", "queue": "sales"})
    await event_log.publish("call.ended", {"call": "c1", "queue": "sales"})
    await idle(webhooks)
    assert [r["status"] for r in await receiver.wait_for(5)] == [302] * 4 + [200]
    assert count(metrics, "crm", "retried") == 3 and count(metrics, "crm", "failed") == 1
    assert receiver.delivered()[0]["body"]["kind"] == "call.ended"


async def test_receiver_that_does_not_answer_in_time_is_retried(
    receiver: Receiver,
    metrics: Metrics,
    event_log: EventLog,
    start_webhooks: StartWebhooks,
) -> None:
    receiver.hang_first = 1
    webhooks = await start_webhooks(subscriber(receiver.url, timeout_seconds=0.2))
    await event_log.publish("call.offered", {"call": "c1", "queue": "sales"})
    await idle(webhooks)
    assert count(metrics, "crm", "retried") == 1 and count(metrics, "crm", "delivered") == 1


async def test_unreachable_receiver_is_given_up_after_max_attempts(
    metrics: Metrics,
    event_log: EventLog,
    redis: Redis,
    start_webhooks: StartWebhooks,
) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    webhooks = await start_webhooks(subscriber(f"http://127.0.0.1:{port}/hook", max_attempts=3))
    await event_log.publish("call.offered", {"call": "c1", "queue": "sales"})
    await idle(webhooks)
    assert count(metrics, "crm", "retried") == 2
    assert count(metrics, "crm", "failed") == 1
    # Given up is acknowledged too: no other process retries it forever.
    assert (await redis.xpending(event_log.stream.key, GROUP))["pending"] == 0


# --- durability: the stream and its consumer groups -----------------------------------------


async def test_calls_offered_while_acd_was_down_reach_the_crm_after_start_in_order_once(
    receiver: Receiver,
    event_log: EventLog,
    redis: Redis,
    start_webhooks: StartWebhooks,
) -> None:
    await event_log.publish("call.offered", {"call": "before-the-crm-subscribed", "queue": "s"})
    first = await start_webhooks(subscriber(receiver.url))  # the group starts at new events
    await first.stop()
    for n in range(1, 6):  # no acd process is running
        await event_log.publish("call.offered", {"call": f"c{n}", "queue": "sales"})
    again = await start_webhooks(subscriber(receiver.url))  # a new process: a new consumer
    await idle(again)
    assert receiver.calls() == ["c1", "c2", "c3", "c4", "c5"]
    assert all(r["signed"] for r in receiver.requests)
    assert [r["body"]["id"] for r in receiver.requests] == (await stream_ids(redis, event_log))[1:]
    # A further restart delivers what is new, and nothing twice.
    await again.stop()
    third = await start_webhooks(subscriber(receiver.url), consumer=again.consumer)
    await event_log.publish("call.ended", {"call": "c1", "queue": "sales"})
    await idle(third)
    assert receiver.calls() == ["c1", "c2", "c3", "c4", "c5", "c1"]
    assert len(receiver.requests) == 6
    # A process that stopped with nothing pending left its group.
    consumers = await redis.xinfo_consumers(event_log.stream.key, GROUP)
    assert [c["name"] for c in consumers] == [third.consumer]


async def test_call_event_left_unacknowledged_by_a_dead_process_is_taken_over(
    receiver: Receiver,
    event_log: EventLog,
    redis: Redis,
    start_webhooks: StartWebhooks,
) -> None:
    await redis.xgroup_create(event_log.stream.key, GROUP, id="$", mkstream=True)
    await event_log.publish("call.offered", {"call": "c1", "queue": "sales"})
    await event_log.publish("call.offered", {"call": "c2", "queue": "sales"})
    # Another process read c1 and died before delivering and acknowledging it.
    await redis.xreadgroup(GROUP, "dead-host-1", {event_log.stream.key: ">"}, count=1)
    alive = await start_webhooks(subscriber(receiver.url), claim_idle_seconds=60)
    await idle(alive)
    assert receiver.calls() == ["c2"]  # c1 is not idle long enough: its owner may be alive
    await alive.stop()
    later = await start_webhooks(subscriber(receiver.url), claim_idle_seconds=0)
    await idle(later)
    assert receiver.calls() == ["c2", "c1"]
    assert all(r["signed"] for r in receiver.requests)
    assert (await redis.xpending(event_log.stream.key, GROUP))["pending"] == 0


async def test_call_event_being_posted_when_acd_stops_is_delivered_after_the_restart(
    receiver: Receiver,
    event_log: EventLog,
    start_webhooks: StartWebhooks,
) -> None:
    receiver.hang_first = 1  # the CRM is slow to answer the first POST
    before = await start_webhooks(subscriber(receiver.url, timeout_seconds=60))
    await event_log.publish("call.offered", {"call": "c1", "queue": "sales"})
    await receiver.wait_for(1)
    await before.stop()  # mid-POST: the event stays pending, not acknowledged
    # The same consumer name comes back (a container restarted: same hostname, pid 1).
    after = await start_webhooks(
        subscriber(receiver.url), consumer=before.consumer, claim_idle_seconds=60
    )
    await idle(after)
    first, second = await receiver.wait_for(2)
    assert len(receiver.requests) == 2
    assert first["headers"]["X-ACD-Delivery"] == second["headers"]["X-ACD-Delivery"]
    assert second["body"]["data"]["call"] == "c1" and second["status"] == 200


async def test_entry_that_is_no_event_is_counted_and_the_next_call_event_still_goes(
    receiver: Receiver,
    metrics: Metrics,
    event_log: EventLog,
    redis: Redis,
    start_webhooks: StartWebhooks,
) -> None:
    webhooks = await start_webhooks(subscriber(receiver.url))
    await redis.xadd(event_log.stream.key, {"kind": "call.offered", "ts": "1", "data": "not json"})
    await event_log.publish("call.offered", {"call": "c1", "queue": "sales"})
    await idle(webhooks)
    assert receiver.calls() == ["c1"]
    assert count(metrics, "crm", "failed") == 1
    assert (await redis.xpending(event_log.stream.key, GROUP))["pending"] == 0


async def test_two_acd_processes_deliver_each_call_event_once_between_them(
    receiver: Receiver,
    event_log: EventLog,
    redis: Redis,
    start_webhooks: StartWebhooks,
) -> None:
    one = await start_webhooks(subscriber(receiver.url), consumer="acd-a-1", claim_idle_seconds=60)
    two = await start_webhooks(subscriber(receiver.url), consumer="acd-b-2", claim_idle_seconds=60)
    for n in range(40):
        await event_log.publish("call.offered", {"call": f"c{n}", "queue": "sales"})
    await idle(one, two)
    ids = [r["body"]["id"] for r in receiver.requests]
    assert len(ids) == 40
    assert sorted(ids, key=lambda i: tuple(map(int, i.split("-")))) == await stream_ids(
        redis, event_log
    )
    assert (await redis.xpending(event_log.stream.key, GROUP))["pending"] == 0


async def test_crm_that_was_down_gets_the_calls_when_it_comes_back(
    metrics: Metrics,
    event_log: EventLog,
    start_webhooks: StartWebhooks,
) -> None:
    knocked = asyncio.Event()

    async def refuse(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        knocked.set()  # the CRM is down: connections are dropped at once
        writer.close()

    down = await asyncio.start_server(refuse, "127.0.0.1", 0)
    port = down.sockets[0].getsockname()[1]
    webhooks = await start_webhooks(subscriber(f"http://127.0.0.1:{port}/hook", max_attempts=1_000))
    await event_log.publish("call.offered", {"call": "c1", "queue": "sales"})
    await event_log.publish("call.answered", {"call": "c1", "queue": "sales", "agent": "1001"})
    async with asyncio.timeout(10):
        await knocked.wait()
    down.close()
    await down.wait_closed()
    receiver = Receiver()
    runner = await serve(receiver, port)  # back, on the same address
    try:
        await idle(webhooks)
    finally:
        await runner.cleanup()
    assert [r["body"]["kind"] for r in receiver.delivered()] == ["call.offered", "call.answered"]
    assert all(r["signed"] for r in receiver.requests)
    assert count(metrics, "crm", "retried") >= 1 and count(metrics, "crm", "failed") == 0
    # Routing cannot wait on webhooks: they are no event sink at all.
    assert not hasattr(webhooks, "publish")


# --- configuration ---------------------------------------------------------------------------

BASE: dict[str, Any] = {"ami": {"secret": "s"}}
HOOK: dict[str, Any] = {"name": "crm", "url": "https://crm.example/acd", "secret": "k"}


@pytest.mark.parametrize(
    ("hook", "named"),
    [
        ({**HOOK, "url": "ftp://crm.example/x"}, "webhooks[0].url: must be an http or https URL"),
        ({**HOOK, "url": "crm.example"}, "webhooks[0].url"),
        ({"name": "crm", "url": "https://crm.example"}, "webhooks[0].secret: missing"),
        ({**HOOK, "secret_env": "CRM_SECRET"}, "webhooks[0].secret: give secret or secret_env"),
        (
            {"name": "crm", "url": "https://x.example", "secret_env": "NOPE"},
            "webhooks[0].secret: environment variable NOPE is not set",
        ),
        ({**HOOK, "kinds": ["call.answerd"]}, "webhooks[0].kinds: unknown event kind"),
        ({**HOOK, "kinds": "call."}, "webhooks[0].kinds: must be a list of strings"),
        ({**HOOK, "max_attempts": 0}, "webhooks[0].max_attempts"),
        ({**HOOK, "timeout_seconds": "soon"}, "webhooks[0].timeout_seconds"),
        ({**HOOK, "name": ""}, "webhooks[0].name"),
        ({**HOOK, "sekret": "k"}, "webhooks[0].sekret: unknown setting (did you mean secret?)"),
    ],
)
def test_bad_webhook_setting_is_named(hook: dict[str, Any], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        settings_from_dict({**BASE, "webhooks": [hook]}, env={})
    assert str(caught.value).startswith(named)


def test_webhook_name_used_twice_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^webhooks: a webhook name appears twice"):
        settings_from_dict({**BASE, "webhooks": [HOOK, HOOK]}, env={})


def test_webhook_from_file_with_secret_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "acd.toml"
    path.write_text(
        """
[[webhooks]]
name = "crm"
url = "https://crm.example/acd"
secret_env = "CRM_WEBHOOK_SECRET"
kinds = ["call.", "agent.missed"]
queues = ["продажи"]
max_attempts = 3
""",
        encoding="utf-8",
    )
    settings = load_settings(path, env={"ACD_AMI_SECRET": "s", "CRM_WEBHOOK_SECRET": "hunter22"})
    (hook,) = settings.webhooks
    assert hook.secret == "hunter22" and "hunter22" not in repr(settings)
    assert hook.kinds == {"call.", "agent.missed"} and hook.queues == {"продажи"}
    assert hook.max_attempts == 3
    assert hook.wants("call.ended", {"queue": "продажи"})
    assert not hook.wants("call.ended", {"queue": "sales"})
    assert not hook.wants("agent.state", {"queue": "продажи"})
    assert settings_from_dict(BASE).webhooks == ()
    # Without max_attempts, retries span 6.5 to 13 minutes of a receiver being down.
    (default,) = settings_from_dict({**BASE, "webhooks": [HOOK]}, env={}).webhooks
    assert default.max_attempts == 20
    # Jitter waits at least half of each doubling, capped delay: over 6.5 minutes in all.
    assert sum(default.backoff(n) for n in range(1, 20)) > 390


# --- end to end ------------------------------------------------------------------------------


async def test_crm_webhook_hears_a_call_offered_and_answered(
    sim: Simulator, redis_url: str, site: str, receiver: Receiver
) -> None:
    sim.add_phone("1001", answer_after=0.5, talk_for=0.5)
    settings = dataclasses.replace(
        contact_centre(redis_url, sim.port, site=site),
        webhooks=(subscriber(receiver.url, kinds=frozenset({"call."})),),
    )
    app = AcdApp(settings)
    await app.start()
    try:
        await app.ami.wait_connected(10)
        await log_in(app, "1001")
        call = await sim.place_call(queue="sales", caller_name="Фатима الزهراء", patience=60)
        assert await call.answered(timeout=10) == "1001"
        requests = await receiver.wait_for(2)
        # The router's sinks do not include webhooks: they read the stream from Redis.
        assert isinstance(app.router.sink, Fanout) and app.webhooks is not None
        assert all(not isinstance(s, Webhooks) for s in app.router.sink.sinks)
    finally:
        await app.stop()
    assert all(r["signed"] for r in requests)
    offered, answered = (r["body"] for r in requests)
    assert (offered["kind"], answered["kind"]) == ("call.offered", "call.answered")
    assert offered["data"]["caller_name"] == "Фатима الزهراء"
    assert offered["data"]["call"] == answered["data"]["call"] == call.uniqueid
    assert answered["data"]["agent"] == "1001"
    value = app.metrics.registry.get_sample_value(
        "acd_webhook_deliveries_total", {"subscriber": "crm", "outcome": "delivered"}
    )
    assert value is not None and value >= 2
