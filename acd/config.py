"""The one typed settings object: read from a TOML file and ``ACD_*`` environment variables.

Each section's settings live beside the code they configure (``acd.ami.settings``,
``acd.store.settings``, ``acd.api.settings``, ``acd.service.routing_settings``, the webhooks'
in ``acd.service.webhooks``, queues and agents in ``acd.domain.profiles``); this module only
composes them, and nothing below it imports it. A bad, missing or unknown setting stops acd
at start with one line naming it.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from acd.ami.settings import AmiSettings
from acd.api.settings import HttpSettings
from acd.domain.model import Agent, Queue
from acd.domain.profiles import (
    agent_from_table,
    check_agent_queues,
    check_fallback_targets,
    queue_from_table,
)
from acd.domain.setting_table import Secret, SettingTable, nearest_known
from acd.errors import ConfigError
from acd.service.routing_settings import RoutingSettings
from acd.service.webhooks import WebhookSettings
from acd.store.settings import RedisSettings

__all__ = [
    "ENV_KEYS",
    "AmiSettings",
    "HttpSettings",
    "RedisSettings",
    "RoutingSettings",
    "Secret",
    "Settings",
    "load_settings",
    "settings_from_dict",
]


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything acd needs to start."""

    ami: AmiSettings = field(default_factory=AmiSettings)
    redis: RedisSettings = field(default_factory=RedisSettings)
    http: HttpSettings = field(default_factory=HttpSettings)
    routing: RoutingSettings = field(default_factory=RoutingSettings)
    queues: tuple[Queue, ...] = ()
    agents: tuple[Agent, ...] = ()
    webhooks: tuple[WebhookSettings, ...] = ()
    log_level: str = "INFO"


SECTIONS = ("ami", "redis", "http", "routing", "queues", "agents", "webhooks", "log_level")

ENV_KEYS: dict[str, tuple[str, str]] = {
    "ACD_AMI_HOST": ("ami", "host"),
    "ACD_AMI_PORT": ("ami", "port"),
    "ACD_AMI_USER": ("ami", "user"),
    "ACD_AMI_SECRET": ("ami", "secret"),
    "ACD_REDIS_URL": ("redis", "url"),
    "ACD_SITE": ("redis", "site"),
    "ACD_HTTP_HOST": ("http", "host"),
    "ACD_HTTP_PORT": ("http", "port"),
}


def load_settings(path: Path | None = None, env: Mapping[str, str] | None = None) -> Settings:
    """Read ``path`` (if given, or ``$ACD_CONFIG``) and the environment into :class:`Settings`."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if path is None and env.get("ACD_CONFIG"):
        path = Path(env["ACD_CONFIG"])
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError(f"config: file not found: {path}") from None
        except OSError as exc:  # a directory, no permission
            raise ConfigError(f"config: cannot read {path}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"config: {path} is not valid TOML: {exc}") from None
    for var, (section, key) in ENV_KEYS.items():
        if var in env:
            raw.setdefault(section, {})[key] = env[var]
    if "ACD_LOG_LEVEL" in env:
        raw["log_level"] = env["ACD_LOG_LEVEL"]
    return settings_from_dict(raw, env)


def settings_from_dict(raw: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Settings:
    """Validate an already-parsed configuration mapping (``env`` serves ``secret_env``)."""
    env = os.environ if env is None else env
    for unknown in sorted(set(raw) - set(SECTIONS)):
        raise ConfigError(
            f"config: unknown section {unknown!r} ({nearest_known(unknown, SECTIONS)})"
        )
    root = SettingTable(raw)
    settings = Settings(
        ami=AmiSettings.from_table(root.table("ami")),
        redis=RedisSettings.from_table(root.table("redis")),
        http=HttpSettings.from_table(root.table("http")),
        routing=RoutingSettings.from_table(root.table("routing")),
        queues=tuple(queue_from_table(table) for table in root.tables("queues")),
        agents=tuple(agent_from_table(table) for table in root.tables("agents")),
        webhooks=tuple(WebhookSettings.from_table(table, env) for table in root.tables("webhooks")),
        log_level=root.text("log_level", "INFO").upper(),
    )
    if not settings.ami.secret:
        raise ConfigError("ami.secret: missing (set ACD_AMI_SECRET or [ami] secret)")
    names = [q.name for q in settings.queues]
    if len(set(names)) != len(names):
        raise ConfigError("queues: a queue name appears twice")
    for configured in settings.queues:
        check_fallback_targets(configured, names, f"queues.{configured.name}")
    for index, agent in enumerate(settings.agents):
        check_agent_queues(agent, names, f"agents[{index}]")
    subscribers = [w.name for w in settings.webhooks]
    if len(set(subscribers)) != len(subscribers):
        raise ConfigError("webhooks: a webhook name appears twice")
    return settings
