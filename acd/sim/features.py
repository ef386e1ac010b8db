"""Dynamic features: applicationmap items (features.conf) a bridged party triggers with DTMF.

After main/features_config.c and main/bridge_channel.c: an item is ``name => dtmf,activate_on,
app[,args[,moh_class]]`` (or ``app(args)``); a party may trigger it only if the item's name is
in its own ``DYNAMIC_FEATURES`` (``#``-separated). ``self`` runs the application on the party
that pressed the digits, ``peer`` on the other parties of the bridge, who stay bridged.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from acd.sim.channels import Channel

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FeatureItem:
    """One applicationmap line."""

    name: str
    dtmf: str
    activate_on: str  # "self" or "peer"
    app: str
    args: str


def load_features(paths: list[Path]) -> dict[str, FeatureItem]:
    """The ``[applicationmap]`` items of ``paths``, by name (a later file wins)."""
    items: dict[str, FeatureItem] = {}
    for path in paths:
        section = ""
        for raw in path.read_text(encoding="utf-8").splitlines():
            line = raw.split(";", 1)[0].strip()
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip().lower()
            elif section == "applicationmap" and "=" in line:
                name, _, value = line.partition("=")
                item = _item(name.strip(), value.lstrip(">").strip())
                if item is not None:
                    items[item.name] = item
    return items


def _item(name: str, value: str) -> FeatureItem | None:
    parts = [part.strip() for part in value.split(",")]
    if len(parts) < 3 or parts[1].lower() not in ("self", "peer"):
        log.warning("applicationmap %s: needs dtmf,self|peer,app", name)
        return None
    app, args = parts[2], ",".join(parts[3:4])
    if "(" in app:
        app, _, rest = app.partition("(")
        args = rest.rstrip(")")
    return FeatureItem(name, parts[0], parts[1].lower(), app.strip(), args.strip('"'))


def allowed(chan: Channel, items: dict[str, FeatureItem]) -> list[FeatureItem]:
    """The items ``chan``'s DYNAMIC_FEATURES lets it trigger."""
    names = (chan.getvar("DYNAMIC_FEATURES") or "").split("#")
    return [items[name] for name in names if name in items]


async def press(chan: Channel, digits: str, items: dict[str, FeatureItem]) -> bool:
    """``chan`` keys ``digits`` while bridged; True if a feature ran."""
    bridge = chan.bridge
    executor = chan.pbx.executor
    if bridge is None or executor is None:
        return False
    for item in allowed(chan, items):
        if item.dtmf != digits:
            continue
        targets = (
            [chan]
            if item.activate_on == "self"
            else [member for member in bridge.members if member is not chan]
        )
        for target in targets:
            await executor.run_feature_app(target, item.app, item.args)
        return True
    return False
