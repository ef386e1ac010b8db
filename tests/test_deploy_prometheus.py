"""The Prometheus configuration, recording and alert rules of deploy/prometheus are valid and
their unit tests pass (with promtool); every alert is complete and tested both ways."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.test_deploy_metrics_names import (
    PROMETHEUS,
    dashboard_exprs,
    rule_exprs,
    yaml_scalars,
)

PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None,
    reason="promtool is not on PATH (Debian: apt-get install prometheus)",
)
ALERTS = PROMETHEUS / "alerts.yml"
RULE_TESTS = PROMETHEUS / "alerts_test.yml"


def promtool(*args: str, cwd: Path = PROMETHEUS) -> str:
    """Run promtool and return its output; fail the test with that output on a non-zero exit."""
    assert PROMTOOL is not None
    result = subprocess.run(
        [PROMTOOL, *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    return output


def alert_chunks() -> dict[str, str]:
    """Alert name -> the YAML text of that alert's rule."""
    text = ALERTS.read_text(encoding="utf-8")
    chunks = re.split(r"\n(?=[ \t]*- alert:)", text)[1:]
    return {yaml_scalars(chunk, "alert")[0]: chunk for chunk in chunks}


@needs_promtool
@pytest.mark.parametrize("config", ["prometheus.yml", "prometheus.compose.yml"])
def test_scrape_config_is_valid_and_loads_the_rules(config: str) -> None:
    output = promtool("check", "config", config)
    assert "SUCCESS: 2 rule files found" in output


@needs_promtool
def test_rule_files_are_valid() -> None:
    output = promtool("check", "rules", "recording.yml", "alerts.yml")
    assert output.count("SUCCESS") == 2


@needs_promtool
def test_alert_rules_pass_their_unit_tests() -> None:
    assert "SUCCESS" in promtool("test", "rules", RULE_TESTS.name)


@needs_promtool
def test_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    # Grafana's variables replaced by values of the right kind, then each query checked by
    # promtool as the expression of a recording rule.
    substitutions = {
        "$__rate_interval": "5m",
        "$__range": "6h",
        "$queue": ".*",
        "$team": ".*",
        "$sl_threshold": "20.0",
    }
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for index, (_, expr) in enumerate(dashboard_exprs()):
        for variable, value in substitutions.items():
            expr = expr.replace(variable, value)
        assert "$" not in expr, expr
        lines += [f"      - record: dashboard:query_{index}", "        expr: |"]
        lines += [f"          {line}" for line in expr.splitlines()]
    (tmp_path / "dashboard.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    output = promtool("check", "rules", "dashboard.yml", cwd=tmp_path)
    assert f"SUCCESS: {len(dashboard_exprs())} rules found" in output


def test_scrape_job_is_the_one_the_alerts_watch() -> None:
    for config in ("prometheus.yml", "prometheus.compose.yml"):
        text = (PROMETHEUS / config).read_text(encoding="utf-8")
        assert yaml_scalars(text, "job_name") == ["acd"]
        assert yaml_scalars(text, "metrics_path") == ["/metrics"]
    assert 'up{job="acd"}' in rule_exprs()["AcdDown"]


def test_every_alert_waits_has_a_severity_and_speaks_to_the_operator() -> None:
    alerts = alert_chunks()
    assert set(alerts) == {
        "AcdServiceLevelBelowTarget",
        "AcdAbandonmentRateHigh",
        "AcdCallsWaitingNoAgentLoggedIn",
        "AcdCallerWaitingTooLong",
        "AcdAmiDisconnected",
        "AcdRedisErrors",
        "AcdRoutingSlow",
        "AcdRouterBehind",
        "AcdDown",
    }
    for name, chunk in alerts.items():
        assert re.fullmatch(r"\d+[smh]", yaml_scalars(chunk, "for")[0]), name
        assert yaml_scalars(chunk, "severity")[0] in {"critical", "warning"}, name
        for annotation in ("summary", "description", "runbook"):
            (text,) = yaml_scalars(chunk, annotation)
            assert len(text) > 20, (name, annotation)


def test_every_alert_is_tested_firing_and_quiet() -> None:
    text = RULE_TESTS.read_text(encoding="utf-8")
    fired: set[str] = set()
    quiet: set[str] = set()
    for block in re.split(r"\n(?=[ \t]*- eval_time:)", text)[1:]:
        (alert,) = yaml_scalars(block, "alertname")
        if re.search(r"exp_alerts:\s*\[\]", block):
            quiet.add(alert)
        elif "exp_labels:" in block:
            fired.add(alert)
    assert fired == set(alert_chunks())
    assert quiet == set(alert_chunks())


def test_every_alert_test_feeds_a_queue_or_process_that_must_not_fire() -> None:
    text = RULE_TESTS.read_text(encoding="utf-8")
    for test in re.split(r"\n(?=  - name:)", text)[1:]:
        (name,) = yaml_scalars(test, "name")
        expected = " ".join(yaml_scalars(test, "exp_labels"))
        key = "queue" if "queue:" in expected else "instance"  # what the alert is per
        fired = set(re.findall(rf'{key}: "?([\w:.-]+)', expected))
        fed = set(re.findall(rf'{key}="([^"]+)"', " ".join(yaml_scalars(test, "series"))))
        assert fired, name
        assert fired < fed, f"{name}: every series it feeds fires"


def test_recording_rules_follow_the_naming_convention() -> None:
    recorded = [name for name in rule_exprs() if ":" in name]
    assert "acd:service_level:ratio_rate5m" in recorded
    for name in recorded:
        assert re.fullmatch(r"acd:[a-z0-9_]+:[a-z0-9_]+", name), name
