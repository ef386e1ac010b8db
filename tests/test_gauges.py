"""The NOC's live gauges: recomputed from Redis, per agent only when asked, and the series of
what was deleted go away instead of keeping their last value."""

from __future__ import annotations

from acd.sim import Simulator
from tests.conftest import MakeAcd
from tests.support import log_in, sample


async def test_no_per_agent_series_unless_enabled(sim: Simulator, make_acd: MakeAcd) -> None:
    app, _ = await make_acd()
    await log_in(app, "1001")
    await app._refresh_stats()
    assert sample(app, "acd_agents", queue="sales", state="ready") == 1
    assert (
        app.metrics.registry.get_sample_value(
            "acd_agent_state", {"agent": "1001", "state": "ready"}
        )
        is None
    )


async def test_per_agent_series_when_enabled(sim: Simulator, make_acd: MakeAcd) -> None:
    sim.add_phone("1001", answer_after=0.5, talk_for=1.0)
    app, sink = await make_acd(http={"per_agent_metrics": True})
    await log_in(app, "1001")
    call = await sim.place_call(queue="sales", caller_name="Zoë", patience=None)
    await sink.wait_for("call.ended", call=call.uniqueid)
    await app._refresh_stats()
    assert sample(app, "acd_agent_state", agent="1001", state="ready") == 1
    assert sample(app, "acd_agent_state", agent="1001", state="busy") == 0
    assert sample(app, "acd_agent_state", agent="1002", state="logged_out") == 1
    assert sample(app, "acd_agent_calls_today", agent="1001") == 1


async def test_gauges_of_a_deleted_queue_disappear(sim: Simulator, make_acd: MakeAcd) -> None:
    queues = [{"name": "sales"}, {"name": "закрыто"}]
    app, sink = await make_acd(queues=queues)
    call = await sim.place_call(queue="закрыто", patience=None)
    await sink.wait_for("call.offered", call=call.uniqueid)
    await app._refresh_stats()
    assert sample(app, "acd_queue_waiting", queue="закрыто") == 1
    call.hang_up()
    await sink.wait_for("call.abandoned", call=call.uniqueid)
    await app.store.delete_queue("закрыто")
    await app._refresh_stats()
    registry = app.metrics.registry
    assert registry.get_sample_value("acd_queue_waiting", {"queue": "закрыто"}) is None
    assert registry.get_sample_value("acd_queue_waiting", {"queue": "sales"}) == 0
