"""A steady random stream of callers, for the demo and ``acd sim``.

Arrivals are a Poisson process at ``calls_per_minute`` (on the simulator's clock); each caller
gets a random queue, a name from several scripts, a patience of 20-120 s and sometimes a talk
time of their own.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from acd.sim.server import Simulator

log = logging.getLogger(__name__)

CALLER_NAMES = (
    "Иван Петров",
    "Мария Смирнова",
    "Олег Кузнецов",
    "محمد العلي",
    "فاطمة الزهراء",
    "سارا احمدی",
    "Jan de Vries",
    "Sanne Bakker",
    "Pieter van Dijk",
    "Anna Müller",
    "John Smith",
    "María García",
)


def random_number(rng: random.Random) -> str:
    """A caller's number: Russian, Dutch or Emirati mobile formats."""
    prefix = rng.choice(("7999", "316", "97150"))
    return prefix + "".join(str(rng.randrange(10)) for _ in range(11 - len(prefix) + 1))


async def generate_callers(
    sim: Simulator,
    *,
    queues: Sequence[str],
    calls_per_minute: float,
    rng: random.Random,
    skills_by_queue: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Place random callers on ``sim`` until cancelled."""
    if not queues or calls_per_minute <= 0:
        raise ValueError("generate_callers needs queues and a positive calls_per_minute")
    rate = calls_per_minute / 60.0
    while True:
        await asyncio.sleep(sim.clock.real(rng.expovariate(rate)))
        queue = rng.choice(list(queues))
        choices = (skills_by_queue or {}).get(queue)
        skills = rng.choice(list(choices)) if choices else None
        call = await sim.place_call(
            queue=queue,
            priority=rng.choice((None, None, None, 1, 5, 9)),
            skills=skills or None,
            attrs={"crm": str(rng.randrange(10000, 99999))} if rng.random() < 0.3 else None,
            caller_name=rng.choice(CALLER_NAMES),
            caller_number=random_number(rng),
            patience=rng.uniform(20.0, 120.0),
            talk_for=rng.uniform(5.0, 30.0) if rng.random() < 0.3 else None,
        )
        log.info("caller %s (%s) waiting for %s", call.uniqueid, call.channel, queue)
