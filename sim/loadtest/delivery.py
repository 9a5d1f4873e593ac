"""Reply delivery latency: from the gateway accepting an agent's reply to the customer having it.

A reply is *accepted* when the agent's ``POST /conversations/{cid}/reply`` comes back 2xx; it is
*delivered* when the provider emulator receives the gateway's outbound call for it (messengers),
or when the customer's long-poll returns it (webchat, which has no provider in between). Neither
side carries an id the other sees, so replies are matched per customer key in order: the n-th
accepted reply to a customer is the n-th message delivered to that customer. A reply never
delivered has no latency here (it counts as lost in the run's validity instead).

A gateway that answers the agent only after delivering the reply shows latencies at or below 0:
the measure is the time the gateway still needs *after* saying yes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sim.loadtest.raw import CustomerRecord, HandledConversation

WEBCHAT = "webchat:"
"""Prefix of webchat customer keys (:func:`~sim.loadtest.payloads.customer_key`)."""


def delivery_ms(
    handled: Sequence[HandledConversation],
    customers: Sequence[CustomerRecord],
    outbound: Mapping[str, Sequence[float]],
) -> dict[str, list[float]]:
    """Per channel, the delivery latency of every matched reply, wall milliseconds."""
    channels = {c.id: c.channel for c in customers}
    webchat_received = {c.key: c.replies for c in customers if c.key.startswith(WEBCHAT)}
    accepted: dict[str, list[float]] = {}
    channel_of: dict[str, str] = {}
    for served in handled:
        channel = channels.get(served.trace_id)
        if channel is None:
            continue
        accepted.setdefault(served.key, []).extend(served.accepted)
        channel_of[served.key] = channel
    latencies: dict[str, list[float]] = {}
    for key, times in accepted.items():
        received = webchat_received.get(key, []) if key.startswith(WEBCHAT) else outbound.get(key)
        # Concurrent sends may come back out of order; the gateway's own order is the time order.
        pairs = zip(sorted(times), sorted(received or ()), strict=False)
        latencies.setdefault(channel_of[key], []).extend((r - a) * 1000 for a, r in pairs)
    return latencies
