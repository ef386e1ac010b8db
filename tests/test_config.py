"""Settings: a bad or missing setting stops acd with one line that names it."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from acd.api.auth import token_hash
from acd.config import Secret, load_settings, settings_from_dict
from acd.errors import ConfigError

GOOD = """
[ami]
host = "10.0.0.5"
port = 5038
user = "acd"

[redis]
url = "redis://127.0.0.1:6379/0"

[[queues]]
name = "поддержка"
strategy = "longest-idle"
wrap_up_seconds = 10

[[agents]]
id = "1001"
name = "Олег"
dial = "PJSIP/1001"
queues = { "поддержка" = 1 }
skills = { "lang:ru" = 7 }
"""


def test_file_and_environment_make_one_settings_object(tmp_path: Path) -> None:
    path = tmp_path / "acd.toml"
    path.write_text(GOOD, encoding="utf-8")
    settings = load_settings(path, env={"ACD_AMI_SECRET": "top-secret", "ACD_AMI_PORT": "6038"})
    assert settings.ami.host == "10.0.0.5"
    assert settings.ami.port == 6038
    assert settings.ami.secret == "top-secret"
    assert settings.queues[0].name == "поддержка"
    assert settings.agents[0].skills == {"lang:ru": 7}


def test_secret_never_shows_in_repr(tmp_path: Path) -> None:
    settings = settings_from_dict({"ami": {"secret": "hunter22"}})
    assert "hunter22" not in repr(settings)
    assert repr(Secret("x")) == "Secret('***')"


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({}, "ami.secret"),
        ({"ami": {"secret": "s", "port": "http"}}, "ami.port"),
        ({"ami": {"secret": "s", "port": 70000}}, "ami.port"),
        ({"ami": {"secret": "s"}, "redis": {"url": "http://x"}}, "redis.url"),
        ({"ami": {"secret": "s"}, "queues": [{"name": "bad name"}]}, "queues[0].name"),
        (
            {"ami": {"secret": "s"}, "queues": [{"name": "q", "strategy": "x"}]},
            "queues[0].strategy",
        ),
        (
            {"ami": {"secret": "s"}, "agents": [{"id": "1", "dial": "PJSIP/1\r\nAction: X"}]},
            "agents[0].dial",
        ),
        ({"ami": {"secret": "s"}, "agents": [{"id": "1", "dial": "PJSIP/1,t"}]}, "agents[0].dial"),
        (
            {
                "ami": {"secret": "s"},
                "agents": [{"id": "1", "dial": "PJSIP/1", "queues": {"nope": 1}}],
            },
            "agents[0].queues",
        ),
        (
            {
                "ami": {"secret": "s"},
                "agents": [{"id": "1", "dial": "PJSIP/1", "skills": {"lang:ru": 11}}],
            },
            "agents[0].skills",
        ),
        ({"ami": {"secret": "s"}, "bogus": {}}, "config: unknown section 'bogus'"),
    ],
)
def test_bad_setting_is_named(raw: dict[str, object], named: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_dict(raw)
    assert str(info.value).startswith(named)


def test_missing_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found"):
        load_settings(tmp_path / "missing.toml", env={})


def test_serve_with_bad_config_exits_with_one_clear_line(tmp_path: Path) -> None:
    path = tmp_path / "acd.toml"
    path.write_text('[ami]\nport = "x"\n', encoding="utf-8")
    result = subprocess.run(
        [sys.executable, "-m", "acd", "serve", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "ami.port" in lines[0]


STEPS = """
[ami]
secret = "s"

[[queues]]
name = "support"
teams = ["north"]
aging_seconds = 60
skills = { "lang:ru" = 5 }

[[queues.steps]]
after = 0

[[queues.steps]]
after = 30
skills = { "lang:ru" = 1 }

[[queues.steps]]
after = 90
kind = "leads"

[[queues.steps]]
after = 300
kind = "fallback"
to = "voicemail"
target = "vm-support"

