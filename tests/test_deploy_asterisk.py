"""asterisk/manager.conf gives acd exactly the AMI rights it needs and only the events it reads.

The rules are Asterisk 22's main/manager.c, restated here: an action runs if the user's
``write`` has ANY of the action's classes; an event reaches the user if its ``read`` has EVERY
class of the event and, when include filters exist, the event matches one of them and then no
exclude filter (``should_send_event``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

from tests.test_deploy_metrics_names import ROOT

MANAGER_CONF = ROOT / "asterisk" / "manager.conf"

# Action -> the classes that allow it (ast_manager_register_xml_core in main/manager.c).
ACTION_CLASSES = {
    "Login": set(),
    "Logoff": set(),
    "Challenge": set(),
    "Ping": set(),
    "Events": set(),
    "Setvar": {"call"},
    "Getvar": {"call", "reporting"},
    "Redirect": {"call"},
    "Hangup": {"system", "call"},
    "Status": {"system", "call", "reporting"},
    "CoreShowChannels": {"system", "reporting"},
    "DeviceStateList": {"call", "reporting"},  # res/res_manager_devicestate.c
    "DBGet": {"system", "reporting"},  # main/db.c
    "ShowDialPlan": {"config", "reporting"},
    "Originate": {"originate"},
    "Command": {"command"},
    "Reload": {"config", "system"},
    "GetConfig": {"system", "config"},
}
ACTIONS_ACD_NEEDS = {
    "Login",
    "Logoff",
    "Ping",
    "Setvar",
    "Getvar",
    "Redirect",
    "Hangup",
    "Status",
    "CoreShowChannels",
    "Originate",
    "ShowDialPlan",
    "DeviceStateList",
    "DBGet",
}
EVENTS_ACD_NEEDS = {
    "UserEvent",
    "DialBegin",
    "DialEnd",
    "Hangup",
    "BridgeEnter",
    "BridgeLeave",
    "DeviceStateChange",
    "Newchannel",
    "FullyBooted",
    "SoftHangupRequest",
    "BlindTransfer",
    "AttendedTransfer",
    "Hold",
    "Unhold",
}


def event(text: str) -> str:
    return "\r\n".join(line.strip() for line in text.strip().splitlines()) + "\r\n"


# Events as real Asterisk 22 sends them (from /work/shared/asterisk-captures, trimmed).
EVENTS_FOR_ACD = [
    event("""Event: UserEvent
        Privilege: user,all
        Channel: Local/100@from-customer-00000004;2
        Uniqueid: 1795365472.9
        UserEvent: ACDEnqueue
        Queue: sales
        Priority: 5
        Skills: lang:ru=3"""),
    event("""Event: UserEvent
        Privilege: user,all
        Channel: Local/100@from-customer-00000004;2
        UserEvent: ACDDialResult
        Status: ANSWER"""),
    event("""Event: DialBegin
        Privilege: call,all
        Channel: Local/100@from-customer-00000004;2
        Uniqueid: 1795365472.9
        DestChannel: Local/8001@agents-00000005;1
        DialString: 8001@agents"""),
    event("""Event: DialEnd
        Privilege: call,all
        Uniqueid: 1795365472.9
        DestChannel: Local/8001@agents-00000005;1
        DialStatus: ANSWER"""),
    event("""Event: BridgeEnter
        Privilege: call,all
        BridgeUniqueid: 5b0f
        Channel: Local/100@from-customer-00000004;2"""),
    event("""Event: BridgeLeave
        Privilege: call,all
        BridgeUniqueid: 5b0f
        Channel: Local/100@from-customer-00000004;2"""),
    event("""Event: Hangup
        Privilege: call,all
        Channel: Local/100@from-customer-00000004;2
        Uniqueid: 1795365472.9
        Cause: 16"""),
    event("""Event: Newchannel
        Privilege: call,all
        Channel: Local/100@from-customer-00000004;1
        Uniqueid: 1795365472.8"""),
    event("""Event: DeviceStateChange
        Privilege: call,all
        Device: PJSIP/1001
        State: INUSE"""),
    event("""Event: FullyBooted
        Privilege: system,all
        Uptime: 76
        LastReload: 76
        Status: Fully Booted"""),
    event("""Event: SoftHangupRequest
        Privilege: call,all
        Channel: PJSIP/trunk-00000003
        Uniqueid: 1795365472.9
        Cause: 4"""),
    event("""Event: BlindTransfer
        Privilege: call,all
        Result: Success
        TransfererChannel: PJSIP/1001-00000004
        TransfererUniqueid: 1795365472.10
        TransfereeChannel: PJSIP/trunk-00000003
        TransfereeUniqueid: 1795365472.9
        IsExternal: Yes
        Context: from-callers
        Extension: 1002"""),
    event("""Event: AttendedTransfer
        Privilege: call,all
        Result: Success
        OrigTransfererChannel: PJSIP/1001-00000004
        TransfereeChannel: PJSIP/trunk-00000003
        TransfereeUniqueid: 1795365472.9
        DestType: Bridge"""),
    event("""Event: Hold
        Privilege: call,all
        Channel: PJSIP/1001-00000004
        Uniqueid: 1795365472.10
        Linkedid: 1795365472.9
        MusicClass: default"""),
    event("""Event: Unhold
        Privilege: call,all
        Channel: PJSIP/1001-00000004
        Uniqueid: 1795365472.10
        Linkedid: 1795365472.9"""),
]
EVENTS_NOT_FOR_ACD = [
    event("""Event: VarSet
        Privilege: dialplan,all
        Channel: Local/100@from-customer-00000004;2
        Variable: ACD_QUEUE
        Value: sales"""),
    event("""Event: Newexten
        Privilege: dialplan,all
        Channel: Local/100@from-customer-00000004;2
        Application: UserEvent"""),
    event("""Event: UserEvent
        Privilege: user,all
        Channel: PJSIP/2000-00000001
        UserEvent: CrmPopup
        Ticket: 42"""),
    event("""Event: Newstate
        Privilege: call,all
        Channel: Local/100@from-customer-00000004;2
        ChannelStateDesc: Up"""),
    event("""Event: MusicOnHoldStart
        Privilege: call,all
        Channel: Local/100@from-customer-00000004;2
        Class: default"""),
    event("""Event: OriginateResponse
        Privilege: call,all
        Response: Success"""),
    event("""Event: QueueMemberStatus
        Privilege: agent,all
        Queue: support"""),
    event("""Event: SoftHangupRequest
        Privilege: call,all
        Channel: PJSIP/trunk-00000003
        Uniqueid: 1795365472.9
        Cause: 16
        TechCause: 4"""),
    event("""Event: SuccessfulAuth
        Privilege: security,all
        Service: AMI"""),
]


@dataclass
class Filter:
    """One eventfilter entry, as manager_add_filter() builds it."""

    exclude: bool
    name: str | None
    header: str | None
    method: str
    pattern: str

    def matches(self, name: str, data: str) -> bool:
        """filter_cmp_fn(): the event name first, then the whole event or one header."""
        if self.name is not None and self.name != name:
            return False
        if self.header is None:
            return self._match(data)
        for line in data.split("\r\n"):
            if line.startswith(self.header):
                value = line[len(self.header) :].lstrip()
                if value and self._match(value):
                    return True
        return False

    def _match(self, data: str) -> bool:
        if self.method == "none":
            return True
        if self.method == "regex":
            return re.search(self.pattern, data) is not None
        if self.method == "starts_with":
            return data.startswith(self.pattern)
        if self.method == "ends_with":
            return data.endswith(self.pattern)
        if self.method == "contains":
            return self.pattern in data
        return data == self.pattern  # exact


def parse_filter(criteria: str, pattern: str) -> Filter:
    """manager_add_filter()'s rules for the legacy and the advanced syntax; ValueError where
    Asterisk would refuse the line (FILTER_FORMAT_ERROR)."""
    exclude = pattern.startswith("!")
    pattern = pattern.removeprefix("!")
    if "(" not in criteria:
        if criteria != "eventfilter" or not pattern:
            raise ValueError(f"legacy filter without a pattern: {criteria}")
        return Filter(exclude, None, None, "regex", pattern)
    match = re.fullmatch(r"eventfilter\((.*)\)", criteria)
    if match is None:
        raise ValueError(criteria)
    options: dict[str, str] = {}
    for option in re.findall(r"(\w+)\(([^()]*)\)", match.group(1)):
        key, value = option
        if key not in {"action", "name", "header", "method"} or key in options or not value:
            raise ValueError(f"bad option {key}({value}) in {criteria}")
        options[key] = value
    rebuilt = ",".join(f"{k}({v})" for k, v in options.items())
    if rebuilt != match.group(1).replace(" ", ""):
        raise ValueError(f"unreadable options in {criteria}")
    if options.get("action", "include") not in {"include", "exclude"}:
        raise ValueError(criteria)
    method = options.get("method", "none")
    if method not in {"regex", "exact", "starts_with", "ends_with", "contains", "none"}:
        raise ValueError(criteria)
    if (method == "none") != (pattern == ""):
        raise ValueError(f"method {method} with pattern {pattern!r}: {criteria}")
    if "name" not in options and "header" not in options and method == "none":
        raise ValueError(f"no name, no header and no pattern: {criteria}")
    header = options.get("header")
    if header is not None and not header.endswith(":"):
        header += ":"
    return Filter(
        exclude or options.get("action") == "exclude", options.get("name"), header, method, pattern
    )


def read_manager_conf() -> dict[str, list[tuple[str, str, str]]]:
    """Section -> (key, value, comment) in order, as Asterisk's config parser reads them."""
    sections: dict[str, list[tuple[str, str, str]]] = {}
    current: list[tuple[str, str, str]] | None = None
    for line in MANAGER_CONF.read_text(encoding="utf-8").splitlines():
        body, _, comment = line.partition(";")
        if not body.strip():
            continue
        header = re.fullmatch(r"\s*\[(\w+)\]\s*", body)
        if header:
            current = sections.setdefault(header.group(1), [])
            continue
        key, equals, value = body.partition("=")
        assert equals and current is not None, line
        current.append((key.strip(), value.strip(), comment.strip()))
    return sections


