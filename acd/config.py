"""The one typed settings object: read from a TOML file and ``ACD_*`` environment variables.

A bad or missing setting stops acd at start with one line naming the setting.
"""

from __future__ import annotations

import math
import os
import tomllib
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from acd.api.auth import AuthConfig
from acd.domain.model import Agent, FallbackKind, Queue, Role, Step, StepKind, Strategy
from acd.domain.names import check_dial_string, check_name, check_skill_name
from acd.errors import ConfigError, InvalidInput
from acd.service.webhooks import WebhookSettings, check_event_kind, check_webhook_url


class Secret(str):
    """A string that never shows itself in repr, logs or tracebacks."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "Secret('***')" if self else "Secret('')"


@dataclass(frozen=True, slots=True)
class AmiSettings:
    """How to reach Asterisk's manager interface."""

    host: str = "127.0.0.1"
    port: int = 5038
    user: str = "acd"
    secret: Secret = field(default_factory=lambda: Secret(""))
    ping_interval: float = 10.0
    action_timeout: float = 5.0
    reconnect_max_delay: float = 30.0


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """How to reach Redis, and the site name that scopes every key (Redis Cluster hash tag)."""

    url: Secret = field(default_factory=lambda: Secret("redis://127.0.0.1:6379/0"))
    site: str = "main"
    finished_call_ttl: int = 86_400


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Where the HTTP API and /metrics listen."""

    host: str = "127.0.0.1"
    port: int = 8080
    auth: AuthConfig = field(default_factory=AuthConfig)
    # One series per agent grows with the staff: off unless the NOC asks for it.
    per_agent_metrics: bool = False


@dataclass(frozen=True, slots=True)
class RoutingSettings:
    """Router-wide behaviour that is not per queue."""

    short_abandon_seconds: float = 5.0
    tick_seconds: float = 1.0
    no_answer_pause: bool = True
    offer_grace_seconds: float = 10.0
    no_answer_pause_seconds: float = 0.0  # 0 = paused until the agent resumes
    stats_timezone: str = "UTC"  # where "today" of the daily statistics starts and ends


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
    unknown = set(raw) - {"ami", "redis", "http", "routing", "queues", "agents", "webhooks",
                          "log_level"}
    if unknown:
        raise ConfigError(f"config: unknown section {sorted(unknown)[0]!r}")
    ami = _section(raw, "ami")
    redis = _section(raw, "redis")
    http = _section(raw, "http")
    routing = _section(raw, "routing")
    settings = Settings(
        ami=AmiSettings(
            host=_str(ami, "ami.host", "127.0.0.1"),
            port=_port(ami, "ami.port", 5038),
            user=_str(ami, "ami.user", "acd"),
            secret=Secret(_str(ami, "ami.secret", "")),
            ping_interval=_float(ami, "ami.ping_interval", 10.0, low=0.05),
            action_timeout=_float(ami, "ami.action_timeout", 5.0, low=0.05),
            reconnect_max_delay=_float(ami, "ami.reconnect_max_delay", 30.0, low=0.05),
        ),
        redis=RedisSettings(
            url=Secret(_redis_url(redis)),
            site=check_setting("redis.site", check_name, _str(redis, "redis.site", "main")),
            finished_call_ttl=int(_float(redis, "redis.finished_call_ttl", 86_400, low=1)),
        ),
        http=HttpSettings(
            host=_str(http, "http.host", "127.0.0.1"), port=_port(http, "http.port", 8080),
            auth=AuthConfig.from_mapping(http),
            per_agent_metrics=_bool(http, "http.per_agent_metrics", False),
        ),
        routing=RoutingSettings(
            short_abandon_seconds=_float(routing, "routing.short_abandon_seconds", 5.0, low=0),
            tick_seconds=_float(routing, "routing.tick_seconds", 1.0, low=0.01),
            no_answer_pause=_bool(routing, "routing.no_answer_pause", True),
            offer_grace_seconds=_float(routing, "routing.offer_grace_seconds", 10.0, low=0.1),
            no_answer_pause_seconds=_float(routing, "routing.no_answer_pause_seconds", 0.0,
                                           low=0),
            stats_timezone=_timezone(routing, "routing.stats_timezone"),
        ),
        queues=tuple(
            queue_from_dict(q, f"queues[{i}]") for i, q in enumerate(_list(raw, "queues"))
        ),
        agents=tuple(
            agent_from_dict(a, f"agents[{i}]") for i, a in enumerate(_list(raw, "agents"))
        ),
        webhooks=tuple(
            webhook_from_dict(w, f"webhooks[{i}]", env)
            for i, w in enumerate(_list(raw, "webhooks"))
        ),
        log_level=_str(raw, "log_level", "INFO").upper(),
    )
    if not settings.ami.secret:
        raise ConfigError("ami.secret: missing (set ACD_AMI_SECRET or [ami] secret)")
    names = [q.name for q in settings.queues]
    if len(set(names)) != len(names):
        raise ConfigError("queues: a queue name appears twice")
    for configured in settings.queues:
        check_fallback_targets(configured, names)
    for index, agent in enumerate(settings.agents):
        check_agent_queues(agent, names, f"agents[{index}]")
    subscribers = [w.name for w in settings.webhooks]
    if len(set(subscribers)) != len(subscribers):
        raise ConfigError("webhooks: a webhook name appears twice")
    return settings


def check_fallback_targets(queue: Queue, names: Container[str]) -> None:
    """Raise :class:`ConfigError` if a step of ``queue`` falls back to a queue not in
    ``names`` (the configuration file's, or Redis's when the API changes a queue)."""
    for index, step in enumerate(queue.steps):
        if step.to is FallbackKind.QUEUE and step.target not in names:
            raise ConfigError(f"queues.{queue.name}.steps[{index}].target: "
                              f"unknown queue {step.target!r}")


def check_agent_queues(agent: Agent, names: Container[str], where: str) -> None:
    """Raise :class:`ConfigError` if ``agent`` serves a queue not in ``names``."""
    for queue in agent.queues:
        if queue not in names:
            raise ConfigError(f"{where}.queues: unknown queue {queue!r}")


def queue_from_dict(raw: Mapping[str, Any], where: str) -> Queue:
    """Build a :class:`Queue` from config or API input, naming the bad field on error."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a table")
    name = check_setting(f"{where}.name", check_name, raw.get("name", ""))
    strategy_text = _str(raw, f"{where}.strategy", Strategy.LONGEST_IDLE.value)
    try:
        strategy = Strategy(strategy_text)
    except ValueError:
        choices = ", ".join(s.value for s in Strategy)
        raise ConfigError(f"{where}.strategy: must be one of {choices}") from None
    return Queue(
        name=name,
        strategy=strategy,
        skills=_skill_table(raw, f"{where}.skills"),
        priority=int(_float(raw, f"{where}.priority", 0, low=0, high=9)),
        service_level_seconds=_float(raw, f"{where}.service_level_seconds", 20.0, low=1),
        wrap_up_seconds=_float(raw, f"{where}.wrap_up_seconds", 0.0, low=0),
        ring_timeout_seconds=int(_float(raw, f"{where}.ring_timeout_seconds", 15, low=1)),
        max_wait_seconds=int(_float(raw, f"{where}.max_wait_seconds", 600, low=1)),
        max_length=int(_float(raw, f"{where}.max_length", 0, low=0)),
        steps=tuple(_steps(raw, f"{where}.steps")),
        teams=tuple(
            check_setting(f"{where}.teams", check_name, t) for t in _list(raw, "teams")
        ),
        aging_seconds=_float(raw, f"{where}.aging_seconds", 0.0, low=0),
        no_answer_pause=_bool(raw, f"{where}.no_answer_pause", True),
    )


