"""The OpenAPI 3.1 document of the HTTP API, served at ``/api/v1/openapi.json``.

Built from small helpers so each route reads as one entry. ``tests/test_openapi.py`` keeps it
true: every route of the application is here with the same method and nothing else is, and
real responses (and a schemathesis run) are checked against it.
"""

from __future__ import annotations

from typing import Any

from acd.domain.model import (
    MAX_PRIORITY,
    MAX_RANK,
    MIN_PRIORITY,
    AgentState,
    CallStatus,
    FallbackKind,
    Role,
    StepKind,
    Strategy,
)
from acd.domain.names import MAX_TEXT
from acd.domain.profiles import MAX_AGENT_NAME
from acd.domain.skills import MAX_LEVEL
from acd.domain.state_machine import PauseReason

Schema = dict[str, Any]

# The server's own checks (acd/domain/names.py), as JSON Schema patterns. NAME names what an
# id may never hold rather than listing letters: ECMA-262's \w (what clients' validators use)
# is ASCII only and would refuse "поддержка" or "हिन्दी", which the server takes.
NAME = r"^[^\s:{}\"'\\,&|/<>`\x00-\x1f\x7f-\x9f]{1,64}$"
# Free text: no control characters, no bidirectional overrides or isolates.
TEXT = r"^[^\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]*$"
SKILL = r"^[\w.\-]+(?::[\w.\-]+)*$"
_DIAL_PART = r"[A-Za-z][A-Za-z0-9_]*/[\w.\-+@]+(?:/[\w.\-+]+)?"
DIAL = rf"^{_DIAL_PART}(?:&{_DIAL_PART})*$"

ERROR_REASONS = {
    400: "Bad input: the body or a parameter, named by `field`",
    401: "No valid bearer token",
    403: "The token's role may not do this",
    404: "No such agent, queue or call",
    409: "Conflicts with the current state (an illegal state change, a busy agent or queue, "
    "or a change another acd kept making meanwhile)",
    413: "Body larger than 64 KiB",
    502: "Asterisk refused the action or is unreachable",
    503: "The state store (Redis) is unavailable",
}


def ref(name: str) -> Schema:
    """A reference to a schema in ``components/schemas``."""
    return {"$ref": f"#/components/schemas/{name}"}


def obj(
    properties: Schema,
    required: tuple[str, ...] = (),
    *,
    closed: bool = False,
    description: str = "",
) -> Schema:
    """An object schema; ``closed`` only where the server rejects unknown keys."""
    schema: Schema = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    if closed:
        schema["additionalProperties"] = False
    if description:
        schema["description"] = description
    return schema


def enum(values: type[Any]) -> Schema:
    """A string schema of an enum's values."""
    return {"type": "string", "enum": [v.value for v in values]}


def string_map(value: Schema, key_pattern: str = NAME, max_key: int = 64) -> Schema:
    """An object used as a map from names to ``value``."""
    return {
        "type": "object",
        "additionalProperties": value,
        "propertyNames": {"type": "string", "pattern": key_pattern, "maxLength": max_key},
    }


def levels(low: int) -> Schema:
    """Skill name -> level table."""
    return string_map({"type": "integer", "minimum": low, "maximum": MAX_LEVEL}, SKILL)


NULL = {"type": "null"}


def nullable_entries(table: Schema) -> Schema:
    """A table schema whose entries may also be null: a merge patch removes them."""
    return {**table, "additionalProperties": {"anyOf": [table["additionalProperties"], NULL]}}


def merge_patch(properties: Schema, description: str) -> Schema:
    """A JSON Merge Patch body of ``properties``: each may be left out, or null to take its
    default again; inside a table (skills, queue ranks) null removes that entry."""
    patched: Schema = {}
    for name, schema in properties.items():
        if schema.get("type") == "object" and "additionalProperties" in schema:
            schema = nullable_entries(schema)
        patched[name] = {"anyOf": [schema, NULL]}
    return obj(patched, closed=True, description=description)


