"""The Redis client ``redis.url`` names: one server (``redis://``, ``rediss://``, ``unix://``),
a master found through Redis Sentinel (``redis+sentinel://``) or a Redis Cluster
(``redis+cluster://``).

    redis+sentinel://[:password@]host:port[,host:port...]/service_name[/db][?sentinel_password=...]
    redis+cluster://[:password@]host:port[,host:port...]

The password is the data nodes' (``requirepass``); sentinels that want one of their own get it
from ``sentinel_password``. Every key of a site carries its hash tag (``acd:{site}:``), so in a
cluster one site lives in one slot and every Lua script and transaction works there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

from redis.asyncio import Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel

SENTINEL = "redis+sentinel"
CLUSTER = "redis+cluster"
SCHEMES = frozenset({"redis", "rediss", "unix", SENTINEL, CLUSTER})


@dataclass(frozen=True, slots=True)
class MultiHostUrl:
    """A Sentinel or Cluster URL, read."""

    scheme: str
    hosts: tuple[tuple[str, int], ...]
    service: str = ""  # the Sentinel service (master) name
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None


def parse_multi_host_url(url: str) -> MultiHostUrl:
    """Read a ``redis+sentinel://`` or ``redis+cluster://`` URL; ValueError saying what is
    wrong (never quoting the password)."""
    parts = urlsplit(url)
    userinfo, _, hostlist = parts.netloc.rpartition("@")
    username, _, password = userinfo.partition(":")
    hosts = tuple(_host_port(item) for item in hostlist.split(",") if item)
    if not hosts:
        raise ValueError("names no host:port")
    path = [p for p in parts.path.split("/") if p]
    query = parse_qs(parts.query)
    service, db = "", 0
    if parts.scheme == SENTINEL:
        if not path or len(path) > 2:
            raise ValueError("must end with /service_name or /service_name/db")
        service = unquote(path[0])
        db = _db(path[1]) if len(path) == 2 else 0
    elif path:
        raise ValueError("a cluster URL has no path (a cluster has only db 0)")
    sentinel_password = query.get("sentinel_password", [None])[0]
    return MultiHostUrl(
        parts.scheme,
        hosts,
        service,
        db,
        unquote(username) or None,
        unquote(password) or None,
        sentinel_password,
    )


def _host_port(item: str) -> tuple[str, int]:
    host, sep, port = item.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{item!r} is not host:port")
    return host.strip("[]"), int(port)


def _db(text: str) -> int:
    if not text.isdigit():
        raise ValueError(f"db {text!r} is not a number")
    return int(text)


def redis_client(url: str, **options: Any) -> Redis:
    """The client for ``url`` (``options``: redis-py connection options, the same for every
    form). A cluster client is typed as :class:`Redis`: it takes the same commands."""
    scheme = urlsplit(url).scheme
    if scheme not in (SENTINEL, CLUSTER):
        return Redis.from_url(url, **options)
    target = parse_multi_host_url(url)
    options.update(username=target.username, password=target.password)
    if scheme == CLUSTER:
        # No socket timeout (the cluster client's default is 5 s), as for one server: acd
        # times each command itself, and a blocking XREAD waits longer than that.
        options.setdefault("socket_timeout", None)
        nodes = [ClusterNode(host, port) for host, port in target.hosts]
        return cast(Redis, RedisCluster(startup_nodes=nodes, **options))
    sentinel_options = {
        k: v for k, v in options.items() if k.startswith("socket_") or k == "decode_responses"
    }
    if target.sentinel_password:
        sentinel_options["password"] = target.sentinel_password
    sentinel = Sentinel(list(target.hosts), sentinel_kwargs=sentinel_options)  # type: ignore[no-untyped-call]
    return cast(Redis, sentinel.master_for(target.service, db=target.db, **options))


def is_cluster(client: Redis) -> bool:
    """True for a Redis Cluster client (whose server-wide commands go to one node or all)."""
    return isinstance(client, RedisCluster)