@pytest.fixture(scope="module")
def acd_user() -> list[tuple[str, str, str]]:
    return read_manager_conf()["acd"]


def values(user: list[tuple[str, str, str]], key: str) -> list[str]:
    return [value for k, value, _ in user if k == key]


def classes(user: list[tuple[str, str, str]], key: str) -> set[str]:
    (line,) = values(user, key)
    return {c.strip() for c in line.split(",")}


def filters(user: list[tuple[str, str, str]]) -> list[Filter]:
    return [parse_filter(k, v) for k, v, _ in user if k.startswith("eventfilter")]


def delivered(user: list[tuple[str, str, str]], data: str) -> bool:
    """Whether Asterisk sends the event to this user: process_events() + should_send_event()."""
    name = re.match(r"Event: (\w+)\r\n", data)
    privilege = re.search(r"^Privilege: (.*)$", data, re.MULTILINE)
    assert name and privilege
    event_classes = set(privilege.group(1).strip().split(",")) - {"all"}
    if not event_classes <= classes(user, "read"):
        return False
    includes = [f for f in filters(user) if not f.exclude]
    excludes = [f for f in filters(user) if f.exclude]
    if includes and not any(f.matches(name.group(1), data) for f in includes):
        return False
    return not any(f.matches(name.group(1), data) for f in excludes)


