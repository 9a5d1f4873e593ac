"""Prometheus metrics of one gateway, in a registry of its own (so several apps can coexist).

Counters and the webhook latency histogram are updated as things happen; the gauges (queue
length per channel, active conversations per channel, agents by state) are read from the
conversation service at scrape time through :class:`StateCollector`, so they cannot drift;
the outbox's depth and sends in flight are read from the outbox at scrape time too.

Outbound delivery, per channel: replies sent (``outbound_sent``) and given up on, by reason
(``outbound_failures``), which together are the sends by outcome; every call to a platform by
result (``outbound_attempts``: ``ok`` or the reason it did not succeed), the retries scheduled,
the replies refused because the outbox was full (``outbound_rejected``), and the delivery
latency from accepting a reply to deciding it (``outbound_delivery_seconds``, by outcome).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
LATENCY_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
# Delivery includes platform round trips and retry backoffs, so its buckets reach further.
DELIVERY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class GatewayState:
    """What the state collector reads; the conversation service provides it."""

    def __init__(
        self,
        queue_length: Callable[[], Mapping[str, int]],
        active_conversations: Callable[[], Mapping[str, int]],
        agents: Callable[[], Mapping[str, int]],
    ) -> None:
        self.queue_length = queue_length
        self.active_conversations = active_conversations
        self.agents = agents


class StateCollector(Collector):
    """Gauges computed at scrape time."""

    def __init__(self, state: GatewayState) -> None:
        self._state = state

    def collect(self) -> Iterable[Metric]:
        queue = GaugeMetricFamily(
            "chatsim_gateway_queue_length",
            "Conversations waiting for an agent.",
            labels=["channel"],
        )
        for channel, value in self._state.queue_length().items():
            queue.add_metric([channel], value)
        active = GaugeMetricFamily(
            "chatsim_gateway_active_conversations",
            "Conversations assigned to an agent.",
            labels=["channel"],
        )
        for channel, value in self._state.active_conversations().items():
            active.add_metric([channel], value)
        agents = GaugeMetricFamily(
            "chatsim_gateway_agents_logged_in",
            "Agents logged in: active take new chats, draining finish theirs.",
            labels=["state"],
        )
        for state, value in self._state.agents().items():
            agents.add_metric([state], value)
        return [queue, active, agents]


class GatewayMetrics:
    """The counters and histograms of one gateway."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.messages_in = Counter(
            "chatsim_gateway_messages_in",
            "Customer messages accepted.",
            ["channel", "kind"],
            registry=r,
        )
        self.messages_out = Counter(
            "chatsim_gateway_messages_out",
            "Agent replies accepted for delivery.",
            ["channel"],
            registry=r,
        )
        self.conversations = Counter(
            "chatsim_gateway_conversations", "Conversations opened.", ["channel"], registry=r
        )
        self.ended = Counter(
            "chatsim_gateway_conversations_ended",
            "Conversations ended, by how.",
            ["channel", "how"],
            registry=r,
        )
        self.duplicates = Counter(
            "chatsim_gateway_duplicates",
            "Platform retries of a message already accepted.",
            ["channel"],
            registry=r,
        )
        self.statuses = Counter(
            "chatsim_gateway_delivery_statuses",
            "Delivery status callbacks recorded.",
            ["protocol", "status"],
            registry=r,
        )
        self.ignored = Counter(
            "chatsim_gateway_webhook_ignored",
            "Webhook content acknowledged and ignored.",
            ["protocol"],
            registry=r,
        )
        self.rejected = Counter(
            "chatsim_gateway_webhook_rejected",
            "Webhooks refused with a 4xx.",
            ["protocol", "reason"],
            registry=r,
        )
        self.outbound_sent = Counter(
            "chatsim_gateway_outbound_sent",
            "Outbound platform calls that succeeded.",
            ["channel"],
            registry=r,
        )
        self.outbound_retries = Counter(
            "chatsim_gateway_outbound_retries", "Outbound calls retried.", ["channel"], registry=r
        )
        self.outbound_failures = Counter(
            "chatsim_gateway_outbound_failures",
            "Outbound messages given up on.",
            ["channel", "reason"],
            registry=r,
        )
        self.outbound_attempts = Counter(
            "chatsim_gateway_outbound_attempts",
            "Outbound platform calls made, by result (ok or why not).",
            ["channel", "result"],
            registry=r,
        )
        self.outbound_rejected = Counter(
            "chatsim_gateway_outbound_rejected",
            "Agent replies refused with 503 because the outbox was full.",
            ["channel"],
            registry=r,
        )
        self.outbound_delivery = Histogram(
            "chatsim_gateway_outbound_delivery_seconds",
            "From accepting an agent reply to it being sent or given up on.",
            ["channel", "outcome"],
            buckets=DELIVERY_BUCKETS,
            registry=r,
        )
        self.outbound_depth = Gauge(
            "chatsim_gateway_outbound_depth",
            "Agent replies accepted and not yet sent or given up on.",
            registry=r,
        )
        self.outbound_in_flight = Gauge(
            "chatsim_gateway_outbound_in_flight",
            "Outbound platform calls in progress.",
            registry=r,
        )
        self.webhook_latency = Histogram(
            "chatsim_gateway_webhook_latency_seconds",
            "Time to answer an inbound webhook.",
            ["protocol"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def watch(self, state: GatewayState) -> None:
        """Add the scrape-time gauges of ``state``."""
        self.registry.register(StateCollector(state))

    def exposition(self) -> bytes:
        """The registry in Prometheus text exposition format."""
        return generate_latest(self.registry)
