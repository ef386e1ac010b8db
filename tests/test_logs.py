"""Logs: one JSON line per event, names in any script intact, secrets never shown."""

from __future__ import annotations

import json
import logging

from acd.logs import JsonFormatter


def record(msg: str, **extra: object) -> logging.LogRecord:
    rec = logging.LogRecord("acd.router", logging.INFO, __file__, 1, msg, None, None)
    for key, value in extra.items():
        setattr(rec, key, value)
    return rec


def test_event_is_one_json_line_with_ids_in_any_script() -> None:
    line = JsonFormatter().format(
        record("call entered", call="1795.9", queue="поддержка", caller="محمد رضایی")
    )
    assert "\n" not in line
    event = json.loads(line)
    assert event["msg"] == "call entered"
    assert event["queue"] == "поддержка"
    assert event["caller"] == "محمد رضایی"
    assert "محمد رضایی" in line  # readable in the file, not \u-escaped


def test_configured_secrets_are_masked_wherever_they_appear() -> None:
    formatter = JsonFormatter(secrets=["hunter22", "redis://:pw@db:6379/0"])
    line = formatter.format(record("login failed with hunter22", url="redis://:pw@db:6379/0"))
    assert "hunter22" not in line and "pw@db" not in line
    assert line.count("***") == 2
