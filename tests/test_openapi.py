"""The OpenAPI document is valid, lists exactly the routes acd serves, and tells the truth
about what a running acd answers, errors included."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any, cast

import aiohttp
import pytest
from openapi_spec_validator import validate

from acd.api.auth import token_hash
from acd.api.openapi import NAME, openapi_document
from acd.api.server import OPENAPI_PATH, build_app
from acd.domain.names import id_problem
from acd.sim import Simulator
from tests.conftest import MakeAcd
from tests.openapi_check import check_request, check_response
from tests.support import RecordingSink

TOKENS = {"admin": "adm-1", "supervisor": "sup-1", "viewer": "view-1", "agent": "agt-1001"}
HTTP = {
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
METHODS = {"get", "put", "post", "delete", "patch", "options", "trace"}


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"] == "3.1.0"
    validate(document)


def test_every_route_is_documented_and_every_documented_operation_exists() -> None:
    # The app only keeps its collaborators; routes are all this test reads.
    app = build_app(*cast(Any, [None] * 6))
    served = {
        (route.method.lower(), route.resource.canonical)
        for route in app.router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    documented = {
        (method, path)
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method in METHODS
    }
    missing, extra = sorted(served - documented), sorted(documented - served)
    assert not missing, f"routes missing from acd/api/openapi.py: {missing}"
    assert not extra, f"documented operations acd does not serve: {extra}"


class CheckedClient:
    """Sends requests by path template and checks every request body and response."""

    def __init__(self, session: aiohttp.ClientSession, base: str, sink: RecordingSink) -> None:
        self.session, self.base, self.sink = session, base, sink
        self.checked: set[tuple[str, str, int]] = set()

    async def request(
        self,
        method: str,
        template: str,
        token: str | None = "adm-1",
        *,
        json: Any = None,
        data: bytes | None = None,
        query: str = "",
        headers: dict[str, str] | None = None,
        **path: str,
    ) -> tuple[int, Any]:
        sent = dict(headers or {})
        if token:
            sent["Authorization"] = f"Bearer {token}"
        url = self.base + template.format(**path) + query
        async with self.session.request(
            method, url, headers=sent, json=json, data=data
        ) as response:
            if response.content_type == "application/json":
                body = await response.json()
            elif response.content_type == "text/event-stream":
                body = ""  # a stream that never ends: its status and type are the answer
            else:
                body = await response.text()
            check_response(method, template, response.status, body, response.content_type)
        self.checked.add((method, template, response.status))
        return response.status, body


@pytest.fixture
async def api(sim: Simulator, make_acd: MakeAcd) -> AsyncIterator[CheckedClient]:
    app, sink = await make_acd(http=HTTP)
    async with aiohttp.ClientSession() as session:
        yield CheckedClient(session, f"http://127.0.0.1:{app.http_port}", sink)


async def test_the_document_is_served_without_a_token(api: CheckedClient) -> None:
    status, body = await api.request("GET", OPENAPI_PATH, token=None)
    assert status == 200 and body == openapi_document()


async def test_answers_about_agents_match_the_document(api: CheckedClient) -> None:
    agent = "/api/v1/agents/{agent}"
    assert (await api.request("GET", "/api/v1/agents", token=None))[0] == 401
    assert (await api.request("GET", "/api/v1/agents", token=TOKENS["agent"]))[0] == 403
    assert (await api.request("GET", "/api/v1/agents"))[0] == 200
    assert (await api.request("GET", agent, agent="1001", token=TOKENS["agent"]))[0] == 200
    assert (await api.request("GET", agent, agent="1002", token=TOKENS["agent"]))[0] == 403
    assert (await api.request("GET", agent, agent="nobody"))[0] == 404
    profile = {
        "dial": "PJSIP/3001",
        "name": "Дарья",
        "team": "north",
        "role": "lead",
        "skills": {"lang:ru": 8},
        "queues": {"sales": 2},
    }
    check_request("PUT", agent, profile)
    check_request("POST", "/api/v1/agents/{agent}/state", {"state": "paused", "reason": "lunch"})
    assert (await api.request("PUT", agent, agent="3001", json=profile))[0] == 201
    assert (await api.request("PUT", agent, agent="3001", json=profile))[0] == 200
    assert (await api.request("PUT", agent, agent="3001", json={"dial": "x"}))[0] == 400
    assert (
        await api.request("PUT", agent, agent="3001", json=profile, token=TOKENS["supervisor"])
    )[0] == 403
    assert (await api.request("PUT", agent, agent="3001", data=b"x" * 70_000))[0] == 413
    state = "/api/v1/agents/{agent}/state"
    assert (await api.request("POST", state, agent="3001", json={"state": "ready"}))[0] == 200
    assert (
        await api.request("POST", state, agent="3001", json={"state": "paused", "reason": "lunch"})
    )[0] == 200
    assert (await api.request("POST", state, agent="3001", json={"state": "asleep"}))[0] == 400
    assert (await api.request("POST", state, agent="3002", json={"state": "ready"}))[0] == 404
    assert (await api.request("POST", state, agent="1001", json={"state": "logged_out"}))[0] == 409
    assert (await api.request("POST", state, agent="1001", data=b"x" * 70_000))[0] == 413
    assert (await api.request("DELETE", agent, agent="3001", token=TOKENS["viewer"]))[0] == 403
    assert (await api.request("DELETE", agent, agent="3001"))[0] == 204
    assert (await api.request("DELETE", agent, agent="3001"))[0] == 404


async def test_answers_about_queues_and_calls_match_the_document(
    api: CheckedClient, sim: Simulator
) -> None:
    queue = "/api/v1/queues/{queue}"
    settings = {
        "strategy": "best-skill",
        "skills": {"lang:ru": 3},
        "priority": 2,
        "teams": ["north"],
        "wrap_up_seconds": 5,
        "max_length": 10,
        "steps": [
            {"after": 0},
            {"after": 30, "skills": {"lang:ru": 1}, "cap": 2},
            {"after": 90, "kind": "leads"},
            {"after": 300, "kind": "fallback", "to": "voicemail", "target": "vm-support"},
        ],
    }
    check_request("PUT", queue, settings)
    assert (await api.request("PUT", queue, queue="поддержка", json=settings))[0] == 201
    assert (await api.request("PUT", queue, queue="поддержка", json=settings))[0] == 200
    assert (
        await api.request(
            "PUT", queue, queue="поддержка", json={"steps": [{"after": 0, "when": 1}]}
        )
    )[0] == 400
    assert (await api.request("PUT", queue, queue="q", json=[1]))[0] == 400
    assert (await api.request("PUT", queue, queue="q", json={}, token=TOKENS["supervisor"]))[
        0
    ] == 403
    assert (await api.request("GET", "/api/v1/queues"))[0] == 200
    call = await sim.place_call(queue="sales", caller_name="Bram", patience=60)
    await api.sink.wait_for("call.offered", call=call.uniqueid)
    status, body = await api.request("GET", "/api/v1/calls", query="?queue=sales")
    assert status == 200 and body["calls"][0]["position"] == 1
    assert (await api.request("GET", "/api/v1/calls"))[0] == 200
    assert (await api.request("GET", "/api/v1/calls", query="?queue=nope"))[0] == 404
    calls = "/api/v1/calls/{call}"
    assert (await api.request("GET", calls, call=call.uniqueid))[0] == 200
    assert (await api.request("GET", calls, call="nope"))[0] == 404
    assert (await api.request("DELETE", queue, queue="sales"))[0] == 409  # a caller waits
    assert (await api.request("DELETE", queue, queue="nope"))[0] == 404
    assert (await api.request("DELETE", queue, queue="поддержка"))[0] == 204


async def test_operations_answers_match_the_document(api: CheckedClient) -> None:
    assert (await api.request("GET", "/health", token=None))[0] == 200
    assert (await api.request("GET", "/metrics", token=None))[0] == 200
    events = "/api/v1/events"
    assert (await api.request("GET", events, token=None))[0] == 401
    assert (await api.request("GET", events, headers={"Last-Event-ID": "junk"}))[0] == 400
    assert (await api.request("GET", events, query="?queue=sales"))[0] == 200


def test_the_documented_name_pattern_takes_every_name_the_server_takes() -> None:
    for name in ("sales", "поддержка", "أحمد", "پشتیبانی", "हिन्दी", "team-2.b_c"):
        assert id_problem(name) is None
        assert re.fullmatch(NAME, name), name
    for name in ("sales:ready", "a{b}", "two words", "a\r\nb", ""):
        assert id_problem(name) is not None
        assert not re.fullmatch(NAME, name), name