def json_body(schema: Schema, description: str) -> Schema:
    """A JSON response."""
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def errors(*statuses: int) -> dict[str, Schema]:
    """Error responses, each with the Error body."""
    answers = {str(s): json_body(ref("Error"), ERROR_REASONS[s]) for s in statuses}
    if 401 in statuses:
        answers["401"]["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
    if 503 in statuses:
        answers["503"]["headers"] = {"Retry-After": {"schema": {"type": "integer"}}}
    return answers


def operation(
    summary: str,
    responses: dict[str, Schema],
    *,
    tag: str,
    parameters: list[Schema] | None = None,
    body: Schema | None = None,
    public: bool = False,
) -> Schema:
    """One operation; ``public`` ones also answer without a token (configurable)."""
    op: Schema = {"summary": summary, "tags": [tag], "operationId": "", "responses": responses}
    if parameters:
        op["parameters"] = parameters
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if public:
        op["security"] = [{}, {"bearer": []}]
    return op


def path_param(name: str, description: str) -> Schema:
    """A path parameter; odd values are answered 404 (or 400 where a name is created)."""
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "string", "minLength": 1},
    }


def query_param(name: str, description: str) -> Schema:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": {"type": "string"},
    }


_STATE = "(waiting|offered|connected)"
STATES_PATTERN = f"^{_STATE}(,{_STATE})*$"
NUMBER = {"type": "number"}
INTEGER = {"type": "integer"}
STRING = {"type": "string"}
BOOLEAN = {"type": "boolean"}
NAMES = {"type": "array", "items": {"type": "string"}}
COUNT = {"type": "integer", "minimum": 0}
BY_STATE = {
    "type": "object",
    "additionalProperties": COUNT,
    "propertyNames": {"enum": [s.value for s in AgentState]},
}
RATIO = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
SECONDS_OR_NULL = {"type": ["number", "null"], "minimum": 0}
NAME_OR_EMPTY = {"type": "string", "anyOf": [{"maxLength": 0}, {"pattern": NAME}]}


