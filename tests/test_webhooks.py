"""Webhooks: events POSTed signed to a real HTTP receiver, retried, never holding up routing."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from acd.app import AcdApp
from acd.config import Secret, load_settings, settings_from_dict
from acd.errors import ConfigError
from acd.metrics import Metrics
from acd.service.webhooks import Webhooks, WebhookSettings
from acd.sim import Simulator
from tests.support import contact_centre, log_in

SECRET = "whsec-Ñ-test"


class Receiver:
    """A tiny integrator: checks each POST's signature and answers from a script of statuses."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses: list[int] = []  # answered in turn; 200 once used up
        self.hang_first = 0  # this many requests wait until ``release`` is set
        self.release = asyncio.Event()
        self.hanging = asyncio.Event()
        self._changed = asyncio.Condition()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        timestamp = request.headers["X-ACD-Timestamp"]
        expected = hmac.new(SECRET.encode(), f"{timestamp}.".encode() + body,
                            hashlib.sha256).hexdigest()
        signed = hmac.compare_digest(request.headers["X-ACD-Signature"], "sha256=" + expected)
        status = self.statuses.pop(0) if self.statuses else 200
        async with self._changed:
            self.requests.append({"headers": dict(request.headers), "body": json.loads(body),
                                  "signed": signed, "status": status,
                                  "to": request.query.get("to", "")})
            self._changed.notify_all()
        if self.hang_first > 0:
            self.hang_first -= 1
            self.hanging.set()
            await self.release.wait()
        return web.Response(status=status)

    async def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The first ``count`` requests, awaited with a timeout."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(lambda: len(self.requests) >= count)
        return self.requests[:count]

    def delivered(self) -> list[dict[str, Any]]:
        return [r for r in self.requests if 200 <= r["status"] < 300]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/hook", receiver.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    receiver.url = f"http://127.0.0.1:{port}/hook"
    yield receiver
    receiver.release.set()
    await runner.cleanup()


def subscriber(url: str, **overrides: Any) -> WebhookSettings:
    fields: dict[str, Any] = {"name": "crm", "url": url, "secret": Secret(SECRET),
                              "timeout_seconds": 2.0, "max_attempts": 4,
                              "backoff_base_seconds": 0.01, "backoff_cap_seconds": 0.05}
    return WebhookSettings(**(fields | overrides))


@pytest.fixture
async def metrics() -> Metrics:
    return Metrics()


def count(metrics: Metrics, name: str, outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "acd_webhook_deliveries_total", {"subscriber": name, "outcome": outcome})
    return 0.0 if value is None else value


async def test_crm_receives_signed_events_in_order_with_names_in_any_script(
    receiver: Receiver, metrics: Metrics
) -> None:
    webhooks = Webhooks([
        subscriber(receiver.url + "?to=crm"),
        subscriber(receiver.url + "?to=sales", name="sales-calls", kinds=frozenset({"call."}),
                   queues=frozenset({"sales"})),
    ], metrics)
    await webhooks.start()
    try:
        await webhooks.publish("call.offered", {"call": "c1", "queue": "sales",
                                                "caller_name": "Фатима الزهراء"})
        await webhooks.publish("agent.state", {"agent": "1001", "state": "ready"})
        await webhooks.publish("call.offered", {"call": "c2", "queue": "support",
                                                "caller_name": "Олег"})
        await webhooks.publish("call.answered", {"call": "c1", "queue": "sales", "agent": "1001"})
        await webhooks.wait_idle()
    finally:
        await webhooks.stop()
    requests = await receiver.wait_for(6)
    assert all(r["signed"] for r in requests)
    seen = {to: [(r["body"]["kind"], r["body"]["data"].get("call")) for r in requests
                 if r["to"] == to] for to in ("crm", "sales")}
    assert seen["crm"] == [("call.offered", "c1"), ("agent.state", None),
                           ("call.offered", "c2"), ("call.answered", "c1")]
    assert seen["sales"] == [("call.offered", "c1"), ("call.answered", "c1")]
    first = next(r for r in requests if r["to"] == "crm")
    assert first["body"]["data"]["caller_name"] == "Фатима الزهراء"
    assert first["headers"]["Content-Type"] == "application/json"
    assert first["headers"]["X-ACD-Event"] == "call.offered"
    assert set(first["body"]) == {"id", "kind", "ts", "data"}
    # Each delivery has an id of its own; one event keeps one id for every subscriber.
    assert len({r["headers"]["X-ACD-Delivery"] for r in requests}) == 6
    assert len({r["body"]["id"] for r in requests}) == 4
    assert count(metrics, "crm", "delivered") == 4
    assert count(metrics, "sales-calls", "delivered") == 2


async def test_receiver_that_fails_twice_gets_the_event_once_after_retries(
    receiver: Receiver, metrics: Metrics
) -> None:
    receiver.statuses = [500, 503]
    webhooks = Webhooks([subscriber(receiver.url)], metrics)
    await webhooks.start()
    try:
        await webhooks.publish("call.offered", {"call": "c1", "queue": "sales"})
        await webhooks.publish("call.ended", {"call": "c1", "queue": "sales"})
        await webhooks.wait_idle()
    finally:
        await webhooks.stop()
    requests = await receiver.wait_for(4)
    assert [r["status"] for r in requests] == [500, 503, 200, 200]
    assert [r["body"]["kind"] for r in receiver.delivered()] == ["call.offered", "call.ended"]
    # Retries of one event carry the same delivery id, so a receiver can drop duplicates.
    assert len({r["headers"]["X-ACD-Delivery"] for r in requests[:3]}) == 1
    assert count(metrics, "crm", "retried") == 2
    assert count(metrics, "crm", "delivered") == 2
    assert count(metrics, "crm", "failed") == 0


