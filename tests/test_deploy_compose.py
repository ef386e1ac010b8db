"""deploy/docker-compose.yml: valid for Docker Compose, and wired as the other deploy files
expect (acd's environment, Redis persistence, Prometheus rules, Grafana provisioning)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from acd.config import ENV_KEYS
from tests.test_deploy_metrics_names import ROOT, load_yaml, yaml_scalars

DEPLOY = ROOT / "deploy"
COMPOSE = DEPLOY / "docker-compose.yml"
SECRETS = {"ACD_AMI_SECRET": "test-secret", "GRAFANA_ADMIN_PASSWORD": "test-password"}


def compose_command() -> list[str] | None:
    """``docker compose`` (the plugin) or a standalone ``docker-compose`` of version 2 or
    later (version 1 predates the top-level ``name``), if one runs here; ``config`` needs no
    Docker engine."""
    candidates = []
    if shutil.which("docker"):
        candidates.append(["docker", "compose"])
    if shutil.which("docker-compose"):
        candidates.append(["docker-compose"])
    for command in candidates:
        probe = subprocess.run(
            [*command, "version", "--short"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        major = re.match(r"v?(\d+)\.", probe.stdout.strip())
        if probe.returncode == 0 and major and int(major.group(1)) >= 2:
            return command
    return None


def run_compose_config(extra_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = compose_command()
    if command is None:
        pytest.skip(
            "no Docker Compose v2: neither the docker compose plugin nor a "
            "docker-compose v2 is installed"
        )
    env = {k: v for k, v in os.environ.items() if k not in SECRETS} | extra_env
    return subprocess.run(
        [*command, "-f", str(COMPOSE), "config"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )


def test_docker_compose_accepts_the_file() -> None:
    result = run_compose_config(SECRETS)
    assert result.returncode == 0, result.stderr
    assert "ACD_AMI_SECRET: test-secret" in result.stdout


def test_docker_compose_refuses_to_start_without_the_ami_secret() -> None:
    result = run_compose_config({"GRAFANA_ADMIN_PASSWORD": "x"})
    assert result.returncode != 0
    assert "ACD_AMI_SECRET" in result.stderr


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = load_yaml(COMPOSE)
    return data


def test_stack_is_acd_redis_prometheus_grafana_and_not_asterisk(compose: dict[str, Any]) -> None:
    assert set(compose["services"]) == {"acd", "redis", "prometheus", "grafana"}


def test_acd_gets_every_setting_from_the_environment(compose: dict[str, Any]) -> None:
    acd = compose["services"]["acd"]
    environment = acd["environment"]
    documented = {
        "ACD_AMI_HOST",
        "ACD_AMI_PORT",
        "ACD_AMI_USER",
        "ACD_AMI_SECRET",
        "ACD_REDIS_URL",
        "ACD_HTTP_HOST",
        "ACD_HTTP_PORT",
        "ACD_CONFIG",
    }
    assert set(environment) == documented
    assert documented <= {*ENV_KEYS, "ACD_CONFIG"}  # names acd.config really reads
    assert environment["ACD_REDIS_URL"].startswith("redis://redis:")
    assert environment["ACD_HTTP_HOST"] == "0.0.0.0"  # reachable by Prometheus in its network
    assert "${ACD_AMI_SECRET:?" in environment["ACD_AMI_SECRET"]  # required, never a default
    assert acd["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}
    assert (ROOT / acd["build"]["dockerfile"]).is_file()
    assert any(v.endswith(":/etc/acd/acd.toml:ro") for v in acd["volumes"])
    assert acd["depends_on"]["redis"]["condition"] == "service_healthy"


def test_redis_persists_with_an_append_only_file_on_a_volume(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    command = " ".join(redis["command"])
    assert "--appendonly yes" in command
    assert "redis-data:/data" in redis["volumes"]
    assert "redis-data" in compose["volumes"]
    assert "ports" not in redis  # only acd talks to Redis


def test_prometheus_loads_the_compose_config_and_the_rules(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    assert "./prometheus:/etc/prometheus:ro" in prometheus["volumes"]
    (config,) = [a for a in prometheus["command"] if a.startswith("--config.file=")]
    name = Path(config.split("=", 1)[1]).name
    text = (DEPLOY / "prometheus" / name).read_text(encoding="utf-8")
    assert "acd:8080" in text  # the acd service, on its published container port
    assert compose["services"]["acd"]["environment"]["ACD_HTTP_PORT"] == "8080"


def test_grafana_is_provisioned_with_the_dashboard(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = dict(
        v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"] if v.startswith("./")
    )
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    provider = (DEPLOY / "grafana" / "provisioning" / "dashboards" / "acd.yml").read_text(
        encoding="utf-8"
    )
    assert mounts["./grafana/dashboards"] == yaml_scalars(provider, "path")[0]
    assert grafana["environment"]["ACD_PROMETHEUS_URL"] == "http://prometheus:9090"
    assert "${GRAFANA_ADMIN_PASSWORD:?" in grafana["environment"]["GF_SECURITY_ADMIN_PASSWORD"]


def test_every_mounted_file_exists_and_ports_stay_on_loopback(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("${ACD_CONFIG_FILE:-"):
                source = source.removeprefix("${ACD_CONFIG_FILE:-").removesuffix("}")
            if source.startswith("./"):
                assert (DEPLOY / source).exists(), (name, source)
        for port in service.get("ports", []):
            assert port.startswith("127.0.0.1:"), (name, port)
