"""The load generator runs end to end on tiny numbers, and its report adds up.

No timing is asserted: this keeps ``python -m loadtest.generate`` from rotting, with acd as
its own process, the simulator and a real redis-server, in a few seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

from loadtest.generate import main

OUTCOMES = ("answered", "abandoned", "fallback", "dropped", "waiting", "other")


def test_a_small_centre_s_day_is_reported_whole(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    assert (
        main(
            [
                "--agents",
                "8",
                "--queues",
                "3",
                "--skills",
                "6",
                "--peak-rate",
                "4",
                "--time-scale",
                "0.01",
                "--sim-minutes",
                "4",
                "--erlang-agents",
                "3",
                "--patience-mean",
                "60",
                "--park",
                # Enough that the calls' bytes outweigh used_memory's own drift (client
                # buffers, the change stream): with 20 the figure came out -50 bytes once.
                "200",
                "--idle-seconds",
                "0.3",
                "--drain-seconds",
                "60",
                "--quiet",
                "--json",
                str(target),
            ]
        )
        == 0
    )
    report = json.loads(target.read_text(encoding="utf-8"))

    queues = report["queues"]
    total = queues.pop("all")
    assert total["offered"] > 0
    for name, figures in [*queues.items(), ("all", total)]:
        assert sum(figures[o] for o in OUTCOMES) == figures["offered"], name
        # The generator waited for every caller: each one ended one way or another.
        assert figures["waiting"] == 0 and figures["other"] == 0, name
    assert sum(q["offered"] for q in queues.values()) == total["offered"]
    assert total["answered"] > 0
    # Every answered caller was offered to an agent first; each offer was timed.
    assert report["routed_calls"] >= total["answered"]
    assert report["decisions"]["all"]["count"] >= report["routed_calls"]
    assert report["ami"]["events_to_acd"] > 0
    assert report["acd_process"]["peak_rss_bytes"] > 0
    assert report["redis"]["round_trips"] > 0 and report["redis"]["commands"] > 0
    assert report["redis"]["memory_per_waiting_call_bytes"] > 0
    assert report["erlang"] is not None
