"""How to reach Redis and which site's keys to use: the ``[redis]`` settings."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from urllib.parse import urlsplit

from acd.domain.names import check_name
from acd.domain.setting_table import Secret, SettingTable
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
        scheme = urlsplit(url).scheme
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
