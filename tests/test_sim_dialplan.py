"""The simulator's dialplan language: files, patterns, labels, arguments, ${...} and $[...]."""

from __future__ import annotations

from pathlib import Path

import pytest

from acd.sim.dialplan import Dialplan
from acd.sim.expressions import evaluate, separate_args
from acd.sim.features import FeatureItem, load_features
from acd.sim.variables import check_condition, substitute


class Vars:
    """A scope with plain variables only."""

    def __init__(self, **values: str) -> None:
        self.values = values

    def variable(self, name: str) -> str | None:
        return self.values.get(name)

    def function(self, name: str, argument: str) -> str | None:
        return None


@pytest.mark.parametrize(
    ("expr", "value"),
    [
        ("1 + 2", "3"),
        ("10 - 3 - 2", "5"),
        ("2 * 3 + 1", "7"),
        ("7 / 2", "3.5"),
        ("3 < 1", "0"),
        ("1 <= 1", "1"),
        ("2 > 1", "1"),
        ("2 >= 3", "0"),
        ('"" = ""', "1"),
        ('"default" = ""', "0"),
        ('"a" != ""', "1"),
        ("abc = abc", "1"),
        ("10 < 9", "0"),
        ("10 < 9a", "1"),  # numbers compare as numbers, anything else as text
        ("1795365472 + 600", "1795366072"),
        ("0 | 5", "5"),
        ("3 & 0", "0"),
        ("1 ? yes :: no", "yes"),
        ('"" ? yes :: no', "no"),
        ("-3 + 1", "-2"),
        ("!0", "1"),
        ("(1 + 2) * 3", "9"),
        ("", ""),
    ],
)
def test_expressions_evaluate_as_asterisk_does(expr: str, value: str) -> None:
    assert evaluate(expr) == value


def test_a_broken_expression_gives_an_empty_value() -> None:
    assert evaluate("1 +") == "" and evaluate('"open') == ""


@pytest.mark.parametrize(
    ("text", "args"),
    [
        ("PJSIP/1001,15,m(default)", ["PJSIP/1001", "15", "m(default)"]),
        (
            'ACDEnqueue,"Skills: lang:ru=3,billing=1",x',
            ["ACDEnqueue", "Skills: lang:ru=3,billing=1", "x"],
        ),
        ("a,,b", ["a", "", "b"]),
        ("a,", ["a", ""]),
        ("", []),
        (r"a\,b,c", ["a,b", "c"]),
        ("IF($[1 = 1]?a:b),c", ["IF($[1 = 1]?a:b)", "c"]),
    ],
)
def test_application_arguments_split_on_commas_outside_quotes_and_brackets(
    text: str, args: list[str]
) -> None:
    assert separate_args(text) == args


def test_substitution_of_variables_functions_and_expressions() -> None:
    scope = Vars(ACD_MOH="", ACD_MAXWAIT="600", NAME="Иван", ATTRS="crm=42;vip=да")
    assert substitute('${IF($["${ACD_MOH}" = ""]?default:${ACD_MOH})}', scope) == "default"
    assert substitute("$[${ACD_MAXWAIT} + 1]", scope) == "601"
    assert substitute("${URIENCODE(${ATTRS})}", scope) == "crm%3D42%3Bvip%3D%D0%B4%D0%B0"
    assert substitute("${NAME:1:2} ${NAME:-1} ${LEN(${NAME})}", scope) == "ва н 4"
    assert substitute("${UNSET}x${NO_SUCH_FUNCTION(1)}", scope) == "x"
    assert substitute("cost: $5 and ${", scope) == "cost: $5 and "


def test_conditions_read_a_leading_number() -> None:
    assert [check_condition(c) for c in ("", "0", "1", "12abc", "abc", " 0 ")] == [
        False,
        False,
        True,
        True,
        True,
        False,
    ]


def test_dialplan_files_with_patterns_labels_includes_and_comments(tmp_path: Path) -> None:
    conf = tmp_path / "extensions.conf"
    conf.write_text(
        "[globals]\nTRUNK=trunk ; comment\n"
        "[agents]\n"
        "exten => _8XXX,1,Wait(1)\n same => n(talk),Answer()\n same => n,Hangup()\n"
        "exten => 8001,1,NoOp(exact wins \\; kept) ; a comment\n"
        "exten => _8.,1,NoOp(wildcard)\n"
        "[outer]\ninclude => agents\n",
        encoding="utf-8",
    )
    dialplan = Dialplan.load([conf])
    assert dialplan.globals == {"TRUNK": "trunk"}
    step = dialplan.step("agents", "8001", 1)
    assert step is not None and step.args == "exact wins ; kept"
    assert dialplan.find_extension("agents", "8123") is not None
    assert dialplan.find_extension("outer", "8123") is dialplan.find_extension("agents", "8123")
    assert dialplan.find_extension("agents", "81234") is not None  # only _8. matches
    assert dialplan.priority_of("agents", "8123", "talk") == 2
    assert dialplan.goto_target("talk", "agents", "8123") == ("agents", "8123", 2)
    assert dialplan.goto_target("outer,8555,1", "x", "y") == ("outer", "8555", 1)
    assert dialplan.goto_target("nowhere", "agents", "8123") is None


def test_both_shipped_dialplans_load() -> None:
    project = Dialplan.load(
        [Path(__file__).resolve().parents[1] / "asterisk" / "extensions_acd.conf"]
    )
    assert project.priority_of("acd.inbound", "s", "hold") is not None
    assert project.exists("acd.fallback", "s")
    captures = Dialplan.load([Path("/work/shared/asterisk-captures/extensions.conf")])
    assert captures.priority_of("from-customer", "100", "hold") == 4


@pytest.mark.parametrize("name", ["extensions_acd.conf", "features_acd.conf"])
def test_packaged_copies_of_the_asterisk_files_are_the_project_ones(name: str) -> None:
    """acd/sim keeps copies for installed wheels; they must never drift from asterisk/."""
    sim_dir = Path(__file__).resolve().parents[1] / "acd" / "sim"
    project = Path(__file__).resolve().parents[1] / "asterisk" / name
    assert (sim_dir / name).read_text(encoding="utf-8") == project.read_text(encoding="utf-8"), (
        f"copy asterisk/{name} to acd/sim/ again"
    )


def test_applicationmap_items_in_every_syntax_features_conf_allows(tmp_path: Path) -> None:
    conf = tmp_path / "features.conf"
    conf.write_text(
        "[featuremap]\nblindxfer => #1\n"
        "[applicationmap]\n"
        "eggs => *5,self,Playback(hello-world),default ; comment\n"
        "bacon = *6,peer,Playback,hello-world,default\n"
        'ham => *7,PEER,Playback,"hello-world"\n'
        "broken => *8,nobody,Playback\n",
        encoding="utf-8",
    )
    items = load_features([conf])
    assert sorted(items) == ["bacon", "eggs", "ham"]
    assert {(i.dtmf, i.activate_on, i.app, i.args) for i in items.values()} == {
        ("*5", "self", "Playback", "hello-world"),
        ("*6", "peer", "Playback", "hello-world"),
        ("*7", "peer", "Playback", "hello-world"),
    }
    shipped = load_features(
        [Path(__file__).resolve().parents[1] / "asterisk" / "features_acd.conf"]
    )
    assert shipped["acd_escalate"] == FeatureItem(
        "acd_escalate", "*0", "peer", "UserEvent", "ACDEscalate"
    )
