"""Side writes of a batch of business events (event stream entries, daily figures), gathered
by the store's modules into one MULTI pipeline and sent in one round trip."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline

from acd.metrics import Metrics
from acd.store.round_trips import round_trip


class SideWrites:
    """One batch of writes beside the decisions; nothing reaches Redis before :meth:`send`.

    One pipeline per Redis client the writes go to (acd has one), in MULTI: a report read
    while the batch lands sees all of it or none of it.
    """

    def __init__(self) -> None:
        self._pipelines: dict[int, tuple[Pipeline, Metrics]] = {}

    def pipeline(self, redis: Redis, metrics: Metrics) -> Pipeline:
        """The batch's pipeline on ``redis``, for a store module to add its commands to."""
        if id(redis) not in self._pipelines:
            self._pipelines[id(redis)] = (redis.pipeline(transaction=True), metrics)
        return self._pipelines[id(redis)][0]

    async def send(self) -> None:
        """Send the batch: one round trip per client; raises StoreUnavailable."""
        pipelines, self._pipelines = list(self._pipelines.values()), {}
        for pipe, metrics in pipelines:
            if len(pipe):
                await round_trip(metrics, pipe.execute())
