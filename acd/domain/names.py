"""Validation of names and dial strings before they reach Redis keys, AMI headers or Dial()."""

import re

from acd.errors import InvalidInput

# Letters and digits of any script are welcome (queue "поддержка", agent "أحمد"); separators
# that mean something to AMI, Dial() or Redis key layout are not: CR, LF, ',', '&', '|', ':',
# '{', '}', whitespace, quotes.
_NAME = re.compile(r"^[\w.\-]{1,64}$")
_SKILL = re.compile(r"^[\w.\-]+(?::[\w.\-]+)*$")
# Dial strings: TECH/resource[@context], optionally several joined by '&' for ring groups.
_DIAL_PART = r"[A-Za-z][A-Za-z0-9_]*/[\w.\-+@]+(?:/[\w.\-+]+)?"
_DIAL = re.compile(rf"^{_DIAL_PART}(?:&{_DIAL_PART})*$")
_CHANNEL = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")


def check_name(field: str, value: str) -> str:
    """Return ``value`` if it is a safe identifier (queue, agent, team), else raise."""
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInput(
            field, "must be 1-64 letters, digits, '_', '-' or '.' (any script, no spaces)"
        )
    return value


def check_skill_name(field: str, value: str) -> str:
    """Return ``value`` if it is a valid skill name such as ``lang:ru`` or ``billing``."""
    if not isinstance(value, str) or len(value) > 64 or not _SKILL.fullmatch(value):
        raise InvalidInput(field, "must be words of letters/digits joined by ':' (e.g. lang:ru)")
    return value


def check_dial_string(field: str, value: str) -> str:
    """Return ``value`` if it is a plain dial string like ``PJSIP/1001``, else raise."""
    if not isinstance(value, str) or len(value) > 200 or not _DIAL.fullmatch(value):
        raise InvalidInput(field, "must look like TECH/resource (e.g. PJSIP/1001), no separators")
    return value


def check_channel(field: str, value: str) -> str:
    """Return ``value`` if it is a channel name without control characters."""
    if not isinstance(value, str) or not _CHANNEL.fullmatch(value):
        raise InvalidInput(field, "must be a channel name without control characters")
    return value
