"""Stopping background tasks: cancel them, give them a moment, and say which did not stop."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger("acd")


async def cancel_all(tasks: list[asyncio.Task[Any]], timeout: float = 5.0) -> None:
    """Cancel ``tasks`` (last started first), wait up to ``timeout``, and empty the list."""
    for task in reversed(tasks):
        task.cancel()
    if tasks:
        _, stuck = await asyncio.wait(tasks, timeout=timeout)
        for task in stuck:
            log.error("task did not stop", extra={"task": task.get_name()})
    tasks.clear()
