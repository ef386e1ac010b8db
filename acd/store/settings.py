"""How to reach Redis and which site's keys to use: the ``[redis]`` settings."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from urllib.parse import unquote

from redis.asyncio.connection import parse_url

from acd.domain.addresses import split_url
from acd.domain.names import check_name
from acd.domain.setting_table import Secret, SettingTable
from acd.errors import InvalidInput
from acd.store.connection import CLUSTER, SCHEMES, SENTINEL, parse_multi_host_url

DEFAULT_URL = "redis://127.0.0.1:6379/0"


@dataclass(frozen=True, slots=True)
class RedisSettings:
    """How to reach Redis, and the site name that scopes every key (Redis Cluster hash tag)."""

    url: Secret = field(default_factory=lambda: Secret(DEFAULT_URL))
    site: str = "main"
    finished_call_ttl: int = 86_400

    @classmethod
    def from_table(cls, table: SettingTable) -> RedisSettings:
        """Read the ``[redis]`` table."""
        table.expect(f.name for f in fields(cls))
        url = table.text("url", DEFAULT_URL)
        # The scheme read without urlsplit, which raises on an unclosed '[' before it says why.
        scheme = url.partition(":")[0].lower()
        if scheme in {"redis", "rediss", "unix"}:
            table.check("url", check_redis_url, url)
        if scheme not in SCHEMES:
            raise table.error(
                "url",
                "must start with redis://, rediss://, unix://, redis+sentinel:// or "
                "redis+cluster://",
            )
        if scheme in (SENTINEL, CLUSTER):
            try:
                parse_multi_host_url(url)
            except ValueError as exc:
                raise table.error("url", str(exc)) from None
        return cls(
            url=Secret(url),
            site=table.checked("site", check_name, "main"),
            finished_call_ttl=table.whole("finished_call_ttl", 86_400, low=1),
        )


def check_redis_url(field: str, url: str) -> str:
    """``url`` if redis-py can connect with it as written: a host, a port 1-65535 and a
    database number for ``redis://`` and ``rediss://``, a socket path for ``unix://``.

    redis-py itself would raise a bare ValueError on a bad port or a ``[`` left open, and
    silently use database 0 for ``/abc``. Messages never repeat the URL (it may hold the
    password).
    """
    parts = split_url(field, url)
    if parts.scheme == "unix":
        if not parts.path:
            raise InvalidInput(field, "unix:// needs the socket's path (unix:///run/redis.sock)")
    else:
        if not parts.hostname:
            raise InvalidInput(field, "must name the Redis host (redis://HOST:6379/0)")
        db = unquote(parts.path).strip("/")
        if db and not (db.isascii() and db.isdigit()):
            raise InvalidInput(field, f"the database must be a number (.../0), got {db[:20]!r}")
    try:
        parse_url(url)
    except ValueError as exc:  # a bad query argument (?socket_timeout=soon)
        raise InvalidInput(field, str(exc)) from None
    return url
