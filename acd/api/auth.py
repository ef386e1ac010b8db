"""Bearer tokens with roles, stored as SHA-256 hashes and compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

from acd.domain.names import check_name
from acd.errors import ConfigError, InvalidInput


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
    def from_mapping(cls, http: Mapping[str, Any]) -> AuthConfig:
        """Read the ``[http]`` table: ``metrics_public``, ``health_public``, ``[[http.tokens]]``."""
        tokens: list[Token] = []
        raw_tokens = http.get("tokens", [])
        if not isinstance(raw_tokens, Sequence) or isinstance(raw_tokens, str):
            raise ConfigError("http.tokens: must be an array of tables")
        for index, raw in enumerate(raw_tokens):
            where = f"http.tokens[{index}]"
            if not isinstance(raw, Mapping):
                raise ConfigError(f"{where}: must be a table")
            digest = str(raw.get("sha256", ""))
            try:
                sha = bytes.fromhex(digest)
            except ValueError:
                sha = b""
            if len(sha) != 32:
                raise ConfigError(f"{where}.sha256: must be the 64-hex-digit SHA-256 of the token")
            try:
                role = Role[str(raw.get("role", "")).upper()]
            except KeyError:
                raise ConfigError(
                    f"{where}.role: must be admin, supervisor, agent or viewer"
                ) from None
            agent = str(raw.get("agent", ""))
            if role is Role.AGENT:
                try:
                    check_name(f"{where}.agent", agent)
                except InvalidInput as exc:
                    raise ConfigError(f"{where}.agent: an agent token names its agent "
                                      f"({exc.reason})") from None
            tokens.append(Token(str(raw.get("name", f"token-{index}")), sha, role, agent))
        for key in ("metrics_public", "health_public"):
            if not isinstance(http.get(key, True), bool):
                raise ConfigError(f"http.{key}: must be true or false")
        return cls(tuple(tokens), bool(http.get("metrics_public", True)),
                   bool(http.get("health_public", True)))

    def identify(self, presented: str) -> Token | None:
        """The token matching ``presented``, comparing against every hash in constant time."""
        digest = hashlib.sha256(presented.encode("utf-8")).digest()
        found: Token | None = None
        for token in self.tokens:  # no early exit: timing does not tell which token matched
            if hmac.compare_digest(digest, token.sha256):
                found = token
        return found


def token_hash(token: str) -> str:
    """The value to put in ``sha256 =`` for a token (``acd hash-token`` prints it)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def may_act_on_agent(token: Token, agent_id: str, needed: Role) -> bool:
    """Agents act on themselves; other roles need at least ``needed``."""
    if token.role is Role.AGENT:
        return token.agent == agent_id
    return token.role >= needed



