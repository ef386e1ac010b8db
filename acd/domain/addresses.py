"""Validation of network addresses in the settings: host names, ports and URLs.

Each check returns the value or raises :class:`~acd.errors.InvalidInput` naming the setting,
so a malformed address stops acd at start with one line (``redis.url: port must be a number
1-65535, got 'notaport'``), never with a traceback from the library that would have used it.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import SplitResult, urlsplit

from acd.errors import InvalidInput

# A DNS name (letters of any script, for internationalised names), or an IP address.
_HOSTNAME = re.compile(r"[\w\-]+(?:\.[\w\-]+)*\.?")
_UNSAFE = re.compile(r"[\s\x00-\x1f\x7f]")


def host_problem(host: str) -> str | None:
    """Why ``host`` is not a host name or IP address, or None."""
    if not host:
        return "must name a host"
    if len(host) > 253 or _UNSAFE.search(host):
        return f"is not a host name or IP address: {host[:60]!r}"
    try:
        ipaddress.ip_address(host)
        return None
    except ValueError:
        pass
    if _HOSTNAME.fullmatch(host) and not host.replace(".", "").isdigit():
        return None
    return f"is not a host name or IP address: {host[:60]!r}"


def check_host(field: str, host: str) -> str:
    """``host`` if it is a host name or an IP address (``10.0.0.5``, ``::1``, ``pbx.local``)."""
    problem = host_problem(host)
    if problem is not None:
        raise InvalidInput(field, problem)
    return host


def split_url(field: str, url: str) -> SplitResult:
    """The parts of ``url``; its port (if any) is a number 1-65535, its host well-formed."""
    if _UNSAFE.search(url):
        raise InvalidInput(field, "must not contain spaces or control characters")
    try:
        parts = urlsplit(url)
    except ValueError as exc:  # "Invalid IPv6 URL": an unclosed [
        raise InvalidInput(field, f"is not a valid URL ({exc})") from None
    try:
        port = parts.port  # parsed (and refused) only when asked for
    except ValueError:
        port = 0
    if port == 0:
        raise InvalidInput(field, "port must be a number 1-65535")  # the URL may hold a password
    if parts.hostname:
        problem = host_problem(parts.hostname)
        if problem is not None:
            raise InvalidInput(field, f"host {problem}")
    return parts


def check_http_url(field: str, url: str) -> str:
    """``url`` if it is an absolute http or https URL with a host and a valid port."""
    parts = split_url(field, url)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise InvalidInput(field, "must be an http or https URL")
    return url
