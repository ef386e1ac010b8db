"""The Grafana dashboard is valid dashboard JSON that shows what the contact centre needs, and
its provisioning points Grafana at it and at Prometheus."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.test_deploy_metrics_names import (
    DASHBOARD,
    ROOT,
    acd_exposition,
    exported_series,
    selectors_in,
    yaml_scalars,
)

PROVISIONING = ROOT / "deploy" / "grafana" / "provisioning"


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return data


def all_panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    panels = []
    for panel in dashboard["panels"]:
        panels.append(panel)
        panels.extend(panel.get("panels", []))
    return panels


def test_dashboard_is_a_current_grafana_dashboard(dashboard: dict[str, Any]) -> None:
    assert 36 <= dashboard["schemaVersion"] <= 41
    assert dashboard["uid"] == "acd-overview"
    assert dashboard["title"]
    assert dashboard["time"]["from"].startswith("now-")
    ids = [p["id"] for p in all_panels(dashboard)]
    assert len(ids) == len(set(ids))


def test_panels_fit_the_grid_without_overlapping(dashboard: dict[str, Any]) -> None:
    taken: dict[tuple[int, int], str] = {}
    for panel in all_panels(dashboard):
        box = panel["gridPos"]
        assert box["x"] >= 0 and box["w"] > 0 and box["x"] + box["w"] <= 24, panel["title"]
        for x in range(box["x"], box["x"] + box["w"]):
            for y in range(box["y"], box["y"] + box["h"]):
                assert (x, y) not in taken, (panel["title"], taken.get((x, y)))
                taken[(x, y)] = panel["title"]


def test_every_query_has_the_datasource_variable_and_a_ref_id(dashboard: dict[str, Any]) -> None:
    for panel in all_panels(dashboard):
        if panel["type"] == "row":
            continue
        assert panel["type"] in {"stat", "timeseries"}, panel["title"]
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}
        assert panel["targets"], panel["title"]
        ref_ids = [t["refId"] for t in panel["targets"]]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == panel["datasource"]
            assert target["expr"].strip()


def test_dashboard_shows_what_the_contact_centre_watches(dashboard: dict[str, Any]) -> None:
    titles = " | ".join(p["title"] for p in all_panels(dashboard))
    for wanted in (
        "Service level",
        "Abandonment rate",
        "Average speed of answer",
        "First response time (p50, p90)",
        "Calls waiting",
        "Oldest wait",
        "Agents by state per team",
        "Calls overflowed, by step",
        "Routing decision latency (p50, p99)",
        "AMI connection",
        "AMI events",
        "Redis health",
        "Event loop lag",
    ):
        assert wanted in titles, wanted


def test_queue_variable_filters_every_per_queue_query(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    queue = variables["queue"]
    assert queue["multi"] and queue["includeAll"] and queue["allValue"] == ".*"
    assert variables["datasource"]["query"] == "prometheus"
    per_queue = {
        name for name, labels in exported_series(acd_exposition()).items() if "queue" in labels
    }
    checked = 0
    for panel in all_panels(dashboard):
        for target in panel.get("targets", []):
            for selector in selectors_in(target["expr"]):
                if selector.name in per_queue:
                    checked += 1
                    matchers = {(m.label, m.op, m.value) for m in selector.matchers}
                    assert ("queue", "=~", "$queue") in matchers, (panel["title"], selector)
    assert checked >= 15


def test_service_level_threshold_defaults_to_20_seconds(dashboard: dict[str, Any]) -> None:
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    threshold = variables["sl_threshold"]
    assert threshold["current"]["value"] == "20.0"
    assert [o["value"] for o in threshold["options"]] == threshold["query"].split(",")


def test_datasource_provisioning_is_the_default_prometheus() -> None:
    text = (PROVISIONING / "datasources" / "prometheus.yml").read_text(encoding="utf-8")
    assert yaml_scalars(text, "type") == ["prometheus"]
    assert yaml_scalars(text, "url") == ["${ACD_PROMETHEUS_URL}"]
    assert yaml_scalars(text, "isDefault") == ["true"]


def test_dashboard_provider_reads_a_folder_of_json_files() -> None:
    text = (PROVISIONING / "dashboards" / "acd.yml").read_text(encoding="utf-8")
    assert yaml_scalars(text, "type") == ["file"]
    (path,) = yaml_scalars(text, "path")
    assert path.startswith("/") and not path.endswith(".json")
