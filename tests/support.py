"""Test helpers: a recording event sink to await, and settings for a small contact centre."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Mapping, Sequence
from typing import Any

from acd.app import AcdApp
from acd.config import Settings, settings_from_dict
from acd.domain.model import AgentState
from tests.sim_client import AmiClient, Message


class RecordingSink:
    """Keeps every event the router publishes; tests await the one they expect."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []
        self._changed = asyncio.Condition()

    async def publish(self, kind: str, data: dict[str, object]) -> None:
        async with self._changed:
            self.events.append((kind, dict(data)))
            self._changed.notify_all()

    async def publish_batch(self, events: Sequence[tuple[str, Mapping[str, object]]]) -> None:
        async with self._changed:
            self.events.extend((kind, dict(data)) for kind, data in events)
            self._changed.notify_all()

    def find(self, kind: str, **match: object) -> list[dict[str, Any]]:
        return [
            data
            for k, data in self.events
            if k == kind and all(data.get(key) == value for key, value in match.items())
        ]

    async def wait_for(self, kind: str, timeout: float = 10.0, **match: object) -> dict[str, Any]:
        """The first event of ``kind`` whose fields include ``match``, awaited with a timeout."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: bool(self.find(kind, **match)))
        return self.find(kind, **match)[0]

    async def wait_count(self, kind: str, count: int, timeout: float = 10.0) -> None:
        """Until ``count`` events of ``kind`` were published, awaited with a timeout."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: len(self.find(kind)) >= count)

    async def wait_for_any(
        self, kinds: tuple[str, ...], timeout: float = 10.0, **match: object
    ) -> dict[str, Any]:
        """The first event of any of ``kinds`` whose fields include ``match``."""

        def found() -> list[dict[str, Any]]:
            return [e for kind in kinds for e in self.find(kind, **match)]

        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: bool(found()))
        return found()[0]


def contact_centre(
    redis_url: str,
    ami_port: int,
    *,
    site: str,
    agents: list[dict[str, Any]] | None = None,
    queues: list[dict[str, Any]] | None = None,
    routing: dict[str, Any] | None = None,
    http: dict[str, Any] | None = None,
) -> Settings:
    """Settings for a test: one 'sales' queue and two agents unless told otherwise."""
    return settings_from_dict(
        {
            "ami": {
                "host": "127.0.0.1",
                "port": ami_port,
                "user": "acd",
                "secret": "s3cret",
                "ping_interval": 5.0,
                "action_timeout": 3.0,
                "reconnect_max_delay": 0.5,
            },
            "redis": {"url": redis_url, "site": site},
            "http": {"host": "127.0.0.1", "port": 0, **(http or {})},
            # Side writes at once: the simulator's 50x compression would turn their 20 ms of
            # gathering into a second of its time.
            "routing": {
                "tick_seconds": 0.2,
                "offer_grace_seconds": 5.0,
                "side_writes_seconds": 0,
                **(routing or {}),
            },
            "queues": queues
            if queues is not None
            else [
                {"name": "sales", "ring_timeout_seconds": 15, "wrap_up_seconds": 0},
            ],
            "agents": agents
            if agents is not None
            else [
                {"id": "1001", "name": "Anna", "dial": "PJSIP/1001", "queues": {"sales": 1}},
                {"id": "1002", "name": "Bram", "dial": "PJSIP/1002", "queues": {"sales": 1}},
            ],
        }
    )


def sample(app: Any, name: str, **labels: str) -> float:
    """A metric's current value in an app's registry (0 when the series does not exist yet)."""
    value = app.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else float(value)


async def log_in(app: AcdApp, *agent_ids: str) -> None:
    for agent_id in agent_ids:
        await app.router.call(
            functools.partial(app.router.change_agent_state, agent_id, AgentState.READY)
        )


async def wait_on_hold(ami_port: int, channel: str, timeout: float = 10.0) -> None:
    """Watch AMI, as another client would, until ``channel`` is on hold: its MusicOnHoldStart
    event, or (when it was on hold before this client logged in) the channel list saying so."""
    client = await AmiClient.connect(ami_port)
    try:
        await client.login()
        listed = await client.action("CoreShowChannels")

        def on_hold(m: Message) -> bool:
            if m.matches("MusicOnHoldStart", Channel=channel):
                return True
            return m.matches(
                "CoreShowChannel",
                Channel=channel,
                Application="MusicOnHold",
                ActionID=listed["ActionID"],
            )

        await client.find(on_hold, timeout)
    finally:
        await client.close()
