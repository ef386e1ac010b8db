"""The Asterisk database (AstDB) and the AMI actions that read state, not channels.

AstDB is a key/value store on disk (main/db.c): the dialplan writes it with ``DB(family/key)``
and it survives a restart of Asterisk. ``DBGet`` answers with a one-item list whose item is a
``DBGetResponse`` event (``ActionID`` after the value, as manager_dbget writes it);
``DeviceStateList`` (res/res_manager_devicestate.c) dumps the device state cache as
``DeviceStateChange`` items. List items are written to the session directly, so eventfilters
never apply to them. Local channels' device states are not cached and never listed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acd.sim.protocol import ActionMessage, Header

if TYPE_CHECKING:
    from acd.sim.session import AmiSession


def db_key(argument: str) -> tuple[str, str] | None:
    """``family/key`` -> (family, key), as func_db parses DB()'s argument; None if malformed."""
    family, sep, key = argument.strip().partition("/")
    if not sep or not family or not key:
        return None
    return family, key


def _list_item(
    event: str, message: ActionMessage, fields: list[Header], id_last: bool = False
) -> list[Header]:
    action_id = [("ActionID", message.action_id)] if message.action_id else []
    if id_last:
        return [("Event", event), *fields, *action_id]
    return [("Event", event), *action_id, *fields]


def _complete(session: AmiSession, message: ActionMessage, event: str, items: int) -> None:
    headers: list[Header] = [("Event", event)]
    if message.action_id:
        headers.append(("ActionID", message.action_id))
    session.send([*headers, ("EventList", "Complete"), ("ListItems", str(items))])


async def db_get(session: AmiSession, message: ActionMessage) -> bool:
    """manager_dbget."""
    family, key = message.get("Family"), message.get("Key")
    if not family:
        session.error(message, "No family specified.")
        return True
    if not key:
        session.error(message, "No key specified.")
        return True
    value = session.host.pbx.astdb.get(f"{family}/{key}")
    if value is None:
        session.error(message, "Database entry not found")
        return True
    session.list_ack(message, "Result will follow")
    session.send(
        _list_item(
            "DBGetResponse",
            message,
            [("Family", family), ("Key", key), ("Val", value)],
            id_last=True,
        )
    )
    _complete(session, message, "DBGetComplete", 1)
    return True


async def device_state_list(session: AmiSession, message: ActionMessage) -> bool:
    """action_devicestatelist: every cached (PJSIP) device, with its aggregate state."""
    pbx = session.host.pbx
    session.list_ack(message, "Device State Changes will follow")
    devices = pbx.cached_devices()
    for endpoint in devices:
        session.send(
            _list_item(
                "DeviceStateChange",
                message,
                [("Device", f"PJSIP/{endpoint}"), ("State", pbx.device_state(endpoint))],
            )
        )
    _complete(session, message, "DeviceStateListComplete", len(devices))
    return True
