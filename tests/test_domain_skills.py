"""Skills and proficiency: parsing what the dialplan sends, checking and relaxing it."""

from __future__ import annotations

import pytest

from acd.domain.skills import format_skills, meets, parse_skills, relax
from acd.errors import InvalidInput


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", {}),
        ("lang:ru=3,billing=1", {"lang:ru": 3, "billing": 1}),
        ("lang:ru;billing=10", {"lang:ru": 1, "billing": 10}),
        ("  lang:ru=7   lang:en=2 ", {"lang:ru": 7, "lang:en": 2}),
        ("язык:русский=4", {"язык:русский": 4}),
    ],
)
def test_skills_from_the_dialplan(text: str, expected: dict[str, int]) -> None:
    assert parse_skills("ACD_SKILLS", text) == expected
    assert parse_skills("ACD_SKILLS", format_skills(expected)) == expected


@pytest.mark.parametrize(
    "text", ["lang:ru=0", "lang:ru=11", "lang:ru=x", "a b=", "x,y=-1", "bad|name=1"]
)
def test_bad_skills_name_the_variable(text: str) -> None:
    with pytest.raises(InvalidInput) as error:
        parse_skills("ACD_SKILLS", text)
    assert error.value.field == "ACD_SKILLS"


@pytest.mark.parametrize(
    ("agent", "required", "ok"),
    [
        ({"lang:ru": 5}, {"lang:ru": 5}, True),
        ({"lang:ru": 4}, {"lang:ru": 5}, False),
        ({"lang:ru": 9}, {"lang:ru": 5, "billing": 1}, False),
        ({"lang:ru": 9, "billing": 1}, {"lang:ru": 5, "billing": 1}, True),
        ({}, {}, True),
    ],
)
def test_agent_meets_every_requirement_or_none(
    agent: dict[str, int], required: dict[str, int], ok: bool
) -> None:
    assert meets(agent, required) is ok


@pytest.mark.parametrize(
    ("required", "overrides", "cap", "expected"),
    [
        ({"lang:ru": 5}, {"lang:ru": 1}, 0, {"lang:ru": 1}),
        ({"lang:ru": 5, "billing": 3}, {"billing": 0}, 0, {"lang:ru": 5}),
        ({"lang:ru": 5, "billing": 3}, {}, 2, {"lang:ru": 2, "billing": 2}),
        ({}, {"vip": 2}, 0, {"vip": 2}),
    ],
)
def test_steps_relax_requirements(
    required: dict[str, int], overrides: dict[str, int], cap: int, expected: dict[str, int]
) -> None:
    assert relax(required, overrides, cap) == expected
