"""``acd demo``: an embedded Redis, the Asterisk simulator with agents and callers, and acd,
all on localhost over real sockets, until Ctrl-C."""

from __future__ import annotations

import asyncio
import contextlib
import random
import secrets
import sys
import tempfile
from pathlib import Path

from acd.api.auth import token_hash
from acd.app import AcdApp
from acd.config import settings_from_dict
from acd.domain.model import AgentState
from acd.redis_server import RedisServer

DEMO_SECRET = "acd-demo-secret"  # noqa: S105 - the simulator's own, local only
QUEUES = {
    "sales": {"lang:en": 1},
    "support": {},
    "поддержка": {"lang:ru": 1},
}
NAMES = ["Anna", "Bram", "Олег", "Fatima", "Ilse", "Дарья", "Kees", "سارا", "Lotte", "Ivan"]


def demo_config(
    redis_url: str, ami_port: int, http_port: int, agents: int, token: str = ""
) -> dict[str, object]:
    """Queues and agents of the demo contact centre; ``token`` is an admin API token."""
    agent_rows = []
    for i in range(agents):
        langs = {"lang:en": 5} if i % 3 else {"lang:en": 3, "lang:ru": 7}
        agent_rows.append(
            {
                "id": f"{1001 + i}",
                "name": NAMES[i % len(NAMES)],
                "dial": f"PJSIP/{1001 + i}",
                "team": "north" if i % 2 else "south",
                "role": "lead" if i < 2 else "agent",
                "queues": {q: 1 + (i + j) % 2 for j, q in enumerate(QUEUES)},
                "skills": langs,
            }
        )
    return {
        "ami": {"host": "127.0.0.1", "port": ami_port, "user": "acd", "secret": DEMO_SECRET},
        "redis": {"url": redis_url},
        "http": {
            "host": "127.0.0.1",
            "port": http_port,
            "tokens": [{"name": "demo-admin", "role": "admin", "sha256": token_hash(token)}]
            if token
            else [],
        },
        "routing": {"no_answer_pause_seconds": 20},
        "queues": [
            {"name": name, "skills": skills, "wrap_up_seconds": 3, "ring_timeout_seconds": 15}
            for name, skills in QUEUES.items()
        ],
        "agents": agent_rows,
    }


async def log_in(app: AcdApp, agent_id: str) -> None:
    """Make an agent ready, through the router like any other state change."""
    await app.router.call(lambda: app.router.change_agent_state(agent_id, AgentState.READY))


async def run_demo(http_port: int, agents: int, calls_per_minute: float, seed: int | None) -> None:
    """Start everything, print the URLs, run until cancelled, then stop everything."""
    from acd.sim import Simulator
    from acd.sim.traffic import generate_callers

    rng = random.Random(seed)
    with tempfile.TemporaryDirectory(prefix="acd-demo-") as tmp:
        redis = RedisServer(Path(tmp))
        await redis.start()
        sim = Simulator(username="acd", secret=DEMO_SECRET, seed=seed)
        app: AcdApp | None = None
        traffic: asyncio.Task[None] | None = None
        try:
            await sim.start(host="127.0.0.1", port=0)
            for i in range(agents):
                sim.add_phone(
                    f"{1001 + i}",
                    answer_after=rng.uniform(1, 4),
                    answers=rng.random() > 0.1,
                    talk_for=rng.uniform(8, 40),
                )
            # A throwaway admin token for this run only, so the API can be tried at once.
            token = secrets.token_urlsafe(18)
            settings = settings_from_dict(
                demo_config(redis.url, sim.port, http_port, agents, token)
            )
            app = AcdApp(settings)
            await app.start()
            await app.ami.wait_connected(10)
            for agent in settings.agents:
                await log_in(app, agent.id)
            traffic = asyncio.create_task(
                generate_callers(
                    sim,
                    queues=list(QUEUES),
                    calls_per_minute=calls_per_minute,
                    rng=rng,
                    skills_by_queue={"поддержка": ["lang:ru=1"], "sales": ["lang:en=1", ""]},
                )
            )
            base = f"http://127.0.0.1:{app.http_port}"
            print(
                f"acd demo is running ({agents} agents, {calls_per_minute:g} calls/minute)\n"
                f"  metrics:  {base}/metrics\n"
                f"  health:   {base}/health\n"
                f"  API:      {base}/api/v1/queues  {base}/api/v1/agents  {base}/api/v1/calls\n"
                f"  token:    {token}  (admin, this run only)\n"
                f"  try:      curl -H 'Authorization: Bearer {token}' "
                f"{base}/api/v1/queues/sales/stats\n"
                f"  AMI sim:  127.0.0.1:{sim.port} (user acd)\n"
                "Press Ctrl-C to stop.",
                flush=True,
                file=sys.stdout,
            )
            await asyncio.Event().wait()
        finally:
            if traffic is not None:
                traffic.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await traffic
            if app is not None:
                await app.stop()
            await sim.stop()
            await redis.stop()
            print("acd demo stopped.", flush=True)
