"""Structured logging: one JSON line per event, with call/agent/queue ids, never secrets."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable

# Attributes every LogRecord has; anything else came from `extra=` and is a field of the event.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object; configured secrets are masked wherever they appear."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if len(s) >= 4]

    def format(self, record: logging.LogRecord) -> str:
        event: dict[str, object] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                event[key] = value if isinstance(value, int | float | bool) else str(value)
        if record.exc_info:
            event["error"] = self.formatException(record.exc_info)
        line = json.dumps(event, ensure_ascii=False, default=str)
        for secret in self.secrets:
            line = line.replace(secret, "***")
        return line


def setup_logging(level: str, secrets: Iterable[str] = ()) -> None:
    """Send acd's logs to stderr as JSON lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # panoramisk logs every frame at debug and the login action (with its secret) at info.
    logging.getLogger("panoramisk").setLevel(logging.WARNING)
