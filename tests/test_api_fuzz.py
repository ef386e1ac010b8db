"""A bounded, deterministic schemathesis run against a running acd: no 5xx, nothing outside
the OpenAPI document, for generated valid and invalid input alike."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from acd.api.server import OPENAPI_PATH
from acd.sim import Simulator
from tests.conftest import MakeAcd
from tests.openapi_check import check_response
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
