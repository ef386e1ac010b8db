"""A bounded, deterministic schemathesis run against a running acd: no 5xx, nothing outside
the OpenAPI document, for generated valid and invalid input alike; and hostile bytes at every
route (headers that are not UTF-8, lone surrogates, huge bodies, Redis key separators in ids):
never a 5xx, never a Redis error."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import time
from typing import Any

import aiohttp
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from acd.api.openapi import openapi_document
from acd.api.server import OPENAPI_PATH
from acd.sim import Simulator
from tests.conftest import MakeAcd
from tests.openapi_check import check_response
from tests.support import log_in, sample
from tests.test_openapi import HTTP, TOKENS

CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
# Streams that never end are not for a fuzzer; the other tests check them.
SKIPPED = {"GET /api/v1/events", "GET /metrics"}
EXAMPLES = 25  # per operation and generation mode: bounded, well under a minute in all
# What schemathesis's get_all_operations yields (it leaves the type parameters open).
Operation = schemathesis.APIOperation[Any, Any, Any, Any]


def fuzz_operation(
    operation: Operation, mode: schemathesis.GenerationMode, base: str, session: requests.Session
) -> tuple[list[str], int]:
    """Up to EXAMPLES derandomized cases of one operation; the failures found, the calls."""
    failures: list[str] = []
    calls = 0
    headers = {"Authorization": f"Bearer {TOKENS['admin']}"}

    @hypothesis.settings(
        max_examples=EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: report, not minimise
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case[Operation]) -> None:
        nonlocal calls
        calls += 1
        try:
            case.call_and_validate(
                base_url=base, session=session, headers=headers, checks=CHECKS, timeout=10
            )
        except FailureGroup as group:
            failures.append(f"{mode.value} {operation.label}: {group}")

    try:
        run()
    except hypothesis.errors.Unsatisfiable:
        # Nothing to make invalid (no parameters, no body): the positive run covers it.
        assert mode is schemathesis.GenerationMode.NEGATIVE, operation.label
    return failures, calls


def fuzz(base: str) -> tuple[list[str], int]:
    """Every documented operation with valid and invalid data; the failures, the calls."""
    schema = schemathesis.openapi.from_url(base + OPENAPI_PATH, timeout=10)
    failures: list[str] = []
    calls = 0
    with requests.Session() as session:
        for result in schema.get_all_operations():
            if isinstance(result, Err):
                raise result.err()
            operation = result.ok()
            if f"{operation.method.upper()} {operation.path}" in SKIPPED:
                continue
            for mode in schemathesis.GenerationMode:
                found, made = fuzz_operation(operation, mode, base, session)
                failures += found
                calls += made
    return failures, calls


async def test_fuzzing_the_api_finds_no_server_error_and_no_answer_outside_the_document(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    app, _ = await make_acd(http=HTTP)
    started = time.monotonic()
    # schemathesis is synchronous: it runs in a thread while acd serves from this loop.
    failures, calls = await asyncio.to_thread(fuzz, f"http://127.0.0.1:{app.http_port}")
    took = time.monotonic() - started
    print(f"schemathesis: {calls} requests in {took:.1f} s")
    assert not failures, "\n".join(failures[:10])
    assert calls > 100


# Bodies that once answered 500 (or stored NaN, which is not JSON).
ODD_BODIES = [
    pytest.param(b"[" * 60_000, id="nested-too-deep"),
    pytest.param(b'{"priority": ' + b"9" * 5000 + b"}", id="integer-past-python-limit"),
    pytest.param(b'{"max_wait_seconds": ' + b"9" * 400 + b"}", id="integer-past-float"),
    pytest.param(b'{"max_wait_seconds": 1e400}', id="float-overflow"),
    pytest.param(b'{"priority": NaN}', id="nan-literal"),
    pytest.param(b'{"priority": -Infinity}', id="infinity-literal"),
    pytest.param(b'{"priority": "nan"}', id="nan-string"),
    pytest.param(b'{"wrap_up_seconds": "nan"}', id="nan-string-stored"),
    pytest.param(b'{"ring_timeout_seconds": "inf"}', id="inf-string"),
]


@pytest.mark.parametrize("body", ODD_BODIES)
async def test_odd_queue_bodies_are_a_400_naming_the_body_not_a_500(
    sim: Simulator, make_acd: MakeAcd, body: bytes
) -> None:
    app, _ = await make_acd(http=HTTP)
    url = f"http://127.0.0.1:{app.http_port}/api/v1/queues/q1"
    headers = {"Authorization": f"Bearer {TOKENS['admin']}", "Content-Type": "application/json"}
    async with (
        aiohttp.ClientSession() as session,
        session.put(url, data=body, headers=headers) as response,
    ):
        assert response.status == 400, await response.text()
        check_response("PUT", "/api/v1/queues/{queue}", 400, await response.json())


async def test_a_body_in_an_unknown_charset_is_read_as_utf8(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    app, _ = await make_acd(http=HTTP)
    url = f"http://127.0.0.1:{app.http_port}/api/v1/queues/q1"
    headers = {
        "Authorization": f"Bearer {TOKENS['admin']}",
        "Content-Type": "application/json; charset=no-such-charset",
    }
    async with (
        aiohttp.ClientSession() as session,
        session.put(url, data='{"teams": ["север"]}'.encode(), headers=headers) as response,
    ):
        assert response.status == 201
        assert (await response.json())["teams"] == ["север"]


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("agents/a1", {"dial": "PJSIP/a1", "queues": [[1]]}, "queues"),
        (
            "queues/q1",
            {
                "steps": [
                    {"after": 0},
                    {"after": 30, "kind": "fallback", "to": "queue", "target": "nowhere"},
                ]
            },
            "steps[1].target",
        ),
        ("queues/q1", {"steps": [{"after": 5}]}, "steps[0].after"),
    ],
)
async def test_bodies_the_configuration_file_would_refuse_are_a_400_naming_the_field(
    sim: Simulator, make_acd: MakeAcd, path: str, body: dict[str, object], field: str
) -> None:
    app, _ = await make_acd(http=HTTP)
    url = f"http://127.0.0.1:{app.http_port}/api/v1/{path}"
    headers = {"Authorization": f"Bearer {TOKENS['admin']}"}
    async with (
        aiohttp.ClientSession() as session,
        session.put(url, json=body, headers=headers) as response,
    ):
        assert response.status == 400, await response.text()
        assert (await response.json())["field"] == field


# --- hostile input at every route, byte for byte ----------------------------------------------

# Ids that are no id: Redis key separators and hash tags, line breaks, NUL, percent-encoded
# lone surrogates and bytes that are not UTF-8, far too long, and names in other scripts.
HOSTILE_IDS = [
    "sales:ready",
    "x:history",
    "{t}",
    "a}b",
    "%0d%0aX:%20y",
    "%00",
    "%ED%A0%80",
    "%FF%FE",
    "..",
    "x" * 300,
    "поддержка",
    "%D8%A3%D8%AD%D9%85%D8%AF",
    "1700000000.1",
    "sales",
    "1001",
]
HOSTILE_STRINGS = ["\ud800", "\udfff x", "a\x00b", "\r\nX: y", "\u202e", "x" * 70_000, "", "ok"]
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(HOSTILE_STRINGS)
    | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(HOSTILE_STRINGS) | st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
FIELDS = ["state", "reason", "name", "dial", "team", "queue", "agent", "mode", "priority",
          "skills", "queues", "teams", "steps", "wrap_up_seconds", "strategy"]  # fmt: skip
BODIES = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), JSON_VALUES, max_size=5).map(
        lambda body: json.dumps(body, ensure_ascii=True).encode()
    ),
    JSON_VALUES.map(lambda value: json.dumps(value, ensure_ascii=True).encode()),
    st.binary(max_size=200),
    st.sampled_from([b"[" * 5000, b"{" * 5000, b'"' + b"x" * 70_000 + b'"', b"\xff" * 100]),
)
HEADER_BYTES = st.sampled_from(
    [b"\xff\xfe\xfd", b"\xc3(", b"\xe2\x80\xae", b"\x00", b"adm-1", b"view-1", b"agt-1001", b""]
) | st.binary(max_size=40).map(lambda raw: raw.replace(b"\r", b"").replace(b"\n", b""))


def documented_operations() -> list[tuple[str, str]]:
    """Every (method, path template) of the OpenAPI document: every route acd serves."""
    return sorted(
        (method.upper(), path)
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method in {"get", "put", "post", "delete", "patch"}
    )


def raw_status(port: int, request: bytes) -> int:
    """The status a request written byte for byte gets (only the status line is read, so an
    event stream answering 200 is left at once)."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as connection:
        connection.sendall(request)
        status_line = connection.makefile("rb").readline()
    assert status_line.startswith(b"HTTP/1."), (status_line, request[:200])
    return int(status_line.split()[1])