_STEP_KEYS = {"after", "kind", "skills", "cap", "to", "target", "name"}


def _steps(raw: Mapping[str, Any], where: str) -> list[Step]:
    """Routing steps of a queue: ``[[queues.steps]]`` tables in order of time."""
    steps: list[Step] = []
    for index, step in enumerate(_list(raw, "steps")):
        at = f"{where}[{index}]"
        if not isinstance(step, Mapping):
            raise ConfigError(f"{at}: must be a table")
        unknown = set(step) - _STEP_KEYS
        if unknown:
            raise ConfigError(f"{at}: unknown key {sorted(unknown)[0]!r}")
        kind = _choice(step, f"{at}.kind", StepKind, StepKind.SKILLS)
        target = _str(step, f"{at}.target", "")
        if target:
            check_setting(f"{at}.target", check_name, target)
        name = _str(step, f"{at}.name", "")
        if name:
            check_setting(f"{at}.name", check_name, name)
        steps.append(Step(
            after=_float(step, f"{at}.after", 0.0, low=0),
            kind=kind,
            skills=_skill_table(step, f"{at}.skills", low=0),
            cap=int(_float(step, f"{at}.cap", 0, low=0, high=10)),
            to=_choice(step, f"{at}.to", FallbackKind, FallbackKind.DIALPLAN),
            target=target,
            name=name,
        ))
    return steps


