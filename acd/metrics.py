"""Every Prometheus metric acd exports, defined in one place.

Labels are bounded: queue, team, state, outcome, step, reason, channel, AMI event names,
webhook subscriber names (from the config) and the dialplan contexts acd ships.
Never a call id or a caller number.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

# The usual service-level thresholds, so "answered within 20 s" is read straight off a bucket.
SERVICE_LEVEL_BUCKETS = (5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300, 600)
DURATION_BUCKETS = (10, 30, 60, 120, 180, 300, 600, 900, 1800, 3600)
AGE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)


class Metrics:
    """The metric families of one acd process, registered in their own registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.calls_offered = Counter(
            "acd_calls_offered", "Calls that entered a queue.", ["queue"], registry=r
        )
        self.calls_answered = Counter(
            "acd_calls_answered", "Calls answered by an agent.", ["queue"], registry=r
        )
        self.calls_abandoned = Counter(
            "acd_calls_abandoned",
            "Callers who hung up before an agent answered.",
            ["queue"],
            registry=r,
        )
        self.calls_short_abandoned = Counter(
            "acd_calls_short_abandoned",
            "Abandoned calls that hung up within the short-abandon threshold.",
            ["queue"],
            registry=r,
        )
        self.calls_overflowed = Counter(
            "acd_calls_overflowed",
            "Calls sent past their queue's agents.",
            ["queue", "step"],
            registry=r,
        )
        self.calls_failed = Counter(
            "acd_calls_failed",
            "Calls that ended without an agent for a technical reason.",
            ["queue", "reason"],
            registry=r,
        )
        self.calls_escalated = Counter(
            "acd_calls_escalated", "Live calls escalated to a team lead.", ["queue"], registry=r
        )
        self.transfers = Counter(
            "acd_transfers",
            "Calls an agent transferred (blind, attended); the call counts as answered once.",
            ["queue", "kind"],
            registry=r,
        )
        self.hold_seconds = Histogram(
            "acd_hold_seconds",
            "The length of each hold (caller or agent) during a conversation.",
            ["queue"],
            buckets=SERVICE_LEVEL_BUCKETS,
            registry=r,
        )
        self.supervisor_actions = Counter(
            "acd_supervisor_actions",
            "Supervisors joining live calls, by mode.",
            ["mode"],
            registry=r,
        )
        self.wait_seconds = Histogram(
            "acd_wait_seconds",
            "Time from arrival to the call's outcome in the queue.",
            ["queue", "outcome"],
            buckets=SERVICE_LEVEL_BUCKETS,
            registry=r,
        )
        self.first_response_seconds = Histogram(
            "acd_first_response_seconds",
            "Time from arrival to the first agent's answer, across no-answers and overflow.",
            ["queue", "channel"],
            buckets=SERVICE_LEVEL_BUCKETS,
            registry=r,
        )
        self.handle_seconds = Histogram(
            "acd_handle_seconds",
            "Talk time plus wrap-up time of answered calls.",
            ["queue"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.talk_seconds = Histogram(
            "acd_talk_seconds",
            "Time an agent and a caller were connected.",
            ["queue"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.wrapup_seconds = Histogram(
            "acd_wrapup_seconds",
            "After-call work time.",
            ["queue"],
            buckets=DURATION_BUCKETS,
            registry=r,
        )
        self.queue_waiting = Gauge(
            "acd_queue_waiting", "Calls waiting in the queue now.", ["queue"], registry=r
        )
        self.queue_oldest_wait = Gauge(
            "acd_queue_oldest_wait_seconds",
            "Wait of the longest-waiting call now.",
            ["queue"],
            registry=r,
        )
        self.agents = Gauge(
            "acd_agents", "Agents serving the queue, by state.", ["queue", "state"], registry=r
        )
        self.agent_state = Gauge(
            "acd_agent_state",
            "1 for the state each agent is in (only with http.per_agent_metrics).",
            ["agent", "state"],
            registry=r,
        )
        self.agent_calls_today = Gauge(
            "acd_agent_calls_today",
            "Calls each agent handled today (only with http.per_agent_metrics).",
            ["agent"],
            registry=r,
        )
        self.team_agents = Gauge(
            "acd_team_agents", "Agents of the team, by state.", ["team", "state"], registry=r
        )
        self.routing_decision_seconds = Histogram(
            "acd_routing_decision_seconds",
            "From the event that allowed a decision to the AMI action sent.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.ami_connected = Gauge(
            "acd_ami_connected", "1 while logged in to Asterisk AMI.", registry=r
        )
        self.ami_reconnects = Counter(
            "acd_ami_reconnects", "AMI reconnections after a lost connection.", registry=r
        )
        self.ami_events = Counter(
            "acd_ami_events", "AMI events received, by name.", ["event"], registry=r
        )
        self.ami_bad_events = Counter(
            "acd_ami_bad_events",
            "AMI events that were malformed or unexpected.",
            ["reason"],
            registry=r,
        )
        self.dialplan_problems = Gauge(
            "acd_dialplan_problems",
            "1 while a dialplan context acd ships is missing or not acd's (checked at login).",
            ["context"],
            registry=r,
        )
        self.worker_queue_depth = Gauge(
            "acd_worker_queue_depth",
            "Events, commands and ticks waiting for the router's worker now.",
            registry=r,
        )
        self.event_age_seconds = Histogram(
            "acd_event_age_seconds",
            "From an AMI event's receipt to the start of its handling (the router's lag).",
            buckets=AGE_BUCKETS,
            registry=r,
        )
        self.ami_reads_paused = Counter(
            "acd_ami_reads_paused",
            "Times acd stopped reading AMI because its worker's queue was full (backpressure).",
            registry=r,
        )
        self.event_loop_lag = Gauge(
            "acd_event_loop_lag_seconds", "How late the event loop ran a timer.", registry=r
        )
        self.redis_errors = Counter("acd_redis_errors", "Redis commands that failed.", registry=r)
        self.redis_latency = Histogram(
            "acd_redis_latency_seconds",
            "Round-trip time of Redis operations.",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.redis_partial_records = Counter(
            "acd_redis_partial_records",
            "Agent or call hashes without an id found in Redis and skipped (kind).",
            ["kind"],
            registry=r,
        )
        self.redis_data_lost = Counter(
            "acd_redis_data_lost",
            "Times Redis was found without the site's data (restarted empty): configuration "
            "seeded again and the callers Asterisk has adopted.",
            registry=r,
        )
        self.webhook_deliveries = Counter(
            "acd_webhook_deliveries",
            "Webhook events by subscriber and outcome (delivered, retried, failed, dropped).",
            ["subscriber", "outcome"],
            registry=r,
        )
