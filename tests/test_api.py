"""The HTTP API against a running acd: tokens and roles, agent state, clear errors."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from acd.api.auth import token_hash
from acd.sim import Simulator
from tests.conftest import MakeAcd
from tests.support import RecordingSink

TOKENS = {"admin": "adm-1", "supervisor": "sup-1", "viewer": "view-1", "agent": "agt-1001"}


def http_settings() -> dict[str, Any]:
    return {
        "tokens": [
            {
                "name": role,
                "role": role,
                "sha256": token_hash(token),
                **({"agent": "1001"} if role == "agent" else {}),
            }
            for role, token in TOKENS.items()
        ]
    }


class Client:
    def __init__(self, session: aiohttp.ClientSession, base: str, sink: RecordingSink) -> None:
        self.session, self.base, self.sink = session, base, sink

    async def request(
        self, method: str, path: str, token: str | None = None, **kw: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with self.session.request(
            method, self.base + path, headers=headers, **kw
        ) as response:
            body = (
                await response.json()
                if response.content_type == "application/json"
                else await response.text()
            )
            return response.status, body


@pytest.fixture
async def api(sim: Simulator, make_acd: MakeAcd) -> AsyncIterator[Client]:
    sim.add_phone("1001", answer_after=0.5, talk_for=1.0)
    app, sink = await make_acd(http=http_settings())
    async with aiohttp.ClientSession() as session:
        yield Client(session, f"http://127.0.0.1:{app.http_port}", sink)


async def test_without_a_valid_token_the_api_answers_401(api: Client) -> None:
    assert (await api.request("GET", "/api/v1/agents"))[0] == 401
    assert (await api.request("GET", "/api/v1/agents", token="wrong"))[0] == 401
    status, body = await api.request("GET", "/api/v1/agents", token=TOKENS["viewer"])
    assert status == 200 and {a["id"] for a in body["agents"]} == {"1001", "1002"}
    assert (await api.request("GET", "/metrics"))[0] == 200  # public by default
    assert (await api.request("GET", "/health"))[0] == 200


async def test_agent_logs_in_through_the_api_and_takes_a_call(api: Client, sim: Simulator) -> None:
    status, body = await api.request(
        "POST", "/api/v1/agents/1001/state", token=TOKENS["agent"], json={"state": "ready"}
    )
    assert status == 200 and body["state"] == "ready"
    call = await sim.place_call(queue="sales", caller_name="Лотта", patience=60)
    assert await call.answered(timeout=10) == "1001"


async def test_an_agent_token_acts_on_its_own_agent_only(api: Client) -> None:
    status, body = await api.request(
        "POST", "/api/v1/agents/1002/state", token=TOKENS["agent"], json={"state": "ready"}
    )
    assert status == 403
    status, _ = await api.request(
        "POST", "/api/v1/agents/1002/state", token=TOKENS["viewer"], json={"state": "ready"}
    )
    assert status == 403
    status, body = await api.request(
        "POST", "/api/v1/agents/1002/state", token=TOKENS["supervisor"], json={"state": "ready"}
    )
    assert status == 200 and body["state"] == "ready"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"state": "asleep"}, "state"),
        ({"state": "paused"}, "reason"),
        ({"state": "paused", "reason": "nap"}, "reason"),
        ([1, 2], "body"),
    ],
)
async def test_bad_input_is_a_400_naming_the_field(api: Client, body: object, field: str) -> None:
    status, answer = await api.request(
        "POST", "/api/v1/agents/1001/state", token=TOKENS["admin"], json=body
    )
    assert status == 400 and answer["field"] == field


async def test_not_json_unknown_ids_conflicts_and_big_bodies(api: Client) -> None:
    status, answer = await api.request(
        "POST", "/api/v1/agents/1001/state", token=TOKENS["admin"], data=b"{not json"
    )
    assert (status, answer["field"]) == (400, "body")
    status, _ = await api.request(
        "POST", "/api/v1/agents/9999/state", token=TOKENS["admin"], json={"state": "ready"}
    )
    assert status == 404
    status, _ = await api.request("GET", "/api/v1/calls/nope", token=TOKENS["viewer"])
    assert status == 404
    # logged out -> logged out is not in the transition table
    status, answer = await api.request(
        "POST", "/api/v1/agents/1001/state", token=TOKENS["admin"], json={"state": "logged_out"}
    )
    assert status == 409 and "cannot go from" in answer["error"]
    status, _ = await api.request(
        "POST", "/api/v1/agents/1001/state", token=TOKENS["admin"], data=b"x" * (128 * 1024)
    )
    assert status == 413


async def test_pause_with_a_reason_code(api: Client) -> None:
    await api.request(
        "POST", "/api/v1/agents/1001/state", token=TOKENS["admin"], json={"state": "ready"}
    )
    status, body = await api.request(
        "POST",
        "/api/v1/agents/1001/state",
        token=TOKENS["admin"],
        json={"state": "paused", "reason": "lunch"},
    )
    assert status == 200 and (body["state"], body["pause_reason"]) == ("paused", "lunch")


async def test_waiting_calls_are_listed_in_line_order(api: Client, sim: Simulator) -> None:
    first = await sim.place_call(queue="sales", caller_name="محمد", priority=1, patience=60)
    second = await sim.place_call(queue="sales", caller_name="Anna", priority=7, patience=60)
    await api.sink.wait_for("call.offered", call=second.uniqueid)
    await api.sink.wait_for("call.offered", call=first.uniqueid)
    status, body = await api.request("GET", "/api/v1/calls?queue=sales", token=TOKENS["viewer"])
    assert status == 200
    assert [c["id"] for c in body["calls"]] == [second.uniqueid, first.uniqueid]
    assert [c["position"] for c in body["calls"]] == [1, 2]
    assert body["calls"][1]["caller_name"] == "محمد"


async def test_queue_and_agent_created_through_the_api_route_at_once_and_survive_restart(
    api: Client, sim: Simulator, make_acd: MakeAcd
) -> None:
    admin = TOKENS["admin"]
    status, queue = await api.request(
        "PUT",
        "/api/v1/queues/поддержка",
        token=admin,
        json={"strategy": "fewest-calls", "wrap_up_seconds": 0, "skills": {"lang:ru": 3}},
    )
    assert status == 201 and queue["strategy"] == "fewest-calls"
    sim.add_phone("3001", answer_after=0.5, talk_for=0.5)
    status, agent = await api.request(
        "PUT",
        "/api/v1/agents/3001",
        token=admin,
        json={
            "name": "Дарья",
            "dial": "PJSIP/3001",
            "queues": {"поддержка": 1},
            "skills": {"lang:ru": 8},
            "team": "north",
        },
    )
    assert status == 201 and agent["skills"] == {"lang:ru": 8}
    status, _ = await api.request(
        "POST", "/api/v1/agents/3001/state", token=admin, json={"state": "ready"}
    )
    assert status == 200
    call = await sim.place_call(queue="поддержка", caller_name="Иван", patience=60)
    assert await call.answered(timeout=10) == "3001"
    # A second acd on the same Redis (a restart) sees what the API stored.
    other, _ = await make_acd()
    assert (await other.store.get_queue("поддержка")) is not None
    stored = await other.store.get_agent("3001")
    assert stored is not None and stored.name == "Дарья"


async def test_deleting_a_queue_with_waiting_calls_is_a_conflict(
    api: Client, sim: Simulator
) -> None:
    admin = TOKENS["admin"]
    call = await sim.place_call(queue="sales", caller_name="Bram", patience=60)
    await api.sink.wait_for("call.offered", call=call.uniqueid)
    status, body = await api.request("DELETE", "/api/v1/queues/sales", token=admin)
    assert status == 409 and "waiting" in body["error"]
    status, _ = await api.request("DELETE", "/api/v1/queues/nope", token=admin)
    assert status == 404
    status, _ = await api.request("DELETE", "/api/v1/agents/1002", token=admin)
    assert status == 204
    status, _ = await api.request("GET", "/api/v1/agents/1002", token=admin)
    assert status == 404


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/agents/4001", {"dial": "PJSIP/4001\r\nAction: Originate"}, "dial"),
        ("/api/v1/agents/4001", {"dial": "PJSIP/4001,t"}, "dial"),
        ("/api/v1/agents/4001", {"dial": "PJSIP/4001", "queues": {"nope": 1}}, "queues"),
        (
            "/api/v1/agents/4001",
            {"dial": "PJSIP/4001", "skills": {"lang:ru": 11}},
            "skills.lang:ru",
        ),
        ("/api/v1/queues/q1", {"strategy": "loudest"}, "strategy"),
        ("/api/v1/queues/q1", {"ring_timeout_seconds": "soon"}, "ring_timeout_seconds"),
    ],
)
async def test_bad_agent_or_queue_is_a_400_naming_the_field(
    api: Client, path: str, body: dict[str, object], field: str
) -> None:
    status, answer = await api.request("PUT", path, token=TOKENS["admin"], json=body)
    assert status == 400 and answer["field"] == field, answer


async def test_only_admins_change_configuration(api: Client) -> None:
    status, _ = await api.request("PUT", "/api/v1/queues/q2", token=TOKENS["supervisor"], json={})
    assert status == 403


async def test_an_agent_ends_wrap_up_early_and_takes_the_next_call(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    sim.add_phone("1001", answer_after=0.5, talk_for=1.0)
    queues = [{"name": "sales", "wrap_up_seconds": 3600}]  # an hour of after-call work
    app, sink = await make_acd(http=http_settings(), queues=queues)
    async with aiohttp.ClientSession() as session:
        api = Client(session, f"http://127.0.0.1:{app.http_port}", sink)
        await api.request(
            "POST", "/api/v1/agents/1001/state", token=TOKENS["agent"], json={"state": "ready"}
        )
        first = await sim.place_call(queue="sales", caller_name="Één", patience=None)
        assert await first.ended(timeout=10) == "completed"
        await sink.wait_for("call.ended", call=first.uniqueid)
        status, body = await api.request("GET", "/api/v1/agents/1001", token=TOKENS["agent"])
        assert body["state"] == "wrap_up"
        second = await sim.place_call(queue="sales", caller_name="Twee", patience=None)
        await sink.wait_for("call.offered", call=second.uniqueid)
        status, body = await api.request(
            "POST", "/api/v1/agents/1001/state", token=TOKENS["agent"], json={"state": "ready"}
        )
        assert status == 200
        assert await second.answered(timeout=10) == "1001"


async def test_an_agents_call_count_is_todays(api: Client, make_acd: MakeAcd) -> None:
    app, _ = await make_acd(http=http_settings())
    await app.store.count_handled("1002", 42.0, "2000-01-01")  # a long-gone day
    status, body = await api.request("GET", "/api/v1/agents/1002", token=TOKENS["viewer"])
    assert status == 200
    assert (body["calls_taken"], body["talk_seconds"], body["counts_day"]) == (0, 0.0, "2000-01-01")
    await app.store.count_handled("1002", 12.5, app.router.day_of(time.time()))
    status, body = await api.request("GET", "/api/v1/agents/1002", token=TOKENS["viewer"])
    assert (body["calls_taken"], body["talk_seconds"]) == (1, 12.5)