E = TypeVar("E", bound=StrEnum)


def _choice(raw: Mapping[str, Any], where: str, enum: type[E], default: E) -> E:
    text = _str(raw, where, default.value)
    try:
        return enum(text)
    except ValueError:
        choices = ", ".join(e.value for e in enum)
        raise ConfigError(f"{where}: must be one of {choices}") from None


def _bool(raw: Mapping[str, Any], where: str, default: bool) -> bool:
    value = raw.get(where.rsplit(".", 1)[-1], default)
    if not isinstance(value, bool):
        raise ConfigError(f"{where}: must be true or false")
    return value


def agent_from_dict(raw: Mapping[str, Any], where: str) -> Agent:
    """Build an :class:`Agent` (logged out) from config or API input."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a table")
    agent_id = check_setting(f"{where}.id", check_name, str(raw.get("id", "")))
    dial = check_setting(f"{where}.dial", check_dial_string, raw.get("dial", ""))
    team = _str(raw, f"{where}.team", "")
    if team:
        check_setting(f"{where}.team", check_name, team)
    role_text = _str(raw, f"{where}.role", Role.AGENT.value)
    try:
        role = Role(role_text)
    except ValueError:
        raise ConfigError(f"{where}.role: must be agent, lead or supervisor") from None
    queues_raw = raw.get("queues", {})
    if isinstance(queues_raw, list):  # a plain list means rank 1 everywhere
        if not all(isinstance(queue, str) for queue in queues_raw):
            raise ConfigError(f"{where}.queues: a list of queue names, or a table of "
                              "queue = rank")
        queues_raw = dict.fromkeys(queues_raw, 1)
    if not isinstance(queues_raw, Mapping):
        raise ConfigError(f"{where}.queues: must be a table of queue = rank")
    queues: dict[str, int] = {}
    for queue, rank in queues_raw.items():
        check_setting(f"{where}.queues", check_name, queue)
        if not isinstance(rank, int) or isinstance(rank, bool) or not 1 <= rank <= 100:
            raise ConfigError(f"{where}.queues.{queue}: rank must be a whole number 1-100")
        queues[queue] = rank
    name = _str(raw, f"{where}.name", "")
    if len(name) > 128 or any(ord(c) < 32 for c in name):
        raise ConfigError(f"{where}.name: at most 128 characters, no control characters")
    return Agent(
        id=agent_id, dial=dial, name=name, team=team, role=role,
        skills=_skill_table(raw, f"{where}.skills"), queues=queues,
    )


_WEBHOOK_KEYS = {"name", "url", "secret", "secret_env", "kinds", "queues", "timeout_seconds",
                 "max_attempts", "backoff_base_seconds", "backoff_cap_seconds"}


def webhook_from_dict(
    raw: Mapping[str, Any], where: str, env: Mapping[str, str]
) -> WebhookSettings:
    """One ``[[webhooks]]`` subscriber; its secret from ``secret`` or from ``secret_env``."""
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: must be a table")
    unknown = set(raw) - _WEBHOOK_KEYS
    if unknown:
        raise ConfigError(f"{where}: unknown key {sorted(unknown)[0]!r}")
    name = check_setting(f"{where}.name", check_name, raw.get("name", ""))
    url = check_webhook_url(f"{where}.url", _str(raw, f"{where}.url", ""))
    secret_env = _str(raw, f"{where}.secret_env", "")
    if "secret" in raw and secret_env:
        raise ConfigError(f"{where}.secret: give secret or secret_env, not both")
    secret = env.get(secret_env, "") if secret_env else _str(raw, f"{where}.secret", "")
    if not secret:
        missing = f"environment variable {secret_env} is not set" if secret_env else "missing"
        raise ConfigError(f"{where}.secret: {missing}")
    base = _float(raw, f"{where}.backoff_base_seconds", 0.5, low=0.001)
    return WebhookSettings(
        name=name, url=url, secret=Secret(secret),
        kinds=frozenset(check_event_kind(f"{where}.kinds", k)
                        for k in _strings(raw, f"{where}.kinds")),
        queues=frozenset(check_setting(f"{where}.queues", check_name, q)
                         for q in _strings(raw, f"{where}.queues")),
        timeout_seconds=_float(raw, f"{where}.timeout_seconds", 5.0, low=0.01),
        max_attempts=int(_float(raw, f"{where}.max_attempts", 20, low=1, high=100)),
        backoff_base_seconds=base,
        backoff_cap_seconds=_float(raw, f"{where}.backoff_cap_seconds", max(60.0, base),
                                   low=base),
    )


def _strings(raw: Mapping[str, Any], where: str) -> list[str]:
    value = raw.get(where.rsplit(".", 1)[-1], [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{where}: must be a list of strings")
    return value


def check_setting(where: str, check: Any, value: Any) -> str:
    """Run a name check and turn its :class:`InvalidInput` into a :class:`ConfigError`."""
    try:
        return str(check(where, value))
    except InvalidInput as exc:
        raise ConfigError(str(exc)) from None


def _skill_table(raw: Mapping[str, Any], where: str, low: int = 1) -> dict[str, int]:
    table = raw.get(where.rsplit(".", 1)[1], {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: must be a table of skill = level")
    skills: dict[str, int] = {}
    for name, level in table.items():
        check_setting(where, check_skill_name, name)
        if not isinstance(level, int) or isinstance(level, bool) or not low <= level <= 10:
            raise ConfigError(f"{where}.{name}: level must be a whole number {low}-10")
        skills[name] = level
    return skills


def _section(raw: Mapping[str, Any], name: str) -> Mapping[str, Any]:
    value = raw.get(name, {})
    if not isinstance(value, Mapping):
        raise ConfigError(f"{name}: must be a table")
    return value


def _list(raw: Mapping[str, Any], name: str) -> list[Any]:
    value = raw.get(name, [])
    if not isinstance(value, list):
        raise ConfigError(f"{name}: must be an array of tables ([[{name}]])")
    return value


def _str(raw: Mapping[str, Any], where: str, default: str) -> str:
    value = raw.get(where.rsplit(".", 1)[-1], default)
    if not isinstance(value, str):
        raise ConfigError(f"{where}: must be a string")
    return value


def _float(
    raw: Mapping[str, Any], where: str, default: float, *, low: float, high: float | None = None
) -> float:
    value = raw.get(where.rsplit(".", 1)[-1], default)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        raise ConfigError(f"{where}: must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise ConfigError(f"{where}: must be a finite number, got {value!r}")
    if number < low or (high is not None and number > high):
        bound = f"between {low:g} and {high:g}" if high is not None else f"at least {low:g}"
        raise ConfigError(f"{where}: must be {bound}, got {value!r}")
    return number


def _timezone(raw: Mapping[str, Any], where: str) -> str:
    name = _str(raw, where, "UTC")
    try:
        ZoneInfo(name)
    except (ValueError, ZoneInfoNotFoundError):
        raise ConfigError(f"{where}: unknown time zone {name!r} (e.g. Europe/Moscow)") from None
    return name


def _port(raw: Mapping[str, Any], where: str, default: int) -> int:
    value = raw.get(where.rsplit(".", 1)[-1], default)
    try:
        port = int(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: must be a port number, got {value!r}") from None
    if not 0 <= port <= 65535:
        raise ConfigError(f"{where}: must be a port number 0-65535, got {value!r}")
    return port


def _redis_url(raw: Mapping[str, Any]) -> str:
    url = _str(raw, "redis.url", "redis://127.0.0.1:6379/0")
    scheme = urlsplit(url).scheme
    if scheme not in {"redis", "rediss", "unix"}:
        raise ConfigError("redis.url: must start with redis://, rediss:// or unix://")
    return url
