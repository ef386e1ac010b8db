"""Hostile input at the API: bytes that are not UTF-8 in headers, lone surrogates and control
characters in JSON strings, ids that would land on Redis keys of another type, free text too
long or with bidi overrides. Each is a 4xx naming the field, never a 5xx, and never a Redis
error (a viewer must not be able to hold the Redis alert on)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from acd.app import AcdApp
from acd.sim import Simulator
from tests.conftest import MakeAcd
from tests.support import RecordingSink, log_in, sample
from tests.test_api import TOKENS, http_settings


class Api:
    """acd's HTTP API, spoken to with aiohttp and with raw bytes."""

    def __init__(self, app: AcdApp, sink: RecordingSink, session: aiohttp.ClientSession) -> None:
        self.app, self.sink, self.session = app, sink, session
        self.base = f"http://127.0.0.1:{app.http_port}"

    async def request(
        self, method: str, path: str, token: str = TOKENS["admin"], **kw: Any
    ) -> tuple[int, Any]:
        headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
        async with self.session.request(
            method, self.base + path, headers=headers, **kw
        ) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def raw(self, head: bytes, body: bytes = b"") -> int:
        """The status of a request written byte for byte (``head`` without the blank line)."""
        reader, writer = await asyncio.open_connection("127.0.0.1", self.app.http_port)
        try:
            length = f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            writer.write(head + b"\r\n" + length + body)
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), 10)
            return int(status_line.split()[1])
        finally:
            writer.close()

    def redis_errors(self) -> float:
        return sample(self.app, "acd_redis_errors_total")


@pytest.fixture
async def api(sim: Simulator, make_acd: MakeAcd) -> AsyncIterator[Api]:
    app, sink = await make_acd(http=http_settings())
    async with aiohttp.ClientSession() as session:
        yield Api(app, sink, session)


@pytest.mark.parametrize("token", [b"\xff\xfe\xfd", b"\xc3(", b"adm-1\xe2\x80\xae"])
async def test_a_token_of_bytes_that_are_not_utf8_is_a_401(api: Api, token: bytes) -> None:
    head = b"GET /api/v1/agents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + token
    assert await api.raw(head) == 401


def escaped(body: dict[str, Any]) -> bytes:
    """JSON with every non-ASCII character escaped, lone surrogates (``\\ud800``) included."""
    return json.dumps(body, ensure_ascii=True).encode()


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        ("POST", "/api/v1/agents/1001/state", {"state": "ready", "reason": "\ud800"}, "reason"),
        ("PATCH", "/api/v1/agents/1001", {"name": "Anna \udfff"}, "name"),
        ("PUT", "/api/v1/agents/1003", {"dial": "PJSIP/1003", "name": "x\ud83d"}, "name"),
        ("POST", "/api/v1/calls/c1/monitor", {"mode": "listen", "agent": "\ud800"}, "agent"),
        ("PATCH", "/api/v1/queues/sales", {"teams": ["north", "\udc00"]}, "teams[1]"),
        ("PATCH", "/api/v1/agents/1001", {"skills": {"lang:ru": 3, "\ud800": 1}}, "skills"),
        ("POST", "/api/v1/agents/1001/state", {"state": "ready", "reason": "a\x00b"}, "reason"),
        ("PATCH", "/api/v1/agents/1001", {"name": "Anna\x85"}, "name"),
    ],
)
async def test_lone_surrogates_and_control_characters_in_json_are_a_400_naming_the_field(
    api: Api, method: str, path: str, body: dict[str, Any], field: str
) -> None:
    headers = {"Content-Type": "application/json"}
    status, answer = await api.request(method, path, data=escaped(body), headers=headers)
    assert (status, answer["field"]) == (400, field), answer


@pytest.mark.parametrize(
    "reason",
    ["lunch\r\nX-Injected: 1", "a\nb", "\x00", "x" * 60_000, "\u202etxt.exe", "a\u2066b\u2069"],
)
async def test_a_free_text_reason_is_bounded_and_has_no_control_or_bidi_characters(
    api: Api, reason: str
) -> None:
    status, answer = await api.request(
        "POST", "/api/v1/agents/1001/state", json={"state": "ready", "reason": reason}
    )
    assert (status, answer["field"]) == (400, "reason"), answer
    assert not api.sink.find("agent.state", agent="1001")


