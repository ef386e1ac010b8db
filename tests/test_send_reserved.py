"""``send`` to a named agent who is not free yet (issue 13.4): the call is reserved for them
(202), held from everyone else, offered to them first when they are free (ahead of older
calls of their queues), and given back to normal routing at its own place when the
reservation times out or the agent does not answer. The reservation lives in Redis: a new acd
process honours it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from acd.app import AcdApp
from acd.sim import Simulator
from tests.conftest import MakeAcd
from tests.openapi_check import check_response
from tests.pbx.tiers import Pbx
from tests.support import RecordingSink, contact_centre, log_in
from tests.test_api import TOKENS, Client, http_settings
from tests.test_call_actions import EventWatcher

SUPERVISOR = TOKENS["supervisor"]
AGENTS: list[dict[str, Any]] = [
    {"id": "1001", "name": "Anna", "dial": "PJSIP/1001", "queues": {"sales": 1}},
    # Bram does not speak Dutch: the older Dutch caller is Anna's alone.
    {"id": "1002", "name": "Bram", "dial": "PJSIP/1002", "queues": {"sales": 1}},
]
SKILLED_AGENTS: list[dict[str, Any]] = [
    {**AGENTS[0], "skills": {"lang:nl": 5}},
    AGENTS[1],
]


async def _send(api: Client, call_id: str, **body: Any) -> tuple[int, Any]:
    return await api.request("POST", f"/api/v1/calls/{call_id}/send", token=SUPERVISOR, json=body)


async def test_send_to_a_talking_agent_reserves_the_call_for_after_their_wrap_up(
    pbx: Pbx, make_tier_acd: MakeAcd
) -> None:
    # Anna talks briefly, then wraps up for 3 s: the reservation is made meanwhile.
    await pbx.add_phone("1001", answer_after=0.5, talk_for=1.0)
    queues = [{"name": "sales", "ring_timeout_seconds": 15, "wrap_up_seconds": 3}]
    app, sink = await make_tier_acd(agents=AGENTS, queues=queues, http=http_settings())
    async with aiohttp.ClientSession() as session:
        api = Client(session, f"http://127.0.0.1:{app.http_port}", sink)
        await log_in(app, "1001")
        first = await pbx.place_call("sales", caller_name="Ada", patience=600)
        assert await first.answered(timeout=15) == "1001"
        older = await pbx.place_call("sales", caller_name="Олег", patience=600)
        await sink.wait_for("call.offered", call=older.uniqueid)
        named = await pbx.place_call("sales", caller_name="مریم", patience=600)
        await sink.wait_for("call.offered", call=named.uniqueid)

        status, body = await _send(api, named.uniqueid, agent="1001", timeout_seconds=30)

        assert status == 202, body
        check_response("post", "/api/v1/calls/{call}/send", status, body)
        assert body["status"] == "waiting" and body["reserved_for"] == "1001"
        assert 25 < body["reserved_until"] - time.time() <= 30
        reserved = await sink.wait_for("call.reserved", call=named.uniqueid)
        assert reserved["agent"] == "1001"
        # Anna's next call is the one sent to her, though the other caller waited longer.
        assert await named.answered(timeout=20) == "1001"
        waiting = await app.store.get_call_fields(older.uniqueid)
        assert (waiting["status"], waiting["agent"]) == ("waiting", "")
        status, body = await api.request("GET", f"/api/v1/calls/{named.uniqueid}", token=SUPERVISOR)
        assert body["reserved_for"] == "" and body["reserved_until"] is None


@pytest.fixture
async def api(sim: Simulator, make_acd: MakeAcd) -> AsyncIterator[Client]:
    for endpoint in ("1001", "1002"):
        sim.add_phone(endpoint, answer_after=0.5, talk_for=3600)
    queues = [{"name": "sales", "ring_timeout_seconds": 15, "wrap_up_seconds": 1}]
    app, sink = await make_acd(agents=SKILLED_AGENTS, queues=queues, http=http_settings())
    async with aiohttp.ClientSession() as session:
        client = Client(session, f"http://127.0.0.1:{app.http_port}", sink)
        client.app = app  # type: ignore[attr-defined]
        yield client


async def _history(api: Client, call_id: str) -> list[tuple[str, str]]:
    """(event, agent) of each entry of the call's history, oldest first."""
    status, body = await api.request("GET", f"/api/v1/calls/{call_id}", token=SUPERVISOR)
    assert status == 200, body
    return [(entry["event"], entry.get("agent", "")) for entry in body["history"]]