async def test_bad_request_is_not_retried_and_the_next_event_still_goes(
    receiver: Receiver, metrics: Metrics, caplog: pytest.LogCaptureFixture
) -> None:
    receiver.statuses = [400]
    webhooks = Webhooks([subscriber(receiver.url)], metrics)
    await webhooks.start()
    try:
        with caplog.at_level(logging.DEBUG, logger="acd.webhooks"):
            await webhooks.publish("call.offered", {"call": "c1", "queue": "sales"})
            await webhooks.publish("call.ended", {"call": "c1", "queue": "sales"})
            await webhooks.wait_idle()
    finally:
        await webhooks.stop()
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
    receiver: Receiver, metrics: Metrics, status: int
) -> None:
    receiver.statuses = [status]
    webhooks = Webhooks([subscriber(receiver.url)], metrics)
    await webhooks.start()
    try:
        await webhooks.publish("call.offered", {"call": "c1", "queue": "sales"})
        await webhooks.wait_idle()
    finally:
        await webhooks.stop()
    assert [r["status"] for r in await receiver.wait_for(2)] == [status, 200]
    assert count(metrics, "crm", "retried") == 1 and count(metrics, "crm", "delivered") == 1


async def test_receiver_that_does_not_answer_in_time_is_retried(
    receiver: Receiver, metrics: Metrics
) -> None:
    receiver.hang_first = 1
    webhooks = Webhooks([subscriber(receiver.url, timeout_seconds=0.2)], metrics)
    await webhooks.start()
    try:
        await webhooks.publish("call.offered", {"call": "c1", "queue": "sales"})
        await webhooks.wait_idle()
    finally:
        await webhooks.stop()
    assert count(metrics, "crm", "retried") == 1 and count(metrics, "crm", "delivered") == 1


async def test_unreachable_receiver_is_given_up_after_max_attempts(metrics: Metrics) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    webhooks = Webhooks([subscriber(f"http://127.0.0.1:{port}/hook", max_attempts=3)], metrics)
    await webhooks.start()
    try:
        await webhooks.publish("call.offered", {"call": "c1", "queue": "sales"})
        await asyncio.wait_for(webhooks.wait_idle(), 10)
    finally:
        await webhooks.stop()
    assert count(metrics, "crm", "retried") == 2
    assert count(metrics, "crm", "failed") == 1


async def test_hanging_receiver_never_slows_publish_and_oldest_events_are_dropped(
    receiver: Receiver, metrics: Metrics
) -> None:
    receiver.hang_first = 1
    webhooks = Webhooks([subscriber(receiver.url, timeout_seconds=60)], metrics, queue_size=3)
    await webhooks.start()
    try:
        await webhooks.publish("call.offered", {"call": "c0", "queue": "sales"})
        async with asyncio.timeout(10):
            await receiver.hanging.wait()  # the delivery task is now stuck in its POST
        for n in range(1, 6):
            publish = webhooks.publish("call.offered", {"call": f"c{n}", "queue": "sales"})
            # publish finishes without ever suspending: routing never waits on HTTP.
            with pytest.raises(StopIteration):
                publish.send(None)
        queue = webhooks.subscribers[0].queue
        assert queue.qsize() == 3
        assert [queue.get_nowait().data["call"] for _ in range(3)] == ["c3", "c4", "c5"]
        assert webhooks.subscribers[0].dropped == 2
        assert count(metrics, "crm", "dropped") == 2
    finally:
        await webhooks.stop()  # cancels the stuck delivery cleanly


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
        ({"name": "crm", "url": "https://x.example", "secret_env": "NOPE"},
         "webhooks[0].secret: environment variable NOPE is not set"),
        ({**HOOK, "kinds": ["call.answerd"]}, "webhooks[0].kinds: unknown event kind"),
        ({**HOOK, "kinds": "call."}, "webhooks[0].kinds: must be a list of strings"),
        ({**HOOK, "max_attempts": 0}, "webhooks[0].max_attempts"),
        ({**HOOK, "timeout_seconds": "soon"}, "webhooks[0].timeout_seconds"),
        ({**HOOK, "name": ""}, "webhooks[0].name"),
        ({**HOOK, "sekret": "k"}, "webhooks[0]: unknown key 'sekret'"),
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
    path.write_text("""
[[webhooks]]
name = "crm"
url = "https://crm.example/acd"
secret_env = "CRM_WEBHOOK_SECRET"
kinds = ["call.", "agent.missed"]
queues = ["продажи"]
max_attempts = 3
""", encoding="utf-8")
    settings = load_settings(path, env={"ACD_AMI_SECRET": "s", "CRM_WEBHOOK_SECRET": "hunter22"})
    (hook,) = settings.webhooks
    assert hook.secret == "hunter22" and "hunter22" not in repr(settings)
    assert hook.kinds == {"call.", "agent.missed"} and hook.queues == {"продажи"}
    assert hook.max_attempts == 3
    assert hook.wants("call.ended", {"queue": "продажи"})
    assert not hook.wants("call.ended", {"queue": "sales"})
    assert not hook.wants("agent.state", {"queue": "продажи"})
    assert settings_from_dict(BASE).webhooks == ()


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
    finally:
        await app.stop()
    assert all(r["signed"] for r in requests)
    offered, answered = (r["body"] for r in requests)
    assert (offered["kind"], answered["kind"]) == ("call.offered", "call.answered")
    assert offered["data"]["caller_name"] == "Фатима الزهراء"
    assert offered["data"]["call"] == answered["data"]["call"] == call.uniqueid
    assert answered["data"]["agent"] == "1001"
    value = app.metrics.registry.get_sample_value(
        "acd_webhook_deliveries_total", {"subscriber": "crm", "outcome": "delivered"})
    assert value is not None and value >= 2
