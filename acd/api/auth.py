"""Bearer tokens with roles, stored as SHA-256 hashes and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass, fields
from enum import IntEnum

from acd.domain.names import check_name
from acd.domain.setting_table import SettingTable
from acd.errors import InvalidInput


class Role(IntEnum):
    """What a token may do; a higher role may do everything a lower one may."""

    AGENT = 1  # acts on its own agent only
    VIEWER = 2
    SUPERVISOR = 3
    ADMIN = 4


@dataclass(frozen=True, slots=True)
class Token:
    """One API token: its hash, role, and for agent tokens the agent it speaks for."""

    name: str
    sha256: bytes
    role: Role
    agent: str = ""


@dataclass(frozen=True, slots=True)
class AuthConfig:
    """Tokens, and whether /metrics and /health are open without one."""

    tokens: tuple[Token, ...] = ()
    metrics_public: bool = True
    health_public: bool = True

    @classmethod
    def from_table(cls, http: SettingTable) -> AuthConfig:
        """Read ``metrics_public``, ``health_public`` and ``[[http.tokens]]`` of ``[http]``."""
        tokens = tuple(_token(table, index) for index, table in enumerate(http.tables("tokens")))
        return cls(tokens, http.flag("metrics_public", True), http.flag("health_public", True))

    def identify(self, presented: str) -> Token | None:
        """The token matching ``presented``, comparing against every hash in constant time."""
        # The header's own bytes: aiohttp keeps bytes that are not UTF-8 as lone surrogates
        # (``Bearer \\xff\\xfe``), which a strict encode would turn into a 500.
        digest = hashlib.sha256(presented.encode("utf-8", "surrogateescape")).digest()
        found: Token | None = None
        for token in self.tokens:  # no early exit: timing does not tell which token matched
            if hmac.compare_digest(digest, token.sha256):
                found = token
        return found


def _token(table: SettingTable, index: int) -> Token:
    """One ``[[http.tokens]]`` table."""
    table.expect(f.name for f in fields(Token))
    try:
        sha = bytes.fromhex(str(table.value("sha256", "")))
    except ValueError:
        sha = b""
    if len(sha) != 32:
        raise table.error("sha256", "must be the 64-hex-digit SHA-256 of the token")
    try:
        role = Role[str(table.value("role", "")).upper()]
    except KeyError:
        raise table.error("role", "must be admin, supervisor, agent or viewer") from None
    agent = str(table.value("agent", ""))
    if role is Role.AGENT:
        try:
            check_name(table.field("agent"), agent)
        except InvalidInput as exc:
            raise table.error("agent", f"an agent token names its agent ({exc.reason})") from None
    return Token(str(table.value("name", f"token-{index}")), sha, role, agent)


def token_hash(token: str) -> str:
    """The value to put in ``sha256 =`` for a token (``acd hash-token`` prints it)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def may_act_on_agent(token: Token, agent_id: str, needed: Role) -> bool:
    """Agents act on themselves; other roles need at least ``needed``."""
    if token.role is Role.AGENT:
        return token.agent == agent_id
    return token.role >= needed