def action_allowed(user: list[tuple[str, str, str]], action: str) -> bool:
    needed = ACTION_CLASSES[action]
    return not needed or bool(needed & classes(user, "write"))


def test_acd_user_is_reachable_from_loopback_only(acd_user: list[tuple[str, str, str]]) -> None:
    assert values(acd_user, "deny") == ["0.0.0.0/0.0.0.0"]
    assert values(acd_user, "permit") == ["127.0.0.1/255.255.255.255"]
    general = dict((k, v) for k, v, _ in read_manager_conf()["general"])
    assert general["enabled"] == "yes" and general["bindaddr"] == "127.0.0.1"
    assert values(acd_user, "secret")[0].startswith("change-me")


def test_acd_may_run_every_action_it_needs(acd_user: list[tuple[str, str, str]]) -> None:
    refused = [a for a in sorted(ACTIONS_ACD_NEEDS) if not action_allowed(acd_user, a)]
    assert refused == []


def test_acd_may_not_run_system_commands(acd_user: list[tuple[str, str, str]]) -> None:
    for action in ("Command", "Reload", "GetConfig"):
        assert not action_allowed(acd_user, action), action
    assert not {"system", "command", "config", "all"} & classes(acd_user, "write")


def test_every_write_class_is_needed(acd_user: list[tuple[str, str, str]]) -> None:
    write = classes(acd_user, "write")
    for dropped in write:
        narrower = [(k, v, c) for k, v, c in acd_user if k != "write"]
        narrower.append(("write", ",".join(write - {dropped}), ""))
        assert not all(action_allowed(narrower, a) for a in ACTIONS_ACD_NEEDS), dropped


