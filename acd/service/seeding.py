"""The configuration file's queues and agents in Redis: seeded at start, and seeded again when
Redis is found to have lost them (restarted without its data, or flushed).

A marker key (``acd:{site}:seeded``) is written once the configuration is in; a Redis that
answers without it has lost the site's data. The server's run id (a new one at every
restart) is watched too, so that a restart that kept the data is logged. After a loss the
configuration is seeded again, the view read again and the callers Asterisk still has are
adopted; while that runs, the API answers 503. Looked for every second, and at once when the
change feed breaks (:meth:`DataWatch.poke`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence

from acd.domain.model import Agent, Queue
from acd.errors import StoreUnavailable
from acd.metrics import Metrics
from acd.store import Store

log = logging.getLogger("acd.store")

CHECK_SECONDS = 1.0  # how often the marker is looked for: a command a second


async def seed_configuration(
    store: Store, queues: Sequence[Queue], agents: Sequence[Agent]
) -> None:
    """Create the configured queues and agents that Redis does not have yet (the caller
    writes the marker, :meth:`Store.mark_seeded`, once all it does after is done too).

    Redis is the source of truth once seeded: changes made through the API survive a
    restart instead of being overwritten by the file.
    """
    existing_queues = {q.name for q in await store.list_queues()}
    for queue in queues:
        if queue.name not in existing_queues:
            await store.save_queue(queue)
    for agent in agents:
        if await store.get_agent(agent.id) is None:
            await store.save_agent_profile(agent)


async def warn_if_not_persistent(store: Store) -> bool:
    """Log one warning if Redis keeps nothing across a restart; False if it does not."""
    settings = await store.persistence()
    if settings is None:
        log.info("redis persistence unknown: CONFIG GET refused (renamed or disabled)")
        return True
    if settings.get("appendonly") == "yes":
        return True
    if settings.get("save"):
        log.warning(
            "redis appendonly is off: a crash loses the calls of the last snapshot interval; "
            "set 'appendonly yes' in redis.conf",
            extra={"save": settings["save"]},
        )
        return False
    log.warning(
        "redis persistence is off (appendonly no, save ''): a restart loses every agent's "
        "state and every waiting call; set 'appendonly yes' in redis.conf"
    )
    return False


class DataWatch:
    """Notices that Redis lost the site's data and has it recovered: ``recover`` seeds the
    configuration again and writes the marker, then reads the view again and adopts the
    callers Asterisk has (that part in the worker, in order with events)."""

    def __init__(
        self, store: Store, metrics: Metrics, recover: Callable[[], Awaitable[None]]
    ) -> None:
        self.store = store
        self.metrics = metrics
        self._recover = recover
        self.run_id = ""
        self.recovering = False  # the API answers 503 meanwhile
        self._lock = asyncio.Lock()
        self._poked = asyncio.Event()

    async def started(self) -> None:
        """Remember the server seen at start (after seeding)."""
        self.run_id = await self.store.server_run_id()

    async def check(self) -> bool:
        """Look for the marker (and the server's run id); recover if the data is gone. True
        if a loss was found and recovered from. Raises StoreUnavailable while Redis is away."""
        async with self._lock:
            run_id = await self.store.server_run_id()
            if run_id and self.run_id and run_id != self.run_id:
                log.warning("redis restarted", extra={"run_id": run_id[:12]})
            self.run_id = run_id or self.run_id
            if await self.store.is_seeded():
                return False
            self.recovering = True
            try:
                log.error(
                    "redis lost this site's data: seeding the configuration again and "
                    "adopting the callers Asterisk has",
                    extra={"site": self.store.keys.prefix},
                )
                self.metrics.redis_data_lost.inc()
                await self._recover()
            finally:
                self.recovering = False
            return True

    async def check_quietly(self) -> None:
        """:meth:`check`, never raising: Redis being away is logged, any other failure
        logged with its traceback (the next check tries again)."""
        try:
            await self.check()
        except StoreUnavailable as exc:
            log.debug("data check skipped: redis unavailable", extra={"error": str(exc)})
        except Exception:
            log.exception("data check failed")

    def poke(self) -> None:
        """Check now (the change feed broke: Redis went away and may be back empty), in
        :meth:`run`'s task, so that whoever pokes is never held up by a recovery."""
        self._poked.set()

    async def run(self, stopping: Callable[[], bool]) -> None:
        """Check every :data:`CHECK_SECONDS`, and when poked, until ``stopping()``."""
        while not stopping():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poked.wait(), CHECK_SECONDS)
            self._poked.clear()
            await self.check_quietly()
