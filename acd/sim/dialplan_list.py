"""The AMI action ShowDialPlan: the dialplan as main/pbx.c's manager_show_dialplan lists it.

One ``ListDialplan`` item per priority (Context, Extension, ExtensionLabel if any, Priority,
Application, AppData, Registrar), extensions in the order pbx.c keeps them (ext_cmp: plain
names before patterns), then one item per ``include``; ``ShowDialPlanComplete`` counts
items, extensions, priorities and contexts. An unknown context is an error without a list.
Simplified: with an ``Extension`` header the includes of the context are not searched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from acd.sim.dialplan import Context, Extension
from acd.sim.protocol import ActionMessage, Header

if TYPE_CHECKING:
    from acd.sim.session import AmiSession

REGISTRAR = "pbx_config"


def _sort_key(extension: Extension) -> tuple[bool, str]:
    """ext_cmp, simplified: plain names first, compared without the '-' fluff."""
    return extension.pattern is not None, extension.name.replace("-", "")


def _items(context: Context, exten: str) -> tuple[list[list[Header]], int, int]:
    """The list items of one context, and how many extensions and priorities they show."""
    items: list[list[Header]] = []
    extensions = priorities = 0
    for extension in sorted(context.extensions.values(), key=_sort_key):
        if exten and not (
            extension.name == exten
            or (extension.pattern is not None and extension.pattern.match(exten))
        ):
            continue
        extensions += 1
        for priority in sorted(extension.steps):
            step = extension.steps[priority]
            label: list[Header] = [("ExtensionLabel", step.label)] if step.label else []
            items.append(
                [
                    ("Context", context.name),
                    ("Extension", extension.name),
                    *label,
                    ("Priority", str(priority)),
                    ("Application", step.app),
                    ("AppData", step.args),
                    ("Registrar", REGISTRAR),
                ]
            )
            priorities += 1
    if not exten:
        items += [
            [("Context", context.name), ("IncludeContext", include), ("Registrar", REGISTRAR)]
            for include in context.includes
        ]
    return items, extensions, priorities


async def show_dialplan(session: AmiSession, message: ActionMessage) -> bool:
    dialplan = session.host.pbx.dialplan
    name, exten = message.get("Context"), message.get("Extension")
    contexts = [
        c
        for c in dialplan.contexts.values()
        if (not name or c.name == name) and c.name not in ("general", "globals")
    ]
    if name and not contexts:
        session.error(message, f"Did not find context {name}")
        return True
    items: list[list[Header]] = []
    extensions = priorities = 0
    for context in contexts:
        found, counted, steps = _items(context, exten)
        items += found
        extensions, priorities = extensions + counted, priorities + steps
    if exten and not extensions:
        where = f"{exten}@{name}" if name else f"{exten} in any context"
        session.error(message, f"Did not find extension {where}")
        return True
    action_id: list[Header] = [("ActionID", message.action_id)] if message.action_id else []
    session.list_ack(message, "DialPlan list will follow")
    for item in items:
        session.send([("Event", "ListDialplan"), *action_id, *item])
    session.send(
        [
            ("Event", "ShowDialPlanComplete"),
            *action_id,
            ("EventList", "Complete"),
            ("ListItems", str(len(items))),
            ("ListExtensions", str(extensions)),
            ("ListPriorities", str(priorities)),
            ("ListContexts", str(len(contexts))),
        ]
    )
    return True
