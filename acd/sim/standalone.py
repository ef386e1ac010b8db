"""``acd sim``: a simulator with agent phones and random callers, until cancelled."""

from __future__ import annotations

import asyncio
import logging
import random

from acd.sim.server import Simulator
from acd.sim.traffic import generate_callers

log = logging.getLogger(__name__)

DEFAULT_QUEUES = ["sales", "support", "billing"]


async def run_standalone(
    host: str,
    port: int,
    username: str,
    secret: str,
    *,
    phones: int = 10,
    calls_per_minute: float = 30.0,
    queues: list[str] | None = None,
    seed: int | None = None,
) -> None:
    """Serve AMI on ``host:port`` with phones PJSIP/1001.. and a stream of callers."""
    rng = random.Random(seed)
    sim = Simulator(username=username, secret=secret, seed=seed)
    await sim.start(host=host, port=port)
    for index in range(phones):
        sim.add_phone(
            str(1001 + index),
            answer_after=rng.uniform(1.0, 4.0),
            answers=rng.random() > 0.1,
            talk_for=rng.uniform(5.0, 30.0),
            rng=random.Random(rng.random()),
        )
    log.info(
        "simulator: %d phones from PJSIP/1001, %.3g calls/minute, AMI on %s:%d",
        phones,
        calls_per_minute,
        host,
        sim.port,
    )
    traffic = asyncio.create_task(
        generate_callers(
            sim, queues=queues or DEFAULT_QUEUES, calls_per_minute=calls_per_minute, rng=rng
        )
    )
    try:
        await traffic
    finally:
        traffic.cancel()
        await asyncio.gather(traffic, return_exceptions=True)
        await sim.stop()
