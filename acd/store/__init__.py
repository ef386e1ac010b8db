"""Everything acd keeps in Redis: waiting calls, agents and queues, changed atomically by Lua
scripts (``Store``); the event stream, the daily figures and webhooks' consumer groups."""

from acd.store.redis_store import Store

__all__ = ["Store"]