@st.composite
def hostile_requests(draw: st.DrawFn) -> bytes:
    method, template = draw(st.sampled_from(documented_operations()))
    path = re.sub(r"\{[a-z]+\}", lambda _: draw(st.sampled_from(HOSTILE_IDS)), template)
    query = draw(st.sampled_from(["", "?queue=sales:ready", "?agent=%ED%A0%80", "?queue=%0a"]))
    token = draw(HEADER_BYTES)
    headers = [
        b"Host: x",
        b"Authorization: " + draw(st.sampled_from([b"Bearer ", b"bearer ", b""])) + token,
        b"Connection: close",
    ]
    if draw(st.booleans()):
        headers.append(b"Last-Event-ID: " + draw(HEADER_BYTES))
    if draw(st.booleans()):
        headers.append(b"Content-Type: application/json; charset=" + draw(HEADER_BYTES))
    body = draw(BODIES) if method in {"PUT", "POST", "PATCH"} else b""
    headers.append(f"Content-Length: {len(body)}".encode())
    head = f"{method} {path}{query} HTTP/1.1\r\n".encode()
    return head + b"\r\n".join(headers) + b"\r\n\r\n" + body


def throw_hostile_requests(port: int) -> list[str]:
    """A bounded, seeded run of hostile requests; the ones answered 5xx."""
    server_errors: list[str] = []

    @hypothesis.settings(
        max_examples=400,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(request=hostile_requests())
    def run(request: bytes) -> None:
        status = raw_status(port, request)
        if status >= 500:
            server_errors.append(f"{status}: {request[:300]!r}")

    run()
    return server_errors


async def test_hostile_input_at_every_route_is_never_a_5xx_nor_a_redis_error(
    sim: Simulator, make_acd: MakeAcd
) -> None:
    app, _ = await make_acd(http=HTTP)
    await log_in(app, "1001")  # sales:ready exists, a key of another type than a queue's
    before = sample(app, "acd_redis_errors_total")
    server_errors = await asyncio.to_thread(throw_hostile_requests, app.http_port)
    assert not server_errors, "\n".join(server_errors[:10])
    assert sample(app, "acd_redis_errors_total") == before
