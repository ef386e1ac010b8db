"""The operator's files: the example configuration loads in acd, the systemd unit is valid and
hardened, the Dockerfile builds a non-root image that runs ``acd serve``."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from acd.config import ENV_KEYS, load_settings
from tests.test_deploy_metrics_names import ROOT

DEPLOY = ROOT / "deploy"
UNIT = DEPLOY / "systemd" / "acd.service"
DOCUMENTED_ENV = {
    "ACD_AMI_HOST",
    "ACD_AMI_PORT",
    "ACD_AMI_USER",
    "ACD_AMI_SECRET",
    "ACD_REDIS_URL",
    "ACD_HTTP_HOST",
    "ACD_HTTP_PORT",
}


def test_example_config_loads_in_acd_with_the_secret_from_the_environment() -> None:
    settings = load_settings(DEPLOY / "acd.example.toml", env={"ACD_AMI_SECRET": "s3cret"})
    assert (settings.ami.host, settings.ami.port, settings.ami.user) == ("127.0.0.1", 5038, "acd")
    assert settings.ami.secret == "s3cret"
    assert (settings.http.host, settings.http.port) == ("127.0.0.1", 8080)
    sales = next(q for q in settings.queues if q.name == "sales")
    assert (sales.service_level_seconds, sales.wrap_up_seconds, sales.ring_timeout_seconds) == (
        20,
        10,
        15,
    )
    anna = next(a for a in settings.agents if a.id == "1001")
    assert (anna.dial, anna.queues, anna.skills) == ("PJSIP/1001", {"sales": 1}, {"lang:en": 5})


def test_example_config_keeps_no_secret() -> None:
    text = (DEPLOY / "acd.example.toml").read_text(encoding="utf-8")
    settings = text.split("\n")
    assert not [line for line in settings if re.match(r"\s*secret\s*=", line)]
    assert not [
        line
        for line in settings
        if "@" in line and not line.lstrip().startswith("#") and "url" in line
    ]  # no password in a Redis URL


def test_example_environment_names_only_variables_acd_reads() -> None:
    text = (DEPLOY / "acd.example.env").read_text(encoding="utf-8")
    named = set(re.findall(r"^#?\s*(ACD_[A-Z_]+)=", text, re.MULTILINE))
    assert named == DOCUMENTED_ENV
    assert named <= set(ENV_KEYS)
    env = dict(re.findall(r"^(ACD_[A-Z_]+)=(.*)$", text, re.MULTILINE))
    assert set(env) == {"ACD_AMI_SECRET", "ACD_REDIS_URL"}  # the secrets; the rest commented
    settings = load_settings(DEPLOY / "acd.example.toml", env=env)
    assert settings.redis.url == env["ACD_REDIS_URL"]


def read_unit() -> configparser.ConfigParser:
    unit = configparser.ConfigParser(interpolation=None, strict=True)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(UNIT.read_text(encoding="utf-8"))
    return unit


def test_systemd_unit_runs_acd_serve_as_its_own_user_with_secrets_from_a_file() -> None:
    service = read_unit()["Service"]
    assert service["ExecStart"].endswith("/acd serve --config /etc/acd/acd.toml")
    assert service["ExecStart"].startswith("/")
    assert service["EnvironmentFile"] == "/etc/acd/acd.env"
    assert service["User"] == "acd" and service["Group"] == "acd"
    assert service["Restart"] == "on-failure"
    assert service["RestartPreventExitStatus"] == "2"  # acd's exit status for a config error
    sysusers = (DEPLOY / "systemd" / "acd.sysusers.conf").read_text(encoding="utf-8")
    assert re.search(r"^u acd ", sysusers, re.MULTILINE)


def test_systemd_unit_is_hardened() -> None:
    service = read_unit()["Service"]
    for key, value in {
        "NoNewPrivileges": "yes",
        "ProtectSystem": "strict",
        "PrivateTmp": "yes",
        "ProtectHome": "yes",
        "PrivateDevices": "yes",
        "CapabilityBoundingSet": "",
        "RestrictSUIDSGID": "yes",
    }.items():
        assert service[key] == value, key


def test_systemd_accepts_every_directive(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    true = shutil.which("true")
    if analyze is None or true is None:
        pytest.skip("systemd-analyze is not installed")

    def verify(unit_text: str, name: str) -> subprocess.CompletedProcess[str]:
        path = tmp_path / name
        path.write_text(unit_text, encoding="utf-8")
        return subprocess.run(
            [analyze, "verify", str(path)], capture_output=True, text=True, timeout=60, check=False
        )

    # The binary is installed later, by the operator: verify the unit with one that exists.
    probe = verify(f"[Service]\nExecStart={true}\n", "probe.service")
    if probe.returncode != 0:
        pytest.skip(f"systemd-analyze cannot verify units here: {probe.stderr.strip()}")
    text = re.sub(
        r"^ExecStart=\S+", f"ExecStart={true}", UNIT.read_text(encoding="utf-8"), flags=re.MULTILINE
    )
    result = verify(text, "acd.service")
    assert result.returncode == 0, result.stderr
    assert "Unknown" not in result.stderr and "ignoring" not in result.stderr, result.stderr


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), split into build stages."""
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    instructions = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    stages: list[list[str]] = []
    for instruction in instructions:
        if instruction.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(instruction)
    return stages


def test_dockerfile_runs_acd_serve_as_a_non_root_user_on_python_311_slim() -> None:
    final = dockerfile_stages()[-1]
    assert final[0].split()[1] == "python:3.11-slim"
    users = [i.split()[1] for i in final if i.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert any("pip install" in i and "acd" in i for i in final)
    assert 'ENTRYPOINT ["acd"]' in final and 'CMD ["serve"]' in final
    assert not any("build-essential" in i for i in final)  # compilers stay in the build stage


def test_dockerfile_build_context_sends_only_what_the_image_needs() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").split()
    assert ignore[ignore.index("**") + 1 :][:3] == ["!pyproject.toml", "!README.md", "!acd/"]
    copied = [
        source
        for stage in dockerfile_stages()
        for i in stage
        if i.startswith("COPY ") and "--from" not in i
        for source in i.split()[1:-1]
    ]
    assert copied == ["pyproject.toml", "README.md", "acd"]
    for source in copied:
        assert (ROOT / source).exists(), source