def schemas() -> dict[str, Schema]:
    """``components/schemas``: what the API reads and writes."""
    step_fields: Schema = {
        "after": {**NUMBER, "minimum": 0, "description": "seconds of waiting"},
        "kind": enum(StepKind),
        "skills": levels(0),
        "cap": {**INTEGER, "minimum": 0, "maximum": MAX_LEVEL},
        "to": enum(FallbackKind),
        "target": NAME_OR_EMPTY,
        "name": NAME_OR_EMPTY,
    }
    queue_settings: Schema = {
        "strategy": enum(Strategy),
        "skills": levels(1),
        "priority": {**INTEGER, "minimum": MIN_PRIORITY, "maximum": MAX_PRIORITY},
        "service_level_seconds": {**NUMBER, "minimum": 1},
        "wrap_up_seconds": {**NUMBER, "minimum": 0},
        "ring_timeout_seconds": {**INTEGER, "minimum": 1},
        "max_wait_seconds": {**INTEGER, "minimum": 1},
        "max_length": {**INTEGER, "minimum": 0, "description": "0 = unlimited"},
        "teams": {"type": "array", "items": {"type": "string", "pattern": NAME}},
        "aging_seconds": {**NUMBER, "minimum": 0},
        "no_answer_pause": BOOLEAN,
    }
    profile: Schema = {
        "dial": {"type": "string", "pattern": DIAL, "maxLength": 200},
        "name": {"type": "string", "maxLength": MAX_AGENT_NAME, "pattern": TEXT},
        "team": NAME_OR_EMPTY,
        "role": enum(Role),
        "skills": levels(1),
    }
    ranks = string_map({"type": "integer", "minimum": 1, "maximum": MAX_RANK})
    queue_list: Schema = {"type": "array", "items": {"type": "string", "pattern": NAME}}
    agent_input: Schema = {
        **profile,
        "queues": {
            "anyOf": [ranks, queue_list],
            "description": "queue -> rank, or a list (rank 1 everywhere)",
        },
    }
    queue_input: Schema = {**queue_settings, "steps": {"type": "array", "items": ref("StepInput")}}
    return {
        "Error": obj(
            {"error": STRING, "field": STRING},
            ("error",),
            description="Every failure: the reason, and the field it is about",
        ),
        "Health": obj(
            {"ok": BOOLEAN, "checks": {"type": "object", "additionalProperties": BOOLEAN}},
            ("ok", "checks"),
        ),
        "Agent": obj(
            {
                "id": STRING,
                **profile,
                "dial": STRING,
                "name": STRING,
                "team": STRING,
                "queues": {**ranks, "description": "queue -> rank (1 = first)"},
                "state": enum(AgentState),
                "state_since": NUMBER,
                "idle_since": NUMBER,
                "pause_reason": STRING,
                "call": STRING,
                "calls_taken": INTEGER,
                "talk_seconds": NUMBER,
                "device_busy": BOOLEAN,
                "counts_day": {
                    **STRING,
                    "description": "the local day calls_taken and talk_seconds are of",
                },
                "pending_state": {
                    "type": ["string", "null"],
                    "enum": ["paused", "logged_out", None],
                    "description": "a pause or log-out asked for during a conversation: the "
                    "state the agent takes when the call ends (instead of wrap-up)",
                },
                "pending_reason": {**STRING, "description": "the pending pause's reason"},
            },
            (
                "id",
                "dial",
                "name",
                "team",
                "role",
                "skills",
                "queues",
                "state",
                "state_since",
                "idle_since",
                "pause_reason",
                "call",
                "calls_taken",
                "talk_seconds",
                "device_busy",
                "pending_state",
                "pending_reason",
            ),
        ),
        "AgentInput": obj(
            agent_input,
            ("dial",),
            closed=True,
            description="The whole profile: what is left out takes its "
            "default. The id comes from the path; unknown keys "
            "are refused, naming the nearest known one.",
        ),
        "AgentPatch": merge_patch(
            {**agent_input, "queues": {"anyOf": [nullable_entries(ranks), queue_list]}},
            "Changes to the profile (JSON Merge Patch, RFC 7396); the result is checked as "
            "a whole profile is.",
        ),
        "AgentStateChange": obj(
            {
                "state": {"type": "string", "enum": ["ready", "paused", "logged_out"]},
                "reason": {
                    "type": "string",
                    "maxLength": MAX_TEXT,
                    "pattern": TEXT,
                    "description": "a pause's reason code: "
                    + ", ".join(r.value for r in PauseReason)
                    + "; free text otherwise (no control characters or bidi overrides)",
                },
            },
            ("state",),
        ),
        "Step": obj(step_fields, tuple(step_fields)),
        "StepInput": obj(
            step_fields,
            closed=True,
            description="Unknown keys are rejected. The first step starts at 0 s, "
            "steps are in order of time, a fallback comes last.",
        ),
        "Queue": obj(
            {"name": STRING, **queue_settings, "steps": {"type": "array", "items": ref("Step")}},
            ("name", *queue_settings, "steps"),
        ),
        "QueueInput": obj(
            queue_input,
            closed=True,
            description="The whole queue: what is left out takes its default. "
            "The name comes from the path; unknown keys are "
            "refused, naming the nearest known one.",
        ),
        "QueuePatch": merge_patch(
            queue_input,
            "Changes to the queue (JSON Merge Patch, RFC "
            "7396): steps and teams are replaced whole; "
            "the result is checked as a whole queue is.",
        ),
        "QueueWithWaiting": {
            "allOf": [ref("Queue"), obj({"waiting": {**INTEGER, "minimum": 0}}, ("waiting",))]
        },
        "Call": obj(
            {
                "id": STRING,
                "channel": STRING,
                "queue": STRING,
                "priority": INTEGER,
                "arrived_at": NUMBER,
                "skills": {"type": "object", "additionalProperties": INTEGER},
                "attrs": {"type": "object", "additionalProperties": STRING},
                "caller_name": STRING,
                "caller_number": STRING,
                "status": enum(CallStatus),
                "attempts": INTEGER,
                "agent": STRING,
                "step": INTEGER,
                "escalated_by": STRING,
                "escalation_team": STRING,
                "own_skills": {
                    "type": "object",
                    "additionalProperties": INTEGER,
                    "description": "the skills the call asked for (ACD_SKILLS); skills adds "
                    "its queue's defaults, so a moved call takes the new queue's",
                },
                "answered_at": {
                    "anyOf": [NUMBER, NULL],
                    "description": "when an agent first answered (null: not yet)",
                },
                "ended_at": {"anyOf": [NUMBER, NULL], "description": "null while live"},
                "reserved_for": {
                    **STRING,
                    "description": "waiting calls sent to a named agent who was not free: "
                    "held for that agent ('' when not reserved)",
                },
                "reserved_until": {
                    "anyOf": [NUMBER, NULL],
                    "description": "when the reservation ends and anyone may take the call",
                },
                "hold_seconds": {
                    **NUMBER,
                    "minimum": 0,
                    "description": "time on hold (caller or agent), holds that ended",
                },
                "transfer": {
                    "type": "string",
                    "enum": ["", "blind", "attended"],
                    "description": "how the agent transferred the call ('' if not)",
                },
                "transfer_target": {**STRING, "description": "the extension or number"},
                "wait_seconds": {
                    **NUMBER,
                    "minimum": 0,
                    "description": "arrival to the first answer, or to the end of an "
                    "unanswered call, or so far: it stops growing once answered or ended",
                },
                "position": {
                    "anyOf": [{**INTEGER, "minimum": 1}, NULL],
                    "description": "waiting calls only: place in the queue's line, 1 = next "
                    "(null while this process's view has not seen the call)",
                },
                "estimated_wait_seconds": {
                    "anyOf": [{**INTEGER, "minimum": 0}, NULL],
                    "description": "waiting calls only: position / the queue's recent answer "
                    "rate, at most the queue's max_wait_seconds (and an hour); null until the "
                    "queue has answered 3 calls since this acd process started",
                },
            },
            (
                "id",
                "channel",
                "queue",
                "priority",
                "arrived_at",
                "skills",
                "attrs",
                "caller_name",
                "caller_number",
                "status",
                "attempts",
                "agent",
                "step",
                "wait_seconds",
            ),
        ),
        "CallDetail": {
            "allOf": [
                ref("Call"),
                obj(
                    {
                        "history": {
                            "type": "array",
                            "description": "offers, answers, misses, escalations, moves, "
                            "oldest first",
                            "items": obj({"at": NUMBER, "event": STRING}, ("at", "event")),
                        }
                    },
                    ("history",),
                ),
            ]
        },
        "CallChange": obj(
            {
                "priority": {**INTEGER, "minimum": 0, "maximum": 9},
                "queue": {"type": "string", "pattern": NAME},
            },
            closed=True,
            description="Give priority and/or queue; unknown keys are rejected",
        ),
        "SendTo": obj(
            {
                "agent": STRING,
                "timeout_seconds": {
                    **INTEGER,
                    "minimum": 1,
                    "maximum": 3600,
                    "default": 60,
                    "description": "if the agent is not free now: how long the call is held "
                    "for them before anyone may take it",
                },
            },
            ("agent",),
            description="A logged-in, unpaused agent, whatever the queue's rules say",
        ),
        "MonitorRequest": obj(
            {
                "mode": {"type": "string", "enum": ["listen", "whisper", "barge"]},
                "agent": {**STRING, "description": "whose phone rings (supervisor, lead, QA)"},
                "dial": {
                    "type": "string",
                    "pattern": DIAL,
                    "maxLength": 200,
                    "description": "or a dial string, instead of agent",
                },
            },
            ("mode",),
        ),
        "Team": obj(
            {
                "name": STRING,
                "leads": NAMES,
                "supervisors": NAMES,
                "members": NAMES,
                "queues": NAMES,
            },
            ("name", "leads", "supervisors", "members", "queues"),
        ),
        "QueueStats": obj(
            {
                "queue": STRING,
                "day": {**STRING, "description": "local day, e.g. 2026-11-29"},
                "waiting": COUNT,
                "oldest_wait_seconds": {**NUMBER, "minimum": 0},
                "agents": BY_STATE,
                "offered": COUNT,
                "answered": COUNT,
                "answered_within_sl": COUNT,
                "abandoned": COUNT,
                "short_abandoned": COUNT,
                "overflowed": COUNT,
                "failed": COUNT,
                "handled": COUNT,
                "service_level_seconds": NUMBER,
                "service_level": RATIO,
                "abandon_rate": RATIO,
                "asa_seconds": SECONDS_OR_NULL,
                "aht_seconds": SECONDS_OR_NULL,
            },
            (
                "queue",
                "day",
                "waiting",
                "oldest_wait_seconds",
                "agents",
                "offered",
                "answered",
                "answered_within_sl",
                "abandoned",
                "short_abandoned",
                "overflowed",
                "failed",
                "handled",
                "service_level_seconds",
                "service_level",
                "abandon_rate",
                "asa_seconds",
                "aht_seconds",
            ),
            description="Live figures and today's counters; service level = answered within "
            "the threshold / offered, as the Prometheus recording rules",
        ),
        "TeamStats": obj(
            {
                "team": STRING,
                "day": STRING,
                "leads": NAMES,
                "supervisors": NAMES,
                "members": NAMES,
                "queues": NAMES,
                "agents": BY_STATE,
                "answered": COUNT,
                "answered_within_sl": COUNT,
                "handled": COUNT,
                "asa_seconds": SECONDS_OR_NULL,
                "aht_seconds": SECONDS_OR_NULL,
            },
            (
                "team",
                "day",
                "leads",
                "supervisors",
                "members",
                "queues",
                "agents",
                "answered",
                "answered_within_sl",
                "handled",
                "asa_seconds",
                "aht_seconds",
            ),
        ),
        "Monitoring": obj(
            {"call": STRING, "mode": STRING, "dial": STRING}, ("call", "mode", "dial")
        ),
    }


