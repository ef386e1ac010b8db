"""What every handler works with, handed in explicitly: the handlers never see the worker."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from acd.domain.counts import local_day
from acd.domain.model import Call, Queue
from acd.metrics import Metrics
from acd.service.mirror import Mirror
from acd.service.ports import Telephony
from acd.service.recorder import Recorder
from acd.service.routing import Routing
from acd.service.routing_settings import RoutingSettings
from acd.store import Store


@dataclass(slots=True)
class Services:
    """The collaborators of the handlers."""

    store: Store
    telephony: Telephony
    metrics: Metrics
    settings: RoutingSettings
    mirror: Mirror
    recorder: Recorder
    routing: Routing
    clock: Callable[[], float]
    zone: ZoneInfo

    def day_of(self, now: float) -> str:
        """The local calendar day of ``now``, in which agents' call counts are kept."""
        return local_day(now, self.zone)

    def queue_of(self, call: Call) -> Queue:
        """The configuration of the call's queue (defaults if it was deleted meanwhile)."""
        return self.mirror.queues.get(call.queue) or Queue(call.queue)
