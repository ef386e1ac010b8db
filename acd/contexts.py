"""The names of the dialplan contexts acd ships (asterisk/extensions_acd.conf), in one place.

They live in acd's own namespace, ``acd.<name>``: Asterisk merges every context of the same
name into one (the first ``s,1`` wins, with only a warning), and operators' context names are
letters, digits, ``-`` and ``_`` by habit, so a dot keeps ours apart from theirs. A dot is
legal in a context name for pbx_config, Goto, Dial's ``b()`` and AMI Redirect (checked on
Asterisk 22.10.1). Like ``acd.metrics`` this module imports nothing of acd, so every layer
(the AMI adapter, the service, the simulator, the tests) takes the names from here.
"""

from __future__ import annotations

INBOUND = "acd.inbound"  # the operator's IVR sends callers here: hold until acd acts
CONNECT = "acd.connect"  # acd redirects a caller here to ring the agent it chose
AGENT_LEG = "acd.agent-leg"  # Dial's b() handler on the agent's leg: the escalation code
AGENT_ANSWERED = "acd.agent-answered"  # Dial's U() on the agent's leg: the time of the answer
WITHDRAWN = "acd.withdrawn"  # acd withdraws a ringing offer: the caller back on hold, same wait
ESCALATE = "acd.escalate"  # acd redirects a connected caller here to wait for a lead
FALLBACK = "acd.fallback"  # wait ran out or acd gave up: the operator's ACD_FALLBACK
