"""Validation of what comes from outside before it reaches Redis keys, AMI headers, Dial(),
logs, labels or the event stream: identifiers, skill names, dial strings, channel names and
free text.

One rule for every identifier that becomes part of a Redis key (call ids, queue, agent, team,
webhook and site names): 1-64 characters (150 for call ids, Asterisk's longest Uniqueid) that
are letters or digits of any script (with their combining marks: "поддержка", "أحمد",
"हिन्दी"), ``_``, ``-`` or ``.``. Nothing that means something to Redis key layout (``:``,
``{``, ``}``), AMI (CR, LF), Dial() (``,``, ``&``, ``|``, ``/``), nor whitespace, quotes or
control characters: an id that fails it cannot exist, so it never reaches a key of another
type (``call:<id>:history``).
"""

import re
import unicodedata

from acd.errors import InvalidInput

MAX_NAME = 64
MAX_CALL_ID = 150  # AST_MAX_UNIQUEID in Asterisk's channel.h
MAX_TEXT = 200  # a free-text field: pause reason, an agent's display name
# The common case in one regular expression (\w is letters and digits of any script and '_');
# combining marks, which \w leaves out, are checked character by character.
_ID = re.compile(r"[\w.\-]+")
_ID_PUNCTUATION = frozenset("_.-")
_MARKS = frozenset({"Mn", "Mc"})
_SKILL = re.compile(r"^[\w.\-]+(?::[\w.\-]+)*$")
# Dial strings: TECH/resource[@context], optionally several joined by '&' for ring groups.
_DIAL_PART = r"[A-Za-z][A-Za-z0-9_]*/[\w.\-+@]+(?:/[\w.\-+]+)?"
_DIAL = re.compile(rf"^{_DIAL_PART}(?:&{_DIAL_PART})*$")
_CHANNEL = re.compile(r"^[^\x00-\x1f\x7f]{1,200}$")
# Control characters (C0, DEL, C1), UTF-16 halves that are not characters (lone surrogates,
# which cannot be written as UTF-8), and the bidirectional overrides and isolates that make
# text shown elsewhere read in another order than it was written (U+202A-U+202E,
# U+2066-U+2069). Arabic and Persian letters, and the ZWNJ of Persian words, are text.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")
_BIDI_CONTROL = re.compile(r"[\u202a-\u202e\u2066-\u2069]")


def id_problem(value: object, longest: int = MAX_NAME) -> str | None:
    """Why ``value`` is not an identifier that may be part of a Redis key, or None."""
    reason = f"must be 1-{longest} letters, digits, '_', '-' or '.' (any script, no spaces)"
    if not isinstance(value, str) or not 0 < len(value) <= longest:
        return reason
    if _ID.fullmatch(value):
        return None
    first_is_word = value[0] in _ID_PUNCTUATION or value[0].isalnum()
    rest_ok = all(
        c in _ID_PUNCTUATION or c.isalnum() or unicodedata.category(c) in _MARKS for c in value
    )
    return None if first_is_word and rest_ok else reason


def check_name(field: str, value: str) -> str:
    """Return ``value`` if it is a safe identifier (queue, agent, team, site), else raise."""
    problem = id_problem(value)
    if problem is not None:
        raise InvalidInput(field, problem)
    return value


def check_call_id(field: str, value: str) -> str:
    """Return ``value`` if it can be a call id (Asterisk's Uniqueid), else raise."""
    problem = id_problem(value, MAX_CALL_ID)
    if problem is not None:
        raise InvalidInput(field, problem)
    return value


def text_problem(value: str) -> str | None:
    """Why ``value`` may not travel as text (to Redis, a log, the stream), or None."""
    if _CONTROL.search(value):
        return "must not contain control characters or lone surrogates"
    if _BIDI_CONTROL.search(value):
        return "must not contain bidirectional overrides or isolates (U+202A-U+202E, U+2066-U+2069)"
    return None


def check_text(field: str, value: object, longest: int = MAX_TEXT) -> str:
    """Return ``value`` if it is free text of at most ``longest`` characters that is safe to
    store, log and publish; else raise naming ``field``."""
    if not isinstance(value, str):
        raise InvalidInput(field, "must be a string")
    if len(value) > longest:
        raise InvalidInput(field, f"must be at most {longest} characters")
    problem = text_problem(value)
    if problem is not None:
        raise InvalidInput(field, problem)
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
    if not isinstance(value, str) or not _CHANNEL.fullmatch(value) or text_problem(value):
        raise InvalidInput(field, "must be a channel name without control characters")
    return value
