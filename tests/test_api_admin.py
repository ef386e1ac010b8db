"""Changing queues and agents: PUT replaces, PATCH merges, both refuse what the file refuses,
and the store's writes stay right when a claim or another acd comes in between."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import aiohttp
import pytest
from redis.asyncio import Redis

from acd.domain.model import Agent, AgentState, Call, Queue
from acd.errors import Conflict, NotFound
from acd.metrics import Metrics
from acd.sim import Simulator
from acd.store import Store
from acd.store.codec import Fields
from tests.conftest import MakeAcd
from tests.test_api import TOKENS, Client, http_settings

ADMIN = TOKENS["admin"]
NOW = 1_800_000_000.0


@pytest.fixture
async def api(sim: Simulator, make_acd: MakeAcd) -> AsyncIterator[Client]:
    sim.add_phone("1001", answer_after=0.2, talk_for=60.0)  # on a call until the test ends
    app, sink = await make_acd(http=http_settings())
    async with aiohttp.ClientSession() as session:
        yield Client(session, f"http://127.0.0.1:{app.http_port}", sink)


@pytest.mark.parametrize(
    ("path", "body", "field", "hint"),
    [
        ("/api/v1/queues/x", {"wrapup": 15}, "wrapup", "did you mean wrap_up_seconds?"),
        (
            "/api/v1/queues/x",
            {"steps": [{"after": 0, "kidn": "leads"}]},
            "steps[0].kidn",
            "did you mean kind?",
        ),
        (
            "/api/v1/agents/4001",
            {"dial": "PJSIP/4001", "skils": {"lang:ru": 3}},
            "skils",
            "did you mean skills?",
        ),
    ],
)
async def test_a_typo_in_a_body_is_a_400_naming_the_field_and_nothing_is_created(
    api: Client, path: str, body: dict[str, object], field: str, hint: str
) -> None:
    status, answer = await api.request("PUT", path, token=ADMIN, json=body)
    assert (status, answer["field"]) == (400, field), answer
    assert answer["error"] == f"unknown setting ({hint})"
    assert (await api.request("GET", path, token=ADMIN))[0] == 404


async def test_a_queue_patch_changes_what_it_names_and_keeps_the_rest(api: Client) -> None:
    path = "/api/v1/queues/billing"
    status, _ = await api.request(
        "PUT",
        path,
        token=ADMIN,
        json={"strategy": "fewest-calls", "wrap_up_seconds": 5, "skills": {"lang:ru": 3}},
    )
    assert status == 201
    status, queue = await api.request(
        "PATCH", path, token=ADMIN, json={"wrap_up_seconds": 12, "skills": {"billing": 2}}
    )
    assert status == 200
    assert (queue["strategy"], queue["wrap_up_seconds"]) == ("fewest-calls", 12)
    assert queue["skills"] == {"lang:ru": 3, "billing": 2}
    status, queue = await api.request(
        "PATCH", path, token=ADMIN, json={"strategy": None, "skills": {"lang:ru": None}}
    )
    assert (status, queue["strategy"], queue["skills"]) == (200, "longest-idle", {"billing": 2})
    status, stored = await api.request("GET", path, token=ADMIN)
    assert (stored["wrap_up_seconds"], stored["skills"]) == (12, {"billing": 2})
    # A PUT replaces: what it leaves out takes its default again.
    status, queue = await api.request("PUT", path, token=ADMIN, json={"priority": 3})
    assert (status, queue["wrap_up_seconds"], queue["skills"]) == (200, 0, {})


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"priority": 12}, "priority"),
        ({"wrapup": 1}, "wrapup"),
        ({"steps": [{"after": 5}]}, "steps[0].after"),
    ],
)
async def test_a_queue_patch_is_checked_as_a_whole_queue(
    api: Client, body: dict[str, object], field: str
) -> None:
    status, answer = await api.request("PATCH", "/api/v1/queues/sales", token=ADMIN, json=body)
    assert (status, answer["field"]) == (400, field), answer
    status, queue = await api.request("GET", "/api/v1/queues/sales", token=ADMIN)
    assert (queue["priority"], queue["steps"]) == (0, [])


async def test_patching_a_queue_or_agent_that_does_not_exist_is_a_404(api: Client) -> None:
    for path in ("/api/v1/queues/nope", "/api/v1/agents/nobody"):
        status, _ = await api.request("PATCH", path, token=ADMIN, json={"name": "x"})
        assert status == 404, path
    assert (await api.request("GET", "/api/v1/queues/nope", token=ADMIN))[0] == 404


async def test_an_agent_patch_keeps_its_state_and_the_calls_still_reach_it(
    api: Client, sim: Simulator
) -> None:
    path = "/api/v1/agents/1001"
    await api.request("POST", f"{path}/state", token=ADMIN, json={"state": "ready"})
    status, agent = await api.request(
        "PATCH", path, token=ADMIN, json={"skills": {"lang:ru": 6}, "team": "north"}
    )
    assert status == 200
    assert (agent["state"], agent["skills"], agent["team"], agent["queues"]) == (
        "ready",
        {"lang:ru": 6},
        "north",
        {"sales": 1},
    )
    status, answer = await api.request("PATCH", path, token=ADMIN, json={"queues": {"nope": 1}})
    assert (status, answer["field"]) == (400, "queues")
    call = await sim.place_call(queue="sales", caller_name="Mila", patience=60)
    assert await call.answered(timeout=10) == "1001"


async def test_an_agent_on_a_call_is_not_deleted(api: Client, sim: Simulator) -> None:
    await api.request("POST", "/api/v1/agents/1001/state", token=ADMIN, json={"state": "ready"})
    call = await sim.place_call(queue="sales", caller_name="Noor", patience=60)
    assert await call.answered(timeout=10) == "1001"
    status, body = await api.request("DELETE", "/api/v1/agents/1001", token=ADMIN)
    assert status == 409 and "on a call" in body["error"]
    assert (await api.request("GET", "/api/v1/agents/1001", token=ADMIN))[0] == 200


async def test_a_queue_its_agents_serve_is_not_deleted(api: Client) -> None:
    status, body = await api.request("DELETE", "/api/v1/queues/sales", token=ADMIN)
    assert status == 409 and body["error"] == "agents still serve queue sales: 1001, 1002"
    for agent in ("1001", "1002"):
        assert (
            await api.request("PATCH", f"/api/v1/agents/{agent}", token=ADMIN, json={"queues": []})
        )[0] == 200
    assert (await api.request("DELETE", "/api/v1/queues/sales", token=ADMIN))[0] == 204
    assert (await api.request("GET", "/api/v1/queues/sales", token=ADMIN))[0] == 404


# --- the store's admin writes, against a real Redis ----------------------------------------


@pytest.fixture
async def store(redis: Redis, site: str) -> Store:
    store = Store(redis, site, Metrics(), finished_call_ttl=60)
    await store.save_queue(Queue("sales"))
    await store.save_queue(Queue("billing"))
    return store


async def ready(store: Store, agent: Agent) -> None:
    assert await store.save_agent_profile(agent)
    assert await store.set_agent_state(agent, AgentState.READY, NOW) is AgentState.LOGGED_OUT


async def test_a_claim_between_reading_and_saving_a_profile_is_not_undone(store: Store) -> None:
    agent = Agent(id="1001", dial="PJSIP/1001", queues={"sales": 1})
    await ready(store, agent)
    # the profile save reads ... (str keys and values: the client decodes responses)
    seen = cast(Fields, await store.redis.hgetall(store.keys.agent("1001")))
    call = Call(id="c1", channel="PJSIP/trunk-1", queue="sales", priority=0, arrived_at=NOW)
    await store.enqueue(call)
    assert await store.claim(call, agent, NOW, NOW + 10)  # ... a claim reserves the agent ...
    changed = Agent(id="1001", dial="PJSIP/1001", queues={"sales": 1, "billing": 2})
    assert await store._write_agent_profile(changed, seen) is False  # ... then it writes
    stored = await store.get_agent("1001")
    assert stored is not None and stored.state is AgentState.RESERVED
    assert stored.queues == {"sales": 1, "billing": 2}
    for queue in ("sales", "billing"):  # a reserved agent is in no ready index
        assert await store.ready_agents(queue) == []


async def test_a_profile_changed_by_another_acd_since_it_was_read_is_read_again(
    store: Store,
) -> None:
    await ready(store, Agent(id="1001", dial="PJSIP/1001", queues={"sales": 1}))
    seen = cast(Fields, await store.redis.hgetall(store.keys.agent("1001")))
    moved = Agent(id="1001", dial="PJSIP/1001", queues={"billing": 1})
    assert await store.save_agent_profile(moved) is False  # another acd moves it to billing
    # The first write would leave nothing (sales to sales) and stay in billing: refused.
    assert (
        await store._write_agent_profile(
            Agent(id="1001", dial="PJSIP/1001", queues={"sales": 1}), seen
        )
        is None
    )
    assert [a.id for a in await store.ready_agents("billing")] == ["1001"]
    assert (
        await store.save_agent_profile(Agent(id="1001", dial="PJSIP/1001", queues={"sales": 1}))
        is False
    )
    assert [a.id for a in await store.ready_agents("sales")] == ["1001"]
    assert await store.ready_agents("billing") == []


async def test_deleting_refuses_a_reserved_agent_and_removes_a_ready_one(store: Store) -> None:
    agent = Agent(id="1001", dial="PJSIP/1001", queues={"sales": 1})
    await ready(store, agent)
    await ready(store, Agent(id="1002", dial="PJSIP/1002", queues={"sales": 1}))
    call = Call(id="c1", channel="PJSIP/trunk-1", queue="sales", priority=0, arrived_at=NOW)
    await store.enqueue(call)
    assert await store.claim(call, agent, NOW, NOW + 10)
    with pytest.raises(Conflict, match="on a call"):
        await store.delete_agent("1001")
    assert await store.get_agent("1001") is not None
    await store.delete_agent("1002")
    assert await store.get_agent("1002") is None
    assert await store.ready_agents("sales") == []
    with pytest.raises(NotFound):
        await store.delete_agent("1002")


async def test_a_queue_an_agent_joined_since_its_agents_were_read_is_not_deleted(
    store: Store,
) -> None:
    version = await store.roster_version()  # the delete reads the roster: nobody serves it
    await store.save_agent_profile(Agent(id="1001", dial="PJSIP/1001", queues={"billing": 1}))
    assert await store._delete_queue_at("billing", version, []) == "stale"
    assert await store.get_queue("billing") is not None
    with pytest.raises(Conflict, match="agents still serve queue billing: 1001"):
        await store.delete_queue("billing")
    await store.enqueue(
        Call(id="c1", channel="PJSIP/t-1", queue="sales", priority=0, arrived_at=NOW)
    )
    with pytest.raises(Conflict, match="calls are waiting in queue sales"):
        await store.delete_queue("sales")
    with pytest.raises(NotFound):
        await store.delete_queue("nope")