AGENT = path_param("agent", "agent id")
QUEUE = path_param("queue", "queue name")
TEAM = path_param("team", "team name")
CALL = path_param("call", "call id (Asterisk Uniqueid of the caller's channel)")


def paths() -> dict[str, Schema]:
    """Every route of ``acd.api.server.build_app``."""

    def listing(key: str, item: str) -> Schema:
        return obj({key: {"type": "array", "items": ref(item)}}, (key,))

    return {
        "/health": {
            "get": operation(
                "Liveness of AMI, router and Redis",
                {
                    "200": json_body(ref("Health"), "All checks pass"),
                    "503": json_body(ref("Health"), "A check fails"),
                    **errors(401),
                },
                tag="operations",
                public=True,
            )
        },
        "/metrics": {
            "get": operation(
                "Prometheus metrics",
                {
                    "200": {
                        "description": "Prometheus text exposition format",
                        "content": {"text/plain": {"schema": STRING}},
                    },
                    **errors(401),
                },
                tag="operations",
                public=True,
            )
        },
        "/api/v1/openapi.json": {
            "get": {
                **operation(
                    "This document",
                    {"200": json_body({"type": "object"}, "The OpenAPI document")},
                    tag="meta",
                ),
                "security": [],
            }
        },
        "/api/v1/agents": {
            "get": operation(
                "List agents (viewer)",
                {
                    "200": json_body(listing("agents", "Agent"), "Every agent"),
                    **errors(401, 403, 503),
                },
                tag="agents",
            )
        },
        "/api/v1/agents/{agent}": {
            "parameters": [AGENT],
            "get": operation(
                "One agent (viewer, or the agent itself)",
                {"200": json_body(ref("Agent"), "The agent"), **errors(401, 403, 404, 503)},
                tag="agents",
            ),
            "put": operation(
                "Create or replace an agent's profile (admin)",
                {
                    "200": json_body(ref("Agent"), "Updated"),
                    "201": json_body(ref("Agent"), "Created"),
                    **errors(400, 401, 403, 409, 413, 503),
                },
                tag="agents",
                body=ref("AgentInput"),
            ),
            "patch": operation(
                "Change some of an agent's profile (admin)",
                {
                    "200": json_body(ref("Agent"), "Updated"),
                    **errors(400, 401, 403, 404, 409, 413, 503),
                },
                tag="agents",
                body=ref("AgentPatch"),
            ),
            "delete": operation(
                "Delete an agent not on a call (admin)",
                {"204": {"description": "Deleted"}, **errors(401, 403, 404, 409, 503)},
                tag="agents",
            ),
        },
        "/api/v1/agents/{agent}/state": {
            "parameters": [AGENT],
            "post": operation(
                "Log in (ready), pause with a reason code, log out, end wrap-up early "
                "(supervisor, or the agent itself). While an offer rings the agent, a pause "
                "or log-out withdraws it (the caller goes back to its place in line) and "
                "ready is refused (409). While the agent talks, a pause or log-out is kept "
                "as pending_state and taken when the call ends (202); ready then takes it "
                "back (200), and without a pending change is refused (409).",
                {
                    "200": json_body(ref("Agent"), "The agent in its new state"),
                    "202": json_body(
                        ref("Agent"), "Busy: the agent with the change pending for the call's end"
                    ),
                    **errors(400, 401, 403, 404, 409, 413, 503),
                },
                tag="agents",
                body=ref("AgentStateChange"),
            ),
        },
        "/api/v1/agents/{agent}/state/pending": {
            "parameters": [AGENT],
            "delete": operation(
                "Take back the pause or log-out a busy agent asked for, to be taken when its "
                "call ends (supervisor, or the agent itself); 409 if none is pending",
                {
                    "200": json_body(ref("Agent"), "The agent, nothing pending"),
                    **errors(401, 403, 404, 409, 503),
                },
                tag="agents",
            ),
        },
        "/api/v1/queues": {
            "get": operation(
                "List queues with their waiting calls (viewer)",
                {
                    "200": json_body(listing("queues", "QueueWithWaiting"), "Every queue"),
                    **errors(401, 403, 503),
                },
                tag="queues",
            )
        },
        "/api/v1/queues/{queue}": {
            "parameters": [QUEUE],
            "get": operation(
                "One queue with its waiting calls (viewer)",
                {
                    "200": json_body(ref("QueueWithWaiting"), "The queue"),
                    **errors(401, 403, 404, 503),
                },
                tag="queues",
            ),
            "put": operation(
                "Create or replace a queue (admin)",
                {
                    "200": json_body(ref("Queue"), "Updated"),
                    "201": json_body(ref("Queue"), "Created"),
                    **errors(400, 401, 403, 409, 413, 503),
                },
                tag="queues",
                body=ref("QueueInput"),
            ),
            "patch": operation(
                "Change some of a queue (admin)",
                {
                    "200": json_body(ref("Queue"), "Updated"),
                    **errors(400, 401, 403, 404, 409, 413, 503),
                },
                tag="queues",
                body=ref("QueuePatch"),
            ),
            "delete": operation(
                "Delete a queue nobody waits in or serves (admin)",
                {"204": {"description": "Deleted"}, **errors(401, 403, 404, 409, 503)},
                tag="queues",
            ),
        },
        "/api/v1/queues/{queue}/stats": {
            "parameters": [QUEUE],
            "get": operation(
                "A queue's live figures and today's service level, abandonment, ASA, AHT (viewer)",
                {"200": json_body(ref("QueueStats"), "The figures"), **errors(401, 403, 404, 503)},
                tag="reports",
            ),
        },
        "/api/v1/teams": {
            "get": operation(
                "Teams with leads, supervisors, members (viewer)",
                {
                    "200": json_body(
                        listing("teams", "Team"), "Every team named by an agent or queue"
                    ),
                    **errors(401, 403, 503),
                },
                tag="teams",
            )
        },
        "/api/v1/teams/{team}": {
            "parameters": [TEAM],
            "get": operation(
                "One team (viewer)",
                {"200": json_body(ref("Team"), "The team"), **errors(401, 403, 404, 503)},
                tag="teams",
            ),
        },
        "/api/v1/teams/{team}/stats": {
            "parameters": [TEAM],
            "get": operation(
                "A team's agents by state and today's answered, ASA, AHT (viewer)",
                {"200": json_body(ref("TeamStats"), "The figures"), **errors(401, 403, 404, 503)},
                tag="reports",
            ),
        },
        "/api/v1/calls": {
            "get": operation(
                "Waiting calls, or the live calls of ?state= (viewer)",
                {
                    "200": json_body(
                        listing("calls", "Call"),
                        "Waiting calls first, each queue's in line order (queues by name), "
                        "then offered and connected calls, oldest first",
                    ),
                    **errors(400, 401, 403, 404, 503),
                },
                tag="calls",
                parameters=[
                    query_param("queue", "only this queue's calls"),
                    {
                        **query_param(
                            "state",
                            "waiting (default), offered, connected, or several "
                            "comma-separated; any other value is a 400 naming state",
                        ),
                        "schema": {"type": "string", "pattern": STATES_PATTERN},
                    },
                ],
            )
        },
        "/api/v1/calls/{call}": {
            "parameters": [CALL],
            "get": operation(
                "One call with the history of its attempts (viewer)",
                {"200": json_body(ref("CallDetail"), "The call"), **errors(401, 403, 404, 503)},
                tag="calls",
            ),
            "patch": operation(
                "Change a waiting call's priority or queue (supervisor)",
                {
                    "200": json_body(ref("Call"), "The call, changed"),
                    **errors(400, 401, 403, 404, 409, 413, 503),
                },
                tag="calls",
                body=ref("CallChange"),
            ),
        },
        "/api/v1/calls/{call}/send": {
            "parameters": [CALL],
            "post": operation(
                "Give a waiting call to a named agent (supervisor): offered now if ready, "
                "else reserved for them until they are free or timeout_seconds pass",
                {
                    "200": json_body(ref("Call"), "The call, offered"),
                    "202": json_body(
                        ref("Call"),
                        "The call, reserved for the agent (reserved_for, reserved_until): "
                        "offered to them first when free, held from everyone else meanwhile",
                    ),
                    **errors(400, 401, 403, 404, 409, 413, 502, 503),
                },
                tag="calls",
                body=ref("SendTo"),
            ),
        },
        "/api/v1/calls/{call}/hangup": {
            "parameters": [CALL],
            "post": operation(
                "Hang up the caller (supervisor); unanswered calls end as failed",
                {"200": json_body(ref("Call"), "The call"), **errors(401, 403, 404, 502, 503)},
                tag="calls",
            ),
        },
        "/api/v1/calls/{call}/escalate": {
            "parameters": [CALL],
            "post": operation(
                "Move a live call from its agent to a team lead, ahead of ordinary calls (the "
                "call's agent, or supervisor)",
                {
                    "200": json_body(ref("Call"), "The call, waiting for a lead"),
                    **errors(401, 403, 404, 409, 502, 503),
                },
                tag="calls",
            ),
        },
        "/api/v1/calls/{call}/monitor": {
            "parameters": [CALL],
            "post": operation(
                "Listen to, whisper to or barge into a live call from a phone (supervisor)",
                {
                    "202": json_body(ref("Monitoring"), "The phone is being rung"),
                    **errors(400, 401, 403, 404, 409, 413, 502, 503),
                },
                tag="calls",
                body=ref("MonitorRequest"),
            ),
        },
        "/api/v1/events": {
            "get": operation(
                "Server-Sent Events of calls and agents, resumable (viewer; an agent token "
                "sees its own agent)",
                {
                    "200": {
                        "description": "`id:`, `event:` (the kind) and `data:` (JSON) frames",
                        "content": {"text/event-stream": {"schema": STRING}},
                    },
                    **errors(400, 401, 403, 503),
                },
                tag="events",
                parameters=[
                    query_param("queue", "only events of this queue"),
                    query_param("agent", "only events of this agent"),
                    {
                        "name": "Last-Event-ID",
                        "in": "header",
                        "required": False,
                        "description": "resume after this event id",
                        "schema": STRING,
                    },
                ],
            )
        },
    }


def _with_operation_ids(all_paths: dict[str, Schema]) -> dict[str, Schema]:
    """Name each operation ``<method>:<path>`` so tests and tools can address it."""
    for path, item in all_paths.items():
        for method, op in item.items():
            if method != "parameters":
                op["operationId"] = f"{method}:{path}"
    return all_paths


def openapi_document() -> Schema:
    """The whole OpenAPI 3.1.0 document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "acd",
            "version": "1",
            "description": "Call router for Asterisk: agents, queues, calls, events. "
            'Errors are JSON `{"error": reason, "field"?: name}`.',
        },
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "paths": _with_operation_ids(paths()),
        "components": {
            "schemas": schemas(),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
