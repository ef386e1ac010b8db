"""The Redis repository: waiting calls, agents and queues, changed atomically by Lua scripts."""

from acd.store.redis_store import Store

__all__ = ["Store"]
