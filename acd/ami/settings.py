"""How to reach Asterisk's manager interface: the ``[ami]`` settings."""

from __future__ import annotations

from dataclasses import dataclass, field, fields

from acd.domain.addresses import check_host
from acd.domain.setting_table import Secret, SettingTable

MIN_INTERVAL = 0.05


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

    @classmethod
    def from_table(cls, table: SettingTable) -> AmiSettings:
        """Read the ``[ami]`` table; the secret may still be missing (the caller says where
        it should come from)."""
        table.expect(f.name for f in fields(cls))
        port = table.port("port", 5038)
        if port == 0:
            raise table.error("port", "must be Asterisk's AMI port 1-65535, got 0")
        return cls(
            host=table.checked("host", check_host, "127.0.0.1"),
            port=port,
            user=table.text("user", "acd"),
            secret=Secret(table.text("secret", "")),
            ping_interval=table.number("ping_interval", 10.0, low=MIN_INTERVAL),
            action_timeout=table.number("action_timeout", 5.0, low=MIN_INTERVAL),
            reconnect_max_delay=table.number("reconnect_max_delay", 30.0, low=MIN_INTERVAL),
        )
