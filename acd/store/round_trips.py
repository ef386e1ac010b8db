"""One Redis round trip, timed and counted, its failure as :class:`StoreUnavailable`: the one
place where the store's modules outside ``Store`` turn Redis errors into acd's."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

from redis.exceptions import RedisError, ResponseError

from acd.errors import StoreUnavailable
from acd.metrics import Metrics

T = TypeVar("T")
COMMAND_TIMEOUT = 5.0  # seconds a Redis command may take before Redis counts as unreachable
# A blocking read (XREAD BLOCK) waits at most LONGEST_BLOCK_MS for news, then this much more.
BLOCKING_TIMEOUT = 20.0


class GroupMissing(StoreUnavailable):
    """A stream's consumer group is gone (the stream was deleted, or the group destroyed).

    Not an outage (not counted as a Redis error), but like one to whoever does not expect it.
    """


async def round_trip(metrics: Metrics, operation: Awaitable[T], *, blocking: bool = False) -> T:
    """Await one Redis operation: its latency observed (not for a ``blocking`` read, whose
    wait is not latency), a failure counted and raised as StoreUnavailable."""
    started = time.perf_counter()
    try:
        # Our own deadline rather than the client's socket_timeout, which makes redis-py wrap
        # every command's send in asyncio.wait_for (a task per command); a timer costs less.
        async with asyncio.timeout(BLOCKING_TIMEOUT if blocking else COMMAND_TIMEOUT):
            return await operation
    except (RedisError, OSError) as exc:  # OSError includes TimeoutError
        if isinstance(exc, ResponseError) and str(exc).startswith("NOGROUP"):
            raise GroupMissing(str(exc)) from exc  # an answer about our data, not an outage
        metrics.redis_errors.inc()
        raise StoreUnavailable(f"redis: {type(exc).__name__}: {exc}") from exc
    finally:
        if not blocking:
            metrics.redis_latency.observe(time.perf_counter() - started)
