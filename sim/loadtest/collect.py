"""Turning a replay's raw measurements into the results both model and replay write.

Wall-clock times become scenario time, ``(wall - t0) x speedup``; the records then go through
the same :func:`sim.kpi.measure` as the model's, so the two results files compare one to one.
The validity of the run is judged here too: dispatch lateness, acknowledgement latency, reply
delivery latency (:mod:`sim.loadtest.delivery`; reported, never a reason to reject a run), the
gateway's outages with their effect (:func:`outages_of`; reported, and a reason only when one
ended the run) and lost messages (an acknowledged customer message no agent received, or an
agent reply the gateway accepted that never reached the customer).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sim.kpi import measure
from sim.loadtest.bot import bot_view
from sim.loadtest.delivery import delivery_ms
from sim.loadtest.raw import Percentiles, RawReplay, Span
from sim.records import AgentRecord, ConversationLog, ConversationRecord, Run
from sim.results import Results, ResultsHeader, aggregate
from sim.roster import draw_roster
from sim.scenario import Scenario
from sim.trace import Trace


@dataclass(slots=True)
class Validity:
    """Whether a replay's numbers can be trusted, and why not; and what the gateway itself
    measured, in wall milliseconds (what ``chatsim replay --threshold`` holds it to).

    Delivery latencies are None when no reply was delivered (or in files without them);
    ``channels`` has every measure per channel, ``{channel: {"ack_p99_ms": ...,
    "delivery_p50_ms": ..., "lateness_max_ms": ..., "replies": n}}`` (acknowledgement latency per
    channel is None in raw files written before it was kept per customer).
    """

    lateness_p50_ms: float
    lateness_p99_ms: float
    ack_p50_ms: float
    ack_p99_ms: float
    lost_inbound: int
    lost_replies: int
    problems: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    lateness_max_ms: float | None = None
    ack_max_ms: float | None = None
    delivery_p50_ms: float | None = None
    delivery_p99_ms: float | None = None
    delivery_max_ms: float | None = None
    delivered_replies: int = 0
    """Replies whose delivery was measured (matched to their acceptance)."""
    channels: dict[str, dict[str, float | int | None]] = field(default_factory=dict)
    outages: list[dict[str, float | int | None]] = field(default_factory=list)
    """When the gateway did not answer ``/healthz`` (:func:`outages_of`), and what it did to the
    conversations that arrived meanwhile."""
    retries: int = 0
    """Webhooks the customers had to send again (the gateway did not acknowledge the first)."""
    clock_offset_ms: float | None = None
    """The largest offset of a worker's wall clock from the master's (signed; None with one
    Locust process): each response that worker timed is off by it (times the speedup, in
    scenario time), and it released its conversations that much off schedule."""
    clock_round_trip_ms: float | None = None
    """The round trip of that reading: the offset is known to half of it."""

    @property
    def valid(self) -> bool:
        return not self.reasons

    def to_dict(self) -> dict[str, Any]:
        return {
            "valid": self.valid,
            "reasons": self.reasons,
            "lateness_p50_ms": self.lateness_p50_ms,
            "lateness_p99_ms": self.lateness_p99_ms,
            "lateness_max_ms": self.lateness_max_ms,
            "ack_p50_ms": self.ack_p50_ms,
            "ack_p99_ms": self.ack_p99_ms,
            "ack_max_ms": self.ack_max_ms,
            "delivery_p50_ms": self.delivery_p50_ms,
            "delivery_p99_ms": self.delivery_p99_ms,
            "delivery_max_ms": self.delivery_max_ms,
            "delivered_replies": self.delivered_replies,
            "channels": self.channels,
            "lost_inbound": self.lost_inbound,
            "lost_replies": self.lost_replies,
            "outages": self.outages,
            "retries": self.retries,
            "clock_offset_ms": self.clock_offset_ms,
            "clock_round_trip_ms": self.clock_round_trip_ms,
            "problems": self.problems[:20],
        }


def to_run(raw: RawReplay, scenario: Scenario, trace: Trace) -> Run:
    """The replay's conversations and agents as model records, in scenario seconds, with the
    roster the agents played (their paid hours).

    With a bot as the responder (``raw.responder``) every conversation reached the gateway at
    its arrival and none waited in a queue (:mod:`sim.loadtest.bot`), and there are no agents.
    """
    t0, speedup = raw.t0, raw.speedup
    bot = raw.responder == "bot"
    if bot:
        trace = bot_view(trace)

    def at(wall: float | None) -> float | None:
        return None if wall is None else (wall - t0) * speedup

    def spans(walls: list[Span]) -> list[tuple[float, float]]:
        return [((s - t0) * speedup, (e - t0) * speedup) for s, e in walls]

    def starts_and_ends(walls: list[Span]) -> tuple[list[float], list[float]]:
        return [(s - t0) * speedup for s, _ in walls], [(e - t0) * speedup for _, e in walls]

    customers = {c.id: c for c in raw.customers}
    handled = {h.trace_id: h for h in raw.handled}
    records: list[ConversationRecord] = []
    for conversation in trace:
        record = ConversationRecord(conversation, scenario.channels[conversation.channel].silent)
        records.append(record)
        customer = customers.get(conversation.id)
        if customer is None or not customer.sent:
            continue  # contained by the bot, or never sent (a failure the validity reports)
        record.queued_at = at(customer.sent[0])
        record.left_at = at(customer.left_at)
        replies, sent = customer.replies, customer.sent
        record.answered = bool(replies)
        record.reply_delays = [(r - s) * speedup for r, s in zip(replies, sent, strict=False)]
        if replies:
            record.first_reply_at = at(replies[0])
        served = handled.get(conversation.id)
        if bot:
            record.left_queue_at = record.queued_at
        elif served is not None:
            record.assigned_at = record.left_queue_at = at(served.assigned)
            record.closed_at = at(served.closed)
            record.agent_id = served.agent
        elif record.left_at is not None and not record.silent:
            record.left_queue_at = record.left_at
    agent_records = [
        AgentRecord(
            a.id,
            a.group,
            a.max_chats,
            at(a.login_at) or 0.0,
            at(a.logout_at),
            *starts_and_ends(a.busy),
            spans(a.away),
        )
        for a in raw.agents
    ]
    end = max([scenario.duration] + [r.closed_at for r in records if r.closed_at is not None])
    # The emulated agents played the model's roster of this trace (sim.roster): its paid hours.
    roster = None if bot else draw_roster(scenario, trace.header.seed, trace.header.replication)
    return Run(ConversationLog.of(records), agent_records, end, roster)


ROUTING_GRACE = 1.0
"""Wall seconds an agent's slot may stay free while a conversation waits before the replay calls
that conversation lost: the gateway routes within milliseconds, the harness sees it within a
long-poll round trip."""


def free_spans(raw: RawReplay, scenario: Scenario, end: float) -> dict[str, list[Span]]:
    """Per channel, the wall-time spans in which some agent with its skill took new chats and
    held fewer than ``max_chats``: a conversation waiting then should have been routed."""
    holding: dict[str, list[Span]] = {}
    for served in raw.handled:
        holding.setdefault(served.agent, []).append(
            (served.assigned, served.closed if served.closed is not None else end)
        )
    skills = {group.group: group.skills for group in scenario.agents}
    accepting = raw.accepting or {a.id: [(a.login_at, a.logout_at)] for a in raw.agents}
    free: dict[str, list[Span]] = {}
    for agent in raw.agents:
        changes = sorted(
            [(a, 1) for a, _ in holding.get(agent.id, [])]
            + [(c, -1) for _, c in holding.get(agent.id, [])]
        )
        for begin, open_until in accepting.get(agent.id, []):
            until = end if open_until is None else open_until
            active, since = 0, begin
            for at, step in changes:
                if at > since and active < agent.max_chats and min(at, until) > since:
                    for channel in skills.get(agent.group, ()):
                        free.setdefault(channel, []).append((since, min(at, until)))
                active += step
                since = max(since, at)
            if until > since and active < agent.max_chats:
                for channel in skills.get(agent.group, ()):
                    free.setdefault(channel, []).append((since, until))
    return free


def never_routed(raw: RawReplay, scenario: Scenario) -> list[str]:
    """Conversations the gateway acknowledged but never gave to an agent, although an agent
    with the skill had a free slot for :data:`ROUTING_GRACE` while they waited.

    A webchat customer who closed the chat stops waiting then; a messenger customer who gave up
    silently still waits in the queue (the gateway cannot know), as in the model.
    """
    handled = {served.trace_id for served in raw.handled}
    end = raw.finished or max(
        [0.0] + [c.left_at or 0.0 for c in raw.customers] + [h.closed or 0.0 for h in raw.handled]
    )
    free = free_spans(raw, scenario, end)
    lost = []
    for customer in raw.customers:
        if (
            customer.id in handled
            or not customer.acked
            or customer.channel not in scenario.channels
        ):
            continue
        waits_until = (
            end
            if scenario.channels[customer.channel].silent or customer.left_at is None
            else customer.left_at
        )
        since = customer.acked[0]
        if any(
            min(until, waits_until) - max(begin, since) >= ROUTING_GRACE
            for begin, until in free.get(customer.channel, ())
        ):
            lost.append(customer.id)
    return lost


def _percentile_fields(measure: str, values: list[float]) -> dict[str, float | None]:
    """``<measure>_p50_ms``, ``_p99_ms`` and ``_max_ms`` of ``values`` (None for none: an
    empty sample has no latency, not a latency of 0)."""
    found = Percentiles.of(values) if values else None
    return {
        f"{measure}_{name}_ms": None if found is None else getattr(found, name)
        for name in ("p50", "p99", "max")
    }


def _channel_measures(
    raw: RawReplay, delivery: dict[str, list[float]]
) -> dict[str, dict[str, float | int | None]]:
    """Per channel, the gateway measures of :data:`sim.catalogue.GATEWAY`: acknowledgement
    latency, reply delivery latency (``delivery``, per channel) and dispatch lateness, with the
    replies delivered."""
    acks: dict[str, list[float]] = {}
    lateness: dict[str, list[float]] = {}
    for customer in raw.customers:
        acks.setdefault(customer.channel, []).extend(customer.ack_ms)
        lateness.setdefault(customer.channel, []).append(customer.lateness * 1000)
    return {
        name: {
            **_percentile_fields("ack", acks.get(name, [])),
            **_percentile_fields("delivery", delivery.get(name, [])),
            **_percentile_fields("lateness", lateness.get(name, [])),
            "replies": len(delivery.get(name, [])),
        }
        for name in sorted(set(acks) | set(delivery))
    }


def outages_of(raw: RawReplay) -> list[dict[str, float | int | None]]:
    """Each outage of the gateway in scenario seconds (``start``, ``end``; an ``end`` of None:
    still down at the end of the run), its length in wall seconds, and its effect: the
    conversations whose first message was sent while the gateway was down, and how many of them
    were missed."""
    end_of_run = raw.finished or max([raw.t0] + [c.left_at or 0.0 for c in raw.customers])
    found = []
    for begin, until in raw.outages:
        stop = until if until is not None else end_of_run
        hit = [c for c in raw.customers if c.sent and begin <= c.sent[0] <= stop]
        found.append(
            {
                "start": (begin - raw.t0) * raw.speedup,
                "end": None if until is None else (until - raw.t0) * raw.speedup,
                "wall_seconds": max(0.0, stop - begin),
                "conversations": len(hit),
                "missed": sum(1 for c in hit if not c.replies and c.left_at is not None),
            }
        )
    return found


ENDED_BY_OUTAGE = "the gateway did not answer"
"""How the problem that ended a run because its gateway was down begins."""

MAX_LATENESS_MS = 100.0
"""Default bound of the dispatch lateness p99, wall milliseconds: above it a replay is invalid."""


def judge(raw: RawReplay, max_lateness_ms: float, scenario: Scenario | None = None) -> Validity:
    """Lateness, acknowledgement latency and lost messages of a replay (with ``scenario``, also
    conversations acknowledged and never routed to a free agent: :func:`never_routed`)."""
    customers = {c.id: c for c in raw.customers}
    lost_inbound = lost_replies = 0
    stranded = never_routed(raw, scenario) if scenario is not None else []
    lost_inbound += sum(len(customers[i].acked) for i in stranded)
    for served in raw.handled:
        customer = customers.get(served.trace_id)
        if customer is None:
            continue
        if served.left != "visible":
            lost_inbound += max(0, len(customer.acked) - served.messages)
        if customer.left_at is None:
            seen = (
                raw.delivered.get(served.key, 0)
                if not served.key.startswith("webchat:")
                else len(customer.replies)
            )
            lost_replies += max(0, served.replies - seen)
    per_channel = delivery_ms(raw.handled, raw.customers, raw.outbound)
    delivered = [ms for channel in per_channel.values() for ms in channel]
    validity = Validity(
        lateness_p50_ms=raw.lateness.p50 * 1000,
        lateness_p99_ms=raw.lateness.p99 * 1000,
        ack_p50_ms=raw.ack_ms.p50,
        ack_p99_ms=raw.ack_ms.p99,
        lost_inbound=lost_inbound,
        lost_replies=lost_replies,
        problems=list(raw.problems),
        lateness_max_ms=raw.lateness.max * 1000,
        ack_max_ms=raw.ack_ms.max,
        delivered_replies=len(delivered),
        channels=_channel_measures(raw, per_channel),
        outages=outages_of(raw),
        retries=sum(c.retries for c in raw.customers),
    )
    if raw.clocks:
        worst = max(raw.clocks.values(), key=lambda clock: abs(clock.offset_ms))
        validity.clock_offset_ms = worst.offset_ms
        validity.clock_round_trip_ms = worst.round_trip_ms
    overall = _percentile_fields("delivery", delivered)
    validity.delivery_p50_ms = overall["delivery_p50_ms"]
    validity.delivery_p99_ms = overall["delivery_p99_ms"]
    validity.delivery_max_ms = overall["delivery_max_ms"]
    if validity.lateness_p99_ms > max_lateness_ms:
        validity.reasons.append(
            f"dispatch lateness p99 {validity.lateness_p99_ms:.1f} ms is above the bound of "
            f"{max_lateness_ms:g} ms: the harness could not keep the schedule"
        )
    offset, trip = validity.clock_offset_ms, validity.clock_round_trip_ms
    if offset is not None and trip is not None and abs(offset) - trip / 2 > max_lateness_ms:
        validity.reasons.append(
            f"a Locust worker's clock is {offset:+.1f} ms (±{trip / 2:.1f}) off the master's, "
            f"above the dispatch bound of {max_lateness_ms:g} ms: synchronise the machines' "
            "clocks (NTP)"
        )
    failures = [f for c in raw.customers for f in c.failures]
    if failures:
        validity.reasons.append(
            f"{len(failures)} customer messages were not acknowledged or not answered "
            f"(first: {failures[0]})"
        )
    if lost_inbound or lost_replies:
        validity.reasons.append(
            f"lost messages: {lost_inbound} acknowledged customer messages never reached an agent, "
            f"{lost_replies} accepted agent replies never reached the customer"
        )
    if stranded:
        validity.reasons.append(
            f"{len(stranded)} acknowledged conversations were never routed although an agent "
            f"had a free slot (first: {stranded[0]})"
        )
    if any("safety time limit" in p for p in raw.problems):
        validity.reasons.append("the run hit its safety time limit")
    elif ended := [p for p in raw.problems if p.startswith(ENDED_BY_OUTAGE)]:
        validity.reasons.append(ended[0])
    elif raw.problems:
        validity.reasons.append(
            f"{len(raw.problems)} errors talking to the gateway (first: {raw.problems[0]})"
        )
    return validity


def replay_results(
    raw: RawReplay, scenario: Scenario, trace: Trace, validity: Validity
) -> tuple[Results, Run]:
    """The replay's results file (the same KPIs as the model's) and its records."""
    run = to_run(raw, scenario, trace)
    header = ResultsHeader.of(scenario, "replay", trace=trace)
    extra: dict[str, Any] = {"speedup": raw.speedup, "validity": validity.to_dict()}
    if raw.responder == "bot":
        extra["responder"] = "bot"
    return aggregate([measure(run, scenario)], header, extra), run
