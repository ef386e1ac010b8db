"""Where the HTTP API and /metrics listen, and who may use them: the ``[http]`` settings."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from acd.api.auth import AuthConfig
from acd.api.event_feed import DEFAULT_MAX_CLIENTS
from acd.domain.addresses import check_host
from acd.domain.setting_table import SettingTable


@dataclass(frozen=True, slots=True)
class HttpSettings:
    """Where the HTTP API and /metrics listen."""

    host: str = "127.0.0.1"
    port: int = 8080
    auth: AuthConfig = field(default_factory=AuthConfig)
    # One series per agent grows with the staff: off unless the NOC asks for it.
    per_agent_metrics: bool = False
    # SSE clients at once; they share one Redis reader, each costs memory for its backlog.
    max_event_clients: int = DEFAULT_MAX_CLIENTS

    @classmethod
    def from_table(cls, table: SettingTable) -> HttpSettings:
        """Read the ``[http]`` table, its tokens included."""
        # The auth settings share the table: their names are settings of [http] too.
        table.expect(
            [
                *(f.name for f in fields(cls) if f.name != "auth"),
                *(f.name for f in fields(AuthConfig)),
            ]
        )
        return cls(
            host=table.checked("host", check_host, "127.0.0.1"),
            port=table.port("port", 8080),  # 0: a free port, printed at start
            auth=AuthConfig.from_table(table),
            per_agent_metrics=table.flag("per_agent_metrics", False),
            max_event_clients=table.whole(
                "max_event_clients", DEFAULT_MAX_CLIENTS, low=1, high=100_000
            ),
        )