def _app(api: Client) -> AcdApp:
    app: AcdApp = api.app  # type: ignore[attr-defined]
    return app


async def test_a_reserved_call_is_held_from_other_free_agents_and_offered_first(
    api: Client, sim: Simulator
) -> None:
    app = _app(api)
    await log_in(app, "1001")
    first = await sim.place_call(queue="sales", patience=None, talk_for=3600)
    assert await first.answered(timeout=10) == "1001"
    dutch = await sim.place_call(queue="sales", skills="lang:nl=5", patience=None)
    await api.sink.wait_for("call.offered", call=dutch.uniqueid)
    named = await sim.place_call(queue="sales", caller_name="Фатима", patience=None)
    await api.sink.wait_for("call.offered", call=named.uniqueid)

    status, body = await _send(api, named.uniqueid, agent="1001")

    assert status == 202 and body["reserved_for"] == "1001", body
    assert 50 < body["reserved_until"] - time.time() <= 60  # the default timeout
    # Bram is free, and the call is one he could take: it is held for Anna.
    await log_in(app, "1002")
    await api.sink.wait_for("agent.state", agent="1002", state="ready")
    first.hang_up()
    assert await named.answered(timeout=10) == "1001"
    await api.sink.wait_for("call.answered", call=named.uniqueid)
    assert dutch.is_up and not dutch.is_answered
    history = await _history(api, named.uniqueid)
    assert ("call.reserved", "1001") in history
    assert [e for e in history if e[0] == "call.offered_to_agent"] == [
        ("call.offered_to_agent", "1001")
    ]
    bram = await app.store.get_agent("1002")
    assert bram is not None and bram.state.value == "ready" and bram.calls_taken == 0


async def test_a_reservation_that_times_out_lets_anyone_take_the_call(
    api: Client, sim: Simulator
) -> None:
    app = _app(api)
    await log_in(app, "1001")
    first = await sim.place_call(queue="sales", patience=None, talk_for=3600)
    assert await first.answered(timeout=10) == "1001"
    named = await sim.place_call(queue="sales", patience=None)
    await api.sink.wait_for("call.offered", call=named.uniqueid)
    status, body = await _send(api, named.uniqueid, agent="1001", timeout_seconds=1)
    assert status == 202, body
    await log_in(app, "1002")

    expired = await api.sink.wait_for("call.reservation_ended", call=named.uniqueid)

    assert (expired["agent"], expired["reason"]) == ("1001", "timeout")
    assert await named.answered(timeout=10) == "1002"
    await api.sink.wait_for("call.answered", call=named.uniqueid)
    history = await _history(api, named.uniqueid)
    offers = [e for e in history if e[0] == "call.offered_to_agent"]
    assert offers == [("call.offered_to_agent", "1002")]
    assert history.index(("call.reservation_ended", "1001")) < history.index(offers[0])


async def test_sending_a_reserved_call_to_a_ready_agent_replaces_the_reservation(
    api: Client, sim: Simulator
) -> None:
    app = _app(api)
    await log_in(app, "1001")
    first = await sim.place_call(queue="sales", patience=None, talk_for=3600)
    assert await first.answered(timeout=10) == "1001"
    named = await sim.place_call(queue="sales", patience=None)
    await api.sink.wait_for("call.offered", call=named.uniqueid)
    assert (await _send(api, named.uniqueid, agent="1001"))[0] == 202
    await log_in(app, "1002")
    await api.sink.wait_for("agent.state", agent="1002", state="ready")

    status, body = await _send(api, named.uniqueid, agent="1002")

    assert status == 200, body
    assert (body["status"], body["agent"], body["reserved_for"]) == ("offered", "1002", "")
    ended = await api.sink.wait_for("call.reservation_ended", call=named.uniqueid)
    assert (ended["agent"], ended["reason"]) == ("1001", "replaced")
    assert await named.answered(timeout=10) == "1002"


async def test_a_reserved_offer_not_answered_goes_back_to_normal_routing(
    api: Client, sim: Simulator
) -> None:
    app = _app(api)
    sim.phone("1001").answers = False
    # Anna is ringing (she will not answer) when the call is sent to her.
    await log_in(app, "1001")
    dialling = EventWatcher(sim, "DialBegin")
    ringing = await sim.place_call(queue="sales", patience=None)
    await asyncio.wait_for(dialling.seen, 10)
    named = await sim.place_call(queue="sales", patience=None)
    await api.sink.wait_for("call.offered", call=named.uniqueid)
    status, body = await _send(api, named.uniqueid, agent="1001")
    assert status == 202, body
    # Anna misses the first call and is paused for it: the reservation cannot be honoured.
    await api.sink.wait_for("agent.missed", call=ringing.uniqueid)
    ended = await api.sink.wait_for("call.reservation_ended", call=named.uniqueid)
    assert ended["agent"] == "1001"
    await log_in(app, "1002")
    assert await ringing.answered(timeout=10) == "1002"  # the older call first, as ever
    fields = await app.store.get_call_fields(named.uniqueid)
    assert (fields["status"], fields.get("reserved_for", "")) == ("waiting", "")