[[agents]]
id = "lead-1"
dial = "PJSIP/2001"
team = "north"
role = "lead"
"""


def test_routing_steps_teams_and_aging_come_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "acd.toml"
    path.write_text(STEPS, encoding="utf-8")
    [queue] = load_settings(path, env={}).queues
    assert queue.teams == ("north",)
    assert queue.aging_seconds == 60
    assert [s.after for s in queue.steps] == [0, 30, 90, 300]
    assert queue.steps[1].skills == {"lang:ru": 1}
    assert queue.steps[2].kind.value == "leads"
    assert (queue.steps[3].to.value, queue.steps[3].target) == ("voicemail", "vm-support")


@pytest.mark.parametrize(
    ("steps", "named"),
    [
        ([{"after": 5}], "queues.q.steps[0].after"),
        ([{"after": 0}, {"after": 10, "kind": "nope"}], "queues[0].steps[1].kind"),
        (
            [{"after": 0}, {"after": 10, "kind": "fallback", "to": "queue", "target": "zz"}],
            "queues.q.steps[1].target",
        ),
        ([{"after": 0, "colour": "red"}], "queues[0].steps[0].colour: unknown setting"),
    ],
)
def test_bad_step_is_named(steps: list[dict[str, object]], named: str) -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"ami": {"secret": "s"}, "queues": [{"name": "q", "steps": steps}]})
    assert str(info.value).startswith(named)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"ami": {"secret": "s", "prot": 1}}, "ami.prot: unknown setting (did you mean port?)"),
        (
            {"queues": [{"name": "q", "wrapup_seconds": 10}]},
            "queues[0].wrapup_seconds: unknown setting (did you mean wrap_up_seconds?)",
        ),
        (
            {"queues": [{"name": "q", "steps": [{"after": 0, "skils": {"x": 1}}]}]},
            "queues[0].steps[0].skils: unknown setting (did you mean skills?)",
        ),
        (
            {"agents": [{"id": "1", "dial": "PJSIP/1", "skils": {"x": 1}}]},
            "agents[0].skils: unknown setting (did you mean skills?)",
        ),
        ({"redis": {"sites": "x"}}, "redis.sites: unknown setting (did you mean site?)"),
        (
            {"http": {"metrics_publik": False}},
            "http.metrics_publik: unknown setting (did you mean metrics_public?)",
        ),
        (
            {"http": {"tokens": [{"role": "admin", "sha265": "0" * 64}]}},
            "http.tokens[0].sha265: unknown setting (did you mean sha256?)",
        ),
        ({"routing": {"tick": 1}}, "routing.tick: unknown setting (known: "),
        ({"queue": [{"name": "q"}]}, "config: unknown section 'queue' (did you mean queues?)"),
    ],
)
def test_a_typo_in_any_setting_is_refused_with_its_path_and_the_nearest_name(
    raw: dict[str, Any], message: str
) -> None:
    # Refused before anything else is checked: a typo of a required key is named as a typo,
    # not as the missing setting (here: the AMI secret, absent on purpose in most cases).
    with pytest.raises(ConfigError) as info:
        settings_from_dict(raw, env={})
    assert str(info.value).startswith(message)


def test_the_settings_shown_in_the_readmes_load() -> None:
    root = Path(__file__).resolve().parents[1]
    blocks = [
        block
        for readme in (root / "README.md", root / "deploy" / "README.md")
        if readme.exists()
        for block in re.findall(r"```toml\n(.*?)```", readme.read_text(encoding="utf-8"), re.DOTALL)
    ]
    assert len(blocks) >= 3
    for block in blocks:
        raw = tomllib.loads(block.replace('"…"', f'"{token_hash("t")}"'))
        raw.setdefault("ami", {}).setdefault("secret", "s")
        fallbacks = [
            s.get("target")
            for q in raw.get("queues", [])
            for s in q.get("steps", [])
            if s.get("to") == "queue"
        ]
        raw.setdefault("queues", []).extend({"name": name} for name in fallbacks)
        for hook in raw.get("webhooks", []):
            hook["secret_env"] = "SECRET"
        settings_from_dict(raw, env={"SECRET": "k"})


LAYERS_BELOW_CONFIG = (
    "acd/domain",
    "acd/store",
    "acd/ami",
    "acd/api",
    "acd/service",
    "acd/sim",
    "acd/metrics.py",
    "acd/errors.py",
)


def test_no_part_below_the_settings_composer_imports_it() -> None:
    # acd.config composes each part's settings: a part importing it back makes a loop.
    root = Path(__file__).resolve().parents[1]
    importers = []
    for layer in LAYERS_BELOW_CONFIG:
        path = root / layer
        for module in [path] if path.is_file() else sorted(path.rglob("*.py")):
            for node in ast.walk(ast.parse(module.read_text(encoding="utf-8"))):
                names = (
                    [f"{node.module}.{a.name}" for a in node.names] + [node.module or ""]
                    if isinstance(node, ast.ImportFrom)
                    else [a.name for a in node.names]
                    if isinstance(node, ast.Import)
                    else []
                )
                if "acd.config" in names:
                    importers.append(str(module.relative_to(root)))
    assert importers == []


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ({"redis": {"url": "redis://host:notaport/0"}}, "redis.url: port must be"),
        ({"redis": {"url": "redis://[::1/0"}}, "redis.url: is not a valid URL"),
        ({"redis": {"url": "redis://host:99999/0"}}, "redis.url: port must be"),
        ({"redis": {"url": "redis://host:0/0"}}, "redis.url: port must be"),
        ({"redis": {"url": "redis://host/abc"}}, "redis.url: the database must be a number"),
        ({"redis": {"url": "redis:///0"}}, "redis.url: must name the Redis host"),
        ({"redis": {"url": "unix://"}}, "redis.url: unix:// needs"),
        ({"redis": {"url": "redis://h/0?socket_timeout=soon"}}, "redis.url: Invalid value"),
        ({"redis": {"url": "redis://db host/0"}}, "redis.url: must not contain spaces"),
        ({"ami": {"host": "pbx local"}}, "ami.host"),
        ({"ami": {"host": ""}}, "ami.host"),
        ({"ami": {"port": 0}}, "ami.port"),
        ({"http": {"host": "10.0.0.300"}}, "http.host"),
        ({"http": {"host": "a/b"}}, "http.host"),
        ({"webhooks": [{"name": "crm", "url": "http://[::1/x", "secret": "s"}]}, "webhooks[0].url"),
        (
            {"webhooks": [{"name": "crm", "url": "http://h:99999/", "secret": "s"}]},
            "webhooks[0].url",
        ),
    ],
)
def test_a_malformed_address_is_named_in_one_line(raw: dict[str, Any], named: str) -> None:
    raw.setdefault("ami", {})["secret"] = "s"
    with pytest.raises(ConfigError) as info:
        settings_from_dict(raw)
    assert str(info.value).startswith(named)
    assert "\n" not in str(info.value)


def test_a_redis_password_never_shows_in_the_error_about_its_url() -> None:
    with pytest.raises(ConfigError) as info:
        settings_from_dict({"ami": {"secret": "s"}, "redis": {"url": "redis://:hunter22@h:x/0"}})
    assert "hunter22" not in str(info.value)


@pytest.mark.parametrize(
    "url", ["redis://host:notaport/0", "redis://[::1/0", "redis://host:99999/0"]
)
def test_serve_with_a_malformed_redis_url_exits_2_with_one_line(url: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "acd", "serve"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "ACD_AMI_SECRET": "s", "ACD_REDIS_URL": url},
    )
    lines = result.stderr.strip().splitlines()
    assert (result.returncode, len(lines)) == (2, 1), result.stderr
    assert lines[0].startswith("acd: configuration error: redis.url: ")


def test_a_config_path_that_is_a_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config: cannot read"):
        load_settings(tmp_path, env={})
