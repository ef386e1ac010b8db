"""Skills and proficiency: parsing ``lang:ru=7,billing=4`` and checking requirements."""

import re
from collections.abc import Mapping

from acd.domain.names import check_skill_name
from acd.errors import InvalidInput

MIN_LEVEL = 1
MAX_LEVEL = 10

_SEPARATORS = re.compile(r"[,;\s]+")


def parse_skills(field: str, text: str, default_level: int = 1) -> dict[str, int]:
    """Parse ``lang:ru=7,billing`` (',' ';' or spaces between items) into {skill: level}."""
    skills: dict[str, int] = {}
    for item in _SEPARATORS.split(text.strip()):
        if not item:
            continue
        name, sep, level_text = item.partition("=")
        check_skill_name(field, name)
        level = default_level
        if sep:
            if not level_text.isdigit():
                raise InvalidInput(field, f"level of {name!r} must be a number 1-10")
            level = int(level_text)
        if not MIN_LEVEL <= level <= MAX_LEVEL:
            raise InvalidInput(field, f"level of {name!r} must be between 1 and 10")
        skills[name] = level
    return skills


def format_skills(skills: Mapping[str, int]) -> str:
    """The inverse of :func:`parse_skills`, sorted for stable output."""
    return ",".join(f"{name}={level}" for name, level in sorted(skills.items()))


def meets(agent_skills: Mapping[str, int], required: Mapping[str, int]) -> bool:
    """True if the agent has every required skill at or above its minimum level."""
    return all(agent_skills.get(name, 0) >= level for name, level in required.items())


def relax(
    required: Mapping[str, int], overrides: Mapping[str, int], cap: int = 0
) -> dict[str, int]:
    """``required`` with ``overrides`` applied (level 0 drops a skill), then capped at ``cap``.

    ``cap`` 0 means no cap. This is how a routing step loosens a call's requirements.
    """
    merged = {**required, **overrides}
    if cap:
        merged = {name: min(level, cap) for name, level in merged.items()}
    return {name: level for name, level in merged.items() if level > 0}