async def test_arabic_and_persian_reasons_and_names_stay_as_written(api: Api) -> None:
    persian = "پایان\u200cشیفت"  # with the ZWNJ Persian words are written with
    status, body = await api.request(
        "POST", "/api/v1/agents/1001/state", json={"state": "ready", "reason": persian}
    )
    assert status == 200, body
    event = await api.sink.wait_for("agent.state", agent="1001")
    assert event["reason"] == persian
    arabic = "أحمد الخطيب"
    status, body = await api.request("PATCH", "/api/v1/agents/1001", json={"name": arabic})
    assert (status, body["name"]) == (200, arabic)
    status, body = await api.request("PUT", "/api/v1/queues/دعم", json={"teams": ["شمال"]})
    assert status == 201, body
    status, body = await api.request("GET", "/api/v1/queues/دعم")
    assert (status, body["teams"]) == (200, ["شمال"])


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/calls/{call}:history",
        "/api/v1/calls/{call}:history/hangup",
        "/api/v1/queues/sales:ready/stats",
        "/api/v1/queues/sales:ready",
        "/api/v1/agents/1001:x",
        "/api/v1/teams/a{b}",
        "/api/v1/calls?queue=sales:ready",
    ],
)
async def test_an_id_that_would_land_on_another_redis_key_is_a_404_not_a_redis_error(
    api: Api, sim: Simulator, path: str
) -> None:
    # Keys of other types behind the ids: a ready list of sales, a call's history list.
    sim.add_phone("1001", answer_after=30)
    sim.add_phone("1002", answer_after=30)
    await log_in(api.app, "1001", "1002")
    call = await sim.place_call(queue="sales", patience=60)
    await api.sink.wait_for("call.offered")
    before = api.redis_errors()
    method = "POST" if path.endswith("hangup") else "GET"
    status, answer = await api.request(method, path.replace("{call}", call.uniqueid))
    assert status == 404, answer
    assert api.redis_errors() == before


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/calls/c1", {"queue": "sales:ready"}, "queue"),
        ("/api/v1/calls/c1/send", {"agent": "1001:x"}, "agent"),
        ("/api/v1/calls/c1/monitor", {"mode": "listen", "agent": "1001:x"}, "agent"),
        ("/api/v1/agents/a:1", {"dial": "PJSIP/1"}, "agent"),
        ("/api/v1/queues/q:waiting", {}, "queue"),
    ],
)
async def test_an_id_in_a_body_or_created_by_put_that_cannot_be_one_is_a_400(
    api: Api, path: str, body: dict[str, Any], field: str
) -> None:
    method = "PUT" if path.startswith(("/api/v1/agents", "/api/v1/queues")) else "POST"
    if path == "/api/v1/calls/c1":
        method = "PATCH"
    before = api.redis_errors()
    status, answer = await api.request(method, path, json=body)
    assert (status, answer.get("field")) == (400, field), answer
    assert api.redis_errors() == before


async def test_an_agent_token_cannot_tell_another_agents_call_from_no_call(
    api: Api, sim: Simulator
) -> None:
    await log_in(api.app, "1002")
    sim.add_phone("1002", answer_after=0.1, talk_for=30)
    call = await sim.place_call(queue="sales", patience=60)
    await api.sink.wait_for("call.answered", agent="1002")
    theirs = await api.request(
        "POST", f"/api/v1/calls/{call.uniqueid}/escalate", token=TOKENS["agent"]
    )
    missing = await api.request("POST", "/api/v1/calls/1.999/escalate", token=TOKENS["agent"])
    assert theirs[0] == missing[0] == 404
    assert theirs[1]["error"].replace(call.uniqueid, "ID") == missing[1]["error"].replace(
        "1.999", "ID"
    )