def test_every_read_class_is_needed(acd_user: list[tuple[str, str, str]]) -> None:
    read = classes(acd_user, "read")
    for dropped in read:
        narrower = [(k, v, c) for k, v, c in acd_user if k != "read"]
        narrower.append(("read", ",".join(read - {dropped}), ""))
        assert not all(delivered(narrower, e) for e in EVENTS_FOR_ACD), dropped


def test_every_event_acd_uses_gets_through(acd_user: list[tuple[str, str, str]]) -> None:
    missed = [e.split("\r\n")[0] for e in EVENTS_FOR_ACD if not delivered(acd_user, e)]
    assert missed == []
    names = {re.match(r"Event: (\w+)", e).group(1) for e in EVENTS_FOR_ACD}  # type: ignore[union-attr]
    assert names == EVENTS_ACD_NEEDS


def test_events_acd_does_not_use_are_filtered_out(acd_user: list[tuple[str, str, str]]) -> None:
    passed = [e.split("\r\n")[0] for e in EVENTS_NOT_FOR_ACD if delivered(acd_user, e)]
    assert passed == []


def test_event_filters_use_asterisk_22_syntax(acd_user: list[tuple[str, str, str]]) -> None:
    entries = [k for k, _, _ in acd_user if k.startswith("eventfilter")]
    assert len(entries) == len(EVENTS_ACD_NEEDS)
    assert all(k.startswith("eventfilter(action(include),name(") for k in entries)
    assert filters(acd_user)  # every one parses as manager_add_filter() would


def test_filter_parser_refuses_what_asterisk_refuses() -> None:
    for criteria, pattern in [
        ("eventfilter(name(Hangup),method(starts_with))", ""),
        ("eventfilter(name(Hangup))", "Local/"),
        ("eventfilter(action(maybe),name(Hangup))", ""),
        ("eventfilter(colour(red))", ""),
        ("eventfilter", ""),
    ]:
        with pytest.raises(ValueError):
            parse_filter(criteria, pattern)


def test_every_setting_says_why(acd_user: list[tuple[str, str, str]]) -> None:
    lines = MANAGER_CONF.read_text(encoding="utf-8").splitlines()
    for index, line in enumerate(lines):
        body = line.split(";", 1)[0].strip()
        if not body or body.startswith("["):
            continue
        commented = ";" in line or lines[index - 1].lstrip().startswith(";")
        assert commented, f"line {index + 1} has no comment: {line}"


def acd_source(pattern: str) -> set[str]:
    """What ``pattern`` finds in acd's AMI adapter, the one place that talks to Asterisk."""
    found: set[str] = set()
    for path in (ROOT / "acd" / "ami").rglob("*.py"):
        found.update(re.findall(pattern, path.read_text(encoding="utf-8")))
    return found


def test_actions_in_acd_source_are_allowed(acd_user: list[tuple[str, str, str]]) -> None:
    actions = acd_source(r'"Action":\s*"(\w+)"')
    assert {"Login", "Ping", "Setvar", "Redirect", "CoreShowChannels"} <= actions
    unknown = actions - set(ACTION_CLASSES)
    assert unknown == set(), (
        "acd sends an action this test does not know: add its classes "
        "(main/manager.c) to ACTION_CLASSES and to manager.conf's write"
    )
    assert [a for a in sorted(actions) if not action_allowed(acd_user, a)] == []


def test_events_in_acd_source_get_through() -> None:
    names = acd_source(r'name == "(\w+)"') | acd_source(r'"Event"\)\s*==\s*"(\w+)"')
    # Items of the CoreShowChannels and DBGet responses, never filtered.
    names -= {"CoreShowChannel", "DBGetResponse"}
    assert {"UserEvent", "DialBegin", "DialEnd", "Hangup", "FullyBooted"} <= names
    assert names <= EVENTS_ACD_NEEDS
