"""Asterisk's transfer and hold events -> acd's telephony events (fields as main/stasis_bridges.c
and main/stasis_channels.c write them)."""

from __future__ import annotations

from acd.ami.translate import translate
from acd.domain.events import CallHeld, CallTransferred, ChannelGone, TransferKind


def _snapshot(prefix: str, channel: str, uniqueid: str, linkedid: str) -> dict[str, str]:
    return {
        f"{prefix}Channel": channel,
        f"{prefix}ChannelState": "6",
        f"{prefix}ChannelStateDesc": "Up",
        f"{prefix}CallerIDNum": "79991234567",
        f"{prefix}CallerIDName": "Иван Петров",
        f"{prefix}Context": "acd.connect",
        f"{prefix}Exten": "s",
        f"{prefix}Priority": "4",
        f"{prefix}Uniqueid": uniqueid,
        f"{prefix}Linkedid": linkedid,
    }


def blind_transfer(result: str = "Success") -> dict[str, str]:
    return {
        "Event": "BlindTransfer",
        "Privilege": "call,all",
        "Result": result,
        **_snapshot("Transferer", "PJSIP/1001-00000002", "1795365472.10", "1795365472.9"),
        **_snapshot("Transferee", "PJSIP/trunk-00000001", "1795365472.9", "1795365472.9"),
        "BridgeUniqueid": "0b5f7c2e-1",
        "BridgeType": "basic",
        "BridgeTechnology": "simple_bridge",
        "BridgeNumChannels": "2",
        "IsExternal": "Yes",
        "Context": "from-callers",
        "Extension": "1002",
    }


def test_a_done_blind_transfer_names_the_caller_the_agent_leg_and_the_target() -> None:
    assert translate(blind_transfer()) == CallTransferred(
        call_id="1795365472.9",
        by_channel="PJSIP/1001-00000002",
        kind=TransferKind.BLIND,
        target="1002",
        linked_id="1795365472.9",
        external=True,
    )


def test_a_failed_or_refused_blind_transfer_moves_nobody() -> None:
    assert translate(blind_transfer("Fail")) is None
    assert translate(blind_transfer("Not Permitted")) is None


def test_hold_and_unhold_name_the_channel_and_its_call() -> None:
    base = _snapshot("", "PJSIP/1001-00000002", "1795365472.10", "1795365472.9")
    assert translate({"Event": "Hold", "MusicClass": "default", **base}) == CallHeld(
        "1795365472.10", "PJSIP/1001-00000002", True, "1795365472.9"
    )
    assert translate({"Event": "Unhold", **base}) == CallHeld(
        "1795365472.10", "PJSIP/1001-00000002", False, "1795365472.9"
    )


def test_a_hangup_carries_the_call_its_channel_belongs_to() -> None:
    base = _snapshot("", "PJSIP/1001-00000002", "1795365472.10", "1795365472.9")
    assert translate({"Event": "Hangup", "Cause": "16", **base}) == ChannelGone(
        "1795365472.10", "PJSIP/1001-00000002", "16", "1795365472.9"
    )
    odd = {**base, "Linkedid": "1.5:history"}
    assert translate({"Event": "Hangup", "Cause": "16", **odd}) == ChannelGone(
        "1795365472.10", "PJSIP/1001-00000002", "16", ""
    )


def attended_transfer(dest_type: str = "Bridge") -> dict[str, str]:
    return {
        "Event": "AttendedTransfer",
        "Privilege": "call,all",
        "Result": "Success",
        **_snapshot("OrigTransferer", "PJSIP/1001-00000002", "1795365472.10", "1795365472.9"),
        "OrigBridgeUniqueid": "0b5f7c2e-1",
        **_snapshot("SecondTransferer", "PJSIP/1001-00000003", "1795365472.11", "1795365472.11"),
        "SecondBridgeUniqueid": "0b5f7c2e-2",
        **_snapshot("Transferee", "PJSIP/trunk-00000001", "1795365472.9", "1795365472.9"),
        **_snapshot("TransferTarget", "PJSIP/1002-00000004", "1795365472.12", "1795365472.11"),
        "TransferTargetCallerIDNum": "1002",
        "IsExternal": "No",
        "DestType": dest_type,
        "DestBridgeUniqueid": "0b5f7c2e-2",
    }


def test_a_done_attended_transfer_names_the_agent_leg_with_the_caller_and_the_target() -> None:
    assert translate(attended_transfer()) == CallTransferred(
        call_id="1795365472.9",
        by_channel="PJSIP/1001-00000002",
        kind=TransferKind.ATTENDED,
        target="1002",
        linked_id="1795365472.9",
        external=False,
    )


def test_a_three_way_join_is_no_hand_over() -> None:
    assert translate(attended_transfer("Threeway")) is None
    assert translate({**attended_transfer(), "Result": "Fail"}) is None
