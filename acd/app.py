"""Wiring: builds every part from the settings, runs them, and stops them in reverse order."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from panoramisk.message import Message
from redis.asyncio import Redis

from acd.ami.connection import AmiConnection
from acd.ami.dialplan import check_dialplan
from acd.ami.telephony import AsteriskTelephony
from acd.ami.translate import MalformedEvent, translate
from acd.api.server import build_app
from acd.config import Settings
from acd.domain.events import TelephonyConnected
from acd.errors import ConfigError, StoreUnavailable
from acd.metrics import Metrics
from acd.service.daily_stats import DailyStats
from acd.service.event_log import EventLog, Fanout
from acd.service.ports import EventSink
from acd.service.router import Router, Tick
from acd.service.seeding import DataWatch, seed_configuration, warn_if_not_persistent
from acd.service.stats import refresh_gauges
from acd.service.webhooks import Webhooks
from acd.store import Store
from acd.store.connection import redis_client
from acd.store.event_stream import EventStream
from acd.tasks import cancel_all

log = logging.getLogger("acd")

STATS_INTERVAL = 2.0
MIN_TICK_GAP = 0.005  # seconds between ticks however many deadlines fall together
LAG_INTERVAL = 0.5
STOP_DRAIN_SECONDS = 2.0  # how long a stop waits for the worker to finish what it holds


class AcdApp:
    """One acd process: Redis store, AMI connection, router, HTTP API, background loops."""

    def __init__(
        self, settings: Settings, metrics: Metrics | None = None, sink: EventSink | None = None
    ) -> None:
        self.settings = settings
        self.metrics = metrics or Metrics()
        self.redis: Redis = redis_client(
            str(settings.redis.url),
            decode_responses=True,
            socket_connect_timeout=5,
            health_check_interval=30,
        )
        self.store = Store(
            self.redis, settings.redis.site, self.metrics, settings.redis.finished_call_ttl
        )
        self.ami = AmiConnection(
            settings.ami, self.metrics, self._on_ami_event, self._on_ami_connected
        )
        self.telephony = AsteriskTelephony(self.ami)
        self.event_stream = EventStream(self.redis, self.store.keys, self.metrics)
        self.event_log = EventLog(self.event_stream)
        # Webhooks read the event stream through Redis consumer groups: routing never hands
        # them an event, so a slow or dead subscriber cannot hold up a call.
        self.webhooks = (
            Webhooks(settings.webhooks, self.event_stream, self.metrics)
            if settings.webhooks
            else None
        )
        extra = [sink] if sink is not None else []
        # Counted before the other sinks see an event, so a report read after it includes it.
        self.daily_stats = DailyStats.from_store(self.store, settings.routing)
        sinks: EventSink = Fanout(self.event_log, self.daily_stats, *extra)
        self.router = Router(self.store, self.telephony, self.metrics, settings.routing, sinks)
        # Redis that lost the site's data (restarted empty) is seeded again and the callers
        # Asterisk has are adopted: looked for every second, and whenever the view is read
        # again because the change feed broke.
        self.data_watch = DataWatch(self.store, self.metrics, self._recover_lost_data)
        self.router.mirror.before_reload = self.data_watch.poke
        self.router.worker.on_backlog = self.ami.pause_reading
        self._tasks: list[asyncio.Task[Any]] = []
        self._runner: web.AppRunner | None = None
        self._stopping = False
        self.http_port = settings.http.port

    # --- AMI -> router ------------------------------------------------------------------------

    def _on_ami_event(self, message: Message) -> None:
        if self._stopping:
            return  # read again from Asterisk by the next start's reconciliation
        try:
            event = translate(message)
        except MalformedEvent as exc:
            self.metrics.ami_bad_events.labels(exc.reason).inc()
            log.warning("malformed AMI event ignored", extra={"error": str(exc)})
            return
        if event is not None:
            self.router.submit(event)

    async def _on_ami_connected(self, reconnect: bool) -> None:
        self.router.submit(TelephonyConnected(reconnect, time.time()))
        # After every (re)connection: Asterisk may have been restarted with another dialplan.
        await check_dialplan(self.ami, self.metrics)

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect to Redis (required), seed configuration, then start everything else."""
        try:
            await self.store.ping()
        except StoreUnavailable as exc:
            raise ConfigError(f"redis.url: cannot reach Redis ({exc.__cause__})") from None
        await warn_if_not_persistent(self.store)
        await self.seed_configuration()
        await self.store.mark_seeded(time.time())
        await self.data_watch.started()
        if self.webhooks is not None:
            await self.webhooks.start()
        self._spawn(self.router.run(), "router")
        self.ami.start()
        self._spawn(self._ticker(), "ticker")
        self._spawn(self._every(STATS_INTERVAL, self._refresh_stats), "stats")
        self._spawn(self._watch_loop_lag(), "loop-lag")
        self._spawn(self.data_watch.run(lambda: self._stopping), "data-watch")
        await self._start_http()

    async def seed_configuration(self) -> None:
        """Create the configured queues and agents that Redis does not have yet."""
        await seed_configuration(self.store, self.settings.queues, self.settings.agents)

    async def _recover_lost_data(self) -> None:
        """Redis lost the site's data: seed the configuration again and write the marker at
        once (a caller who arrives meanwhile waits for its queue, held by the worker, rather
        than being sent to the fallback for an unknown queue); then, in the worker, in order
        with events, read the view again and adopt the callers Asterisk has."""
        await self.seed_configuration()
        await self.store.mark_seeded(time.time())
        await self.router.call(self.router.recover_lost_data)

    async def _start_http(self) -> None:
        app = build_app(
            self.store,
            self.router,
            self.metrics,
            self.health_checks,
            self.settings.http.auth,
            self.event_stream,
            self.settings.http.max_event_clients,
        )
        # Cancel a handler whose client went away (an idle SSE stream would otherwise hold
        # a Redis connection until its next keep-alive), and do not wait long for them at stop.
        self._runner = web.AppRunner(
            app,
            access_log=None,
            handle_signals=False,
            handler_cancellation=True,
            shutdown_timeout=2.0,
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.settings.http.host, self.settings.http.port)
        await site.start()
        server = getattr(site, "_server", None)
        if server is not None and server.sockets:
            self.http_port = server.sockets[0].getsockname()[1]

    def health_checks(self) -> dict[str, bool]:
        """Liveness of the parts /health reports on (Redis is checked by the handler)."""
        return {
            "ami": self.ami.connected,
            "router": not self._dead_tasks(),
            "redis_data": not self.data_watch.recovering,
        }

    def _dead_tasks(self) -> list[str]:
        return [t.get_name() for t in self._tasks if t.done()]

    async def stop(self) -> None:
        """Stop in reverse order of start; safe to call twice.

        A clean stop (SIGTERM): the API stops taking requests (up to 2 s for those under
        way), no new decision is made (nobody rung, nobody sent out: callers stay on hold,
        where the dialplan's own timer protects them), what the worker holds is handled and
        the side writes are written (up to ``STOP_DRAIN_SECONDS``), then acd logs off
        Asterisk. Events that come meanwhile are left to the next start's reconciliation.
        About 5 s at most in all."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        # Loops also check this flag: on Python 3.11 a cancellation racing with a Redis reply
        # can be swallowed inside a library's wait_for, and a loop would then run on.
        self._stopping = True
        self.router.drain()
        router = [t for t in self._tasks if t.get_name() == "router" and not t.done()]
        if router:
            _, late = await asyncio.wait(router, timeout=STOP_DRAIN_SECONDS)
            if late:
                log.warning("stopping before the worker was done", extra={"pending": len(late)})
        await self.ami.close()
        await cancel_all(self._tasks)
        if self.webhooks is not None:
            await self.webhooks.stop()
        await self.redis.aclose()

    def _spawn(self, coro: Awaitable[None], name: str) -> None:
        self._tasks.append(asyncio.ensure_future(coro))
        self._tasks[-1].set_name(name)

    async def _every(self, seconds: float, job: Callable[[], Awaitable[None]]) -> None:
        while not self._stopping:
            await asyncio.sleep(seconds)
            try:
                await job()
            except StoreUnavailable as exc:
                log.warning("background job skipped: redis unavailable", extra={"error": str(exc)})
            except Exception:
                log.exception("background job failed")

    async def _ticker(self) -> None:
        """A tick at the next deadline the view knows of (a wrap-up's end, an offer's
        settle-by, a call's next step), and at least every ``routing.tick_seconds``."""
        every = self.settings.routing.tick_seconds
        while not self._stopping:
            due = self.router.mirror.next_deadline() - time.time()
            await asyncio.sleep(min(every, max(MIN_TICK_GAP, due)))
            if self.router.pending() == 0:  # a busy worker gets no pile of ticks
                self.router.submit(Tick())

    async def _refresh_stats(self) -> None:
        refresh_gauges(
            self.router.mirror,
            self.metrics,
            per_agent=self.settings.http.per_agent_metrics,
            today=self.router.day_of(time.time()),
        )

    async def _watch_loop_lag(self) -> None:
        while not self._stopping:
            started = time.perf_counter()
            await asyncio.sleep(LAG_INTERVAL)
            lag = time.perf_counter() - started - LAG_INTERVAL
            self.metrics.event_loop_lag.set(max(0.0, lag))