async def test_the_named_agent_missing_the_reserved_offer_ends_the_reservation(
    api: Client, sim: Simulator
) -> None:
    app = _app(api)
    await log_in(app, "1001")
    first = await sim.place_call(queue="sales", patience=None, talk_for=3600)
    assert await first.answered(timeout=10) == "1001"
    named = await sim.place_call(queue="sales", patience=None)
    await api.sink.wait_for("call.offered", call=named.uniqueid)
    assert (await _send(api, named.uniqueid, agent="1001"))[0] == 202
    sim.phone("1001").answers = False
    first.hang_up()
    # Offered to Anna after her wrap-up; she lets it ring out: normal no-answer.
    missed = await api.sink.wait_for("agent.missed", call=named.uniqueid, timeout=20)
    assert missed["agent"] == "1001"
    await log_in(app, "1002")
    assert await named.answered(timeout=10) == "1002"


async def test_a_new_acd_process_honours_the_reservation(
    sim: Simulator, make_acd: MakeAcd, redis_url: str, site: str
) -> None:
    for endpoint in ("1001", "1002"):
        sim.add_phone(endpoint, answer_after=0.5, talk_for=3600)
    queues = [{"name": "sales", "ring_timeout_seconds": 15, "wrap_up_seconds": 1}]
    app, sink = await make_acd(agents=AGENTS, queues=queues, http=http_settings())
    async with aiohttp.ClientSession() as session:
        api = Client(session, f"http://127.0.0.1:{app.http_port}", sink)
        await log_in(app, "1001")
        first = await sim.place_call(queue="sales", patience=None, talk_for=3600)
        assert await first.answered(timeout=10) == "1001"
        named = await sim.place_call(queue="sales", patience=None)
        await sink.wait_for("call.offered", call=named.uniqueid)
        assert (await _send(api, named.uniqueid, agent="1001"))[0] == 202
    await app.stop()

    settings = contact_centre(redis_url, sim.port, site=site, agents=AGENTS, queues=queues)
    again = AcdApp(settings, sink=(sink := RecordingSink()))
    await again.start()
    try:
        await sink.wait_for("telephony.reconciled")
        fields = await again.store.get_call_fields(named.uniqueid)
        assert fields["reserved_for"] == "1001"
        await log_in(again, "1002")
        await sink.wait_for("agent.state", agent="1002", state="ready")
        first.hang_up()
        assert await named.answered(timeout=10) == "1001"
        bram = await again.store.get_agent("1002")
        assert bram is not None and bram.state.value == "ready" and bram.calls_taken == 0
    finally:
        await again.stop()


async def test_send_answers_409_for_a_paused_or_logged_out_agent_and_400_for_a_bad_timeout(
    api: Client, sim: Simulator
) -> None:
    named = await sim.place_call(queue="sales", patience=None)
    await api.sink.wait_for("call.offered", call=named.uniqueid)
    status, body = await _send(api, named.uniqueid, agent="1001")
    assert status == 409 and "logged_out" in body["error"]
    for bad in (0, 3601, "60", True):
        status, body = await _send(api, named.uniqueid, agent="1001", timeout_seconds=bad)
        assert (status, body["field"]) == (400, "timeout_seconds")
    assert (await _send(api, "nope", agent="1001"))[0] == 404
    assert (await _send(api, named.uniqueid, agent="9999"))[0] == 404
    # Paused: the agent chose not to take calls; a supervisor unpauses them first.
    await log_in(_app(api), "1001")
    answered = await named.answered(timeout=10)
    assert answered == "1001"
    second = await sim.place_call(queue="sales", patience=None)
    await api.sink.wait_for("call.offered", call=second.uniqueid)
    status, body = await api.request(
        "POST",
        "/api/v1/agents/1001/state",
        token=SUPERVISOR,
        json={"state": "paused", "reason": "lunch"},
    )
    assert status == 202, body  # on a call: paused when it ends
    status, body = await _send(api, second.uniqueid, agent="1001")
    assert status == 409 and "paused" in body["error"], body
