"""The Redis key layout. Every key carries the site as a hash tag, so one site's keys live in
one Redis Cluster slot and multi-key Lua scripts work there too."""

from __future__ import annotations


class Keys:
    """Key names for one site."""

    def __init__(self, site: str) -> None:
        self.prefix = f"acd:{{{site}}}:"
        self.agents = self.prefix + "agents"
        self.queues = self.prefix + "queues"
        self.active_calls = self.prefix + "calls:active"
        self.wrap_ups = self.prefix + "agents:wrap_up"
        self.fence = self.prefix + "fence"
        self.offers = self.prefix + "calls:offered"
        self.callbacks = self.prefix + "callbacks"
        self.roster = self.prefix + "agents:roster"
        # Stream of every change to calls and agents, followed by every acd process.
        self.changes = self.prefix + "changes"
        self.events = self.prefix + "events"  # the stream of business events for integrators
        # Written once the configuration is seeded: a Redis without it has lost the site's data.
        self.seeded = self.prefix + "seeded"

    def call(self, call_id: str) -> str:
        """Hash of one call."""
        return f"{self.prefix}call:{call_id}"

    def history(self, call_id: str) -> str:
        """List of one call's attempts and actions, as JSON lines."""
        return f"{self.prefix}call:{call_id}:history"

    def agent(self, agent_id: str) -> str:
        """Hash of one agent: profile and live state."""
        return f"{self.prefix}agent:{agent_id}"

    def queue(self, name: str) -> str:
        """String holding one queue's configuration as JSON."""
        return f"{self.prefix}queue:{name}"

    def waiting(self, queue: str) -> str:
        """Zset of the calls waiting in a queue, best first."""
        return f"{self.prefix}queue:{queue}:waiting"

    def team_ready(self, team: str) -> str:
        """Zset of the ready leads and supervisors of a team, scored by idle-since."""
        return f"{self.prefix}team:{team}:ready"

    def cursor(self, queue: str) -> str:
        """The agent a round-robin queue offered a call to last."""
        return f"{self.prefix}queue:{queue}:cursor"

    def ready(self, queue: str) -> str:
        """Zset of the ready agents of a queue, scored by idle-since (longest idle first)."""
        return f"{self.prefix}queue:{queue}:ready"

    def daily_figures(self, day: str, scope: str, name: str) -> str:
        """Hash of one local calendar day's counters (2026-11-29) of a queue or team."""
        return f"{self.prefix}stats:{day}:{scope}:{name}"
