"""From a conversation history to a scenario: every estimate with what it came from.

:func:`fit_scenario` estimates, per channel, the volume and intraday profile (by weekday for a
week), the bot's containment and time, patience (censored, :mod:`sim.fit.laws`), turns, think
time, ``close_after`` and first guesses of reply work, and for the agents the staffing per
interval and ``max_chats`` (:mod:`sim.fit.agents`). It returns the scenario as YAML text with
comments (sample sizes, 95% confidence intervals, AIC of the candidates, KS distances, rows
skipped), checked by :func:`sim.scenario.parse_scenario`, so that ``simulate``, ``staff`` and
``replay`` accept it. It does no I/O.

What logs cannot show, the agents' reply work behind one pair of hands and its slowdown with
concurrent chats, is written as a first guess from response times (which include waiting for
the agent's hands): ``chatsim calibrate`` is the step that refines it against observed KPIs.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import yaml

from sim.durations import DAY, WEEKDAYS, format_clock, format_duration
from sim.fit.agents import Desk, Holding, holdings, staffing
from sim.fit.calendar import Arrivals, Calendar, active_window, arrivals
from sim.fit.conversations import ChannelFacts, channel_facts
from sim.fit.document import Node, number, render, seconds
from sim.fit.laws import (
    LawFit,
    Sample,
    TurnsFit,
    fit_law,
    lower_bound,
    proportion_ci,
    truncated_turns,
)
from sim.history import History, LoggedConversation
from sim.protocols import PROTOCOLS
from sim.scenario import Scenario, parse_scenario

MESSENGERS = tuple(p for p in PROTOCOLS if p != "webchat")
HORIZONS = ("auto", "day", "week")


@dataclass(frozen=True)
class FitOptions:
    """What the command line decides: name, interval, horizon (``auto``: a week when the logs
    span seven days or more), protocols per channel (by default the channel's name when it is a
    protocol, else webchat), targets, the agent group's name and the command to record."""

    name: str = "fitted"
    interval: float = 900.0
    horizon: str = "auto"
    protocols: Mapping[str, str] = field(default_factory=dict)
    targets: Mapping[str, float] = field(default_factory=dict)
    group: str = "agents"
    command: str = ""


@dataclass(frozen=True)
class ChannelSummary:
    """A channel's headline estimates, for the command's table."""

    name: str
    protocol: str
    conversations: int
    volume: float
    volume_ci: tuple[float, float]
    containment: float | None
    patience: str
    patience_ci: tuple[float, float] | None
    abandonments: int
    censored: int
    ambiguous: int
    turns: float
    think: float
    close_after: float


@dataclass(frozen=True)
class Fitted:
    """The fitted scenario: its YAML text (what ``--out`` gets), the validated scenario, and
    the channels' headline numbers."""

    text: str
    scenario: Scenario
    channels: list[ChannelSummary]
    horizon: str
    days: float
    agents_seen: int
    notes: list[str]


class FitError(ValueError):
    """The history cannot make a scenario (no conversations, an interval that does not divide a
    day); the command line reports it as bad input."""


def fit_scenario(history: History, options: FitOptions = FitOptions()) -> Fitted:
    """Estimate a scenario from ``history`` (see the module docstring)."""
    if not history.conversations:
        raise FitError("no usable conversations in the logs")
    per_day = DAY / options.interval
    if abs(per_day - round(per_day)) > 1e-9 or options.interval % 60:
        raise FitError(
            f"the interval ({format_duration(options.interval)}) must be whole minutes that "
            "divide a day (5m, 15m, 30m, 1h)"
        )
    if options.horizon not in HORIZONS:
        raise FitError(f"horizon must be one of {', '.join(HORIZONS)}, got {options.horizon!r}")
    times = _span(history)
    first, last = times
    week = options.horizon == "week" or (options.horizon == "auto" and last - first >= 7 * DAY)
    calendar = Calendar(options.interval, week, first, last)
    by_channel: dict[str, list[Any]] = {}
    for c in history.conversations:
        by_channel.setdefault(c.channel, []).append(c)
    end = max(_last_time(c) for c in history.conversations)
    notes: list[str] = []
    protocols = {}
    for name in sorted(by_channel):
        protocol = options.protocols.get(name)
        if protocol is None:
            protocol = name if name in PROTOCOLS else "webchat"
            if name not in PROTOCOLS:
                notes.append(
                    f"channel {name!r}: protocol taken as webchat (customers seen to leave); "
                    f"give --protocol {name}=whatsapp for a messenger"
                )
        protocols[name] = protocol
    held = holdings(history.conversations, history.messages)
    desk = Desk(held)
    facts = {
        name: channel_facts(
            name, protocols[name] in MESSENGERS, by_channel[name], history.messages, end, desk
        )
        for name in sorted(by_channel)
    }
    rates = {name: arrivals(calendar, f.local_times) for name, f in facts.items()}
    window = (
        (0, calendar.slots)
        if week
        else active_window([r.rate for r in rates.values()], calendar.per_day)
    )
    held = holdings(history.conversations, history.messages)
    channel_nodes = []
    summaries = []
    for name, fact in facts.items():
        node, summary = _channel(fact, protocols[name], rates[name], calendar, window)
        channel_nodes.append(node)
        summaries.append(summary)
    agents_node, seen = _agents(options.group, list(facts), calendar, window, held, history)
    nodes = [
        Node("name", options.name),
        Node(
            "start",
            "Mon 00:00" if week else format_clock(window[0] * options.interval),
            ["on the operator's clock (the UTC offset the logs were written in)"],
        ),
        Node(
            "duration",
            "7d" if week else format_duration((window[1] - window[0]) * options.interval),
        ),
        Node("interval", format_duration(options.interval)),
        Node("channels", channel_nodes),
        Node("agents", [agents_node]),
    ]
    if options.targets:
        nodes.append(
            Node(
                "targets",
                {key: _target(key, value) for key, value in options.targets.items()},
                ["given with --target: what check and staff hold the scenario to"],
            )
        )
    else:
        notes.append("no targets: give --target service_level=0.9 (...) for chatsim staff")
    header = _header(history, options, calendar, week, notes)
    text = render(nodes, header)
    scenario = parse_scenario(yaml.safe_load(text), file=f"{options.name}.yaml")
    return Fitted(
        text,
        scenario,
        summaries,
        "week" if week else "day",
        calendar.days,
        seen,
        notes,
    )


def _target(key: str, value: float) -> Any:
    return seconds(value) if key in ("frt_mean", "insession_mean") else number(value, 4)


def _span(history: History) -> tuple[float, float]:
    local = [c.local_created for c in history.conversations]
    first, last = min(local), max(local)
    return first, max(last, first + 1.0)


def _last_time(c: LoggedConversation) -> float:
    known = [
        t
        for t in (c.created_at, c.queued_at, c.first_response_at, c.abandoned_at, c.closed_at)
        if t is not None
    ]
    return float(max(known))


def _local_text(seconds_local: float) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds_local)
    return f"{WEEKDAYS[moment.weekday()]} {moment:%Y-%m-%d %H:%M}"


def _header(
    history: History, options: FitOptions, calendar: Calendar, week: bool, notes: list[str]
) -> list[str]:
    offsets = Counter(c.utc_offset for c in history.conversations)
    offset = offsets.most_common(1)[0][0]
    sign = "+" if offset >= 0 else "-"
    zone = f"UTC{sign}{int(abs(offset)) // 3600:02d}:{int(abs(offset)) % 3600 // 60:02d}"
    lines = [
        f"Fitted by chatsim fit from {len(history.files)} file"
        f"{'s' if len(history.files) != 1 else ''}: {', '.join(history.files)}",
    ]
    if options.command:
        lines.append(f"command: {options.command}")
    lines += [
        f"{len(history.conversations):,} conversations, {_local_text(calendar.first)} to "
        f"{_local_text(calendar.last)} ({zone}{', mostly' if len(offsets) > 1 else ''}): "
        f"{calendar.days:.2f} days, fitted as {'a week' if week else 'a day'}.",
    ]
    if history.problems:
        kinds = Counter(p.kind for p in history.problems)
        lines.append(
            f"{len(history.problems):,} of {history.rows:,} rows skipped: "
            + ", ".join(f"{n:,} {kind}" for kind, n in kinds.most_common())
            + " (chatsim fit lists them)."
        )
    else:
        lines.append(f"All {history.rows:,} rows read were used.")
    lines += [
        "Each value says what it was estimated from: sample sizes, 95% confidence intervals, the",
        "AIC of the candidate laws (lower is better) and the KS distance of the chosen one to",
        "the data. Reply work is a first guess: chatsim calibrate refines it against KPIs.",
    ]
    lines += [f"note: {note}" for note in notes]
    return lines


# -- channels --------------------------------------------------------------------------------


def _dur(value: float) -> str:
    """A duration for a comment: ``45.3s``, ``12.4m``, ``2.31h``."""
    if value < 100:
        return f"{value:.1f}s"
    if value < 7200:
        return f"{value / 60:.1f}m"
    return f"{value / 3600:.2f}h"


def _ci(interval: tuple[float, float] | None, unit: Any = _dur) -> str:
    if interval is None:
        return "95% CI not available"
    return f"95% CI {unit(interval[0])}–{unit(interval[1])}"


def _law_lines(fit: LawFit, what: str) -> list[str]:
    if fit.constant:
        return [f"{len(fit.sample.exact):,} {what}, all {_dur(fit.mean)}: a constant"]
    n = fit.sample.size
    lines = [f"{n:,} {what}; mean {_dur(fit.mean)} ({_ci(fit.mean_ci)}), cv {fit.chosen.cv:.2f}"]
    lines.append(_aic_line(fit))
    return lines


def _aic_line(fit: LawFit) -> str:
    parts = []
    for i, c in enumerate(fit.candidates):
        aic = f"{c.aic:,.1f}" if math.isfinite(c.aic) else "no fit"
        parts.append(f"{c.dist} {aic}{' (chosen)' if i == 0 else ''}")
    ks = "" if fit.ks is None else f"; KS distance {fit.ks:.3f}"
    return "AIC: " + ", ".join(parts) + ks


def _duration_law(values: Sequence[float]) -> LawFit | None:
    data = [v for v in values if v >= 0 and math.isfinite(v)]
    if not data:
        return None
    return fit_law(Sample.of(data))


def _channel(
    f: ChannelFacts, protocol: str, rate: Arrivals, calendar: Calendar, window: tuple[int, int]
) -> tuple[Node, ChannelSummary]:
    nodes = [Node("protocol", protocol)]
    horizon = "week" if calendar.week else "day"
    low, high = rate.volume_ci
    volume_lines = [
        f"{rate.count:,} conversations in {calendar.days:.2f} days of logs: "
        f"{rate.volume:,.1f} per {horizon} (95% CI {low:,.1f}–{high:,.1f}, counts as Poisson)"
    ]
    if len(rate.daily) >= 2:
        daily = np.asarray(rate.daily, dtype=float)
        volume_lines.append(
            f"whole days: {int(daily.min()):,}–{int(daily.max()):,} conversations, sd "
            f"{daily.std(ddof=1):,.1f} (Poisson alone: {math.sqrt(daily.mean()):,.1f})"
        )
    if np.any(rate.filled):
        volume_lines.append(
            f"{int(rate.filled.sum())} intervals of the week not in the logs: the mean of the "
            "same time on the days seen"
        )
    nodes.append(Node("volume", number(rate.volume, 5), volume_lines))
    nodes.extend(_profile(rate, calendar, window))
    truncated = truncated_turns(f.stayed_turns) if f.ambiguous else []
    patience, patience_summary = _patience(f, truncated[0] if truncated else None)
    nodes.extend(patience)
    turns, turns_mean = (
        _turns_truncated(truncated, len(f.ambiguous))
        if truncated
        else _turns(f, patience_summary[3])
    )
    nodes.append(turns)
    close_node, close_mean = _close_after(f)
    reply_nodes, response_mean = _reply(f)
    think_node, think_mean = _think(f, close_mean, response_mean)
    nodes.append(think_node)
    nodes.extend(reply_nodes)
    nodes.append(close_node)
    containment = None
    bot = _bot(f)
    if bot is not None:
        nodes.append(bot[0])
        containment = bot[1]
    summary = ChannelSummary(
        name=f.name,
        protocol=protocol,
        conversations=f.conversations,
        volume=rate.volume,
        volume_ci=rate.volume_ci,
        containment=containment,
        patience=patience_summary[0],
        patience_ci=patience_summary[1],
        abandonments=len(f.exact),
        censored=len(f.right) + len(f.stayed),
        ambiguous=len(f.ambiguous),
        turns=turns_mean,
        think=think_mean,
        close_after=close_mean,
    )
    return Node(f.name, nodes), summary


def _profile(rate: Arrivals, calendar: Calendar, window: tuple[int, int]) -> list[Node]:
    step = format_duration(calendar.interval)
    if not calendar.week:
        values = [number(float(v), 3) for v in rate.rate[window[0] : window[1]]]
        return [
            Node(
                "profile",
                values,
                [
                    f"expected conversations per {step} interval from "
                    f"{format_clock(window[0] * calendar.interval)} (count / days covered; "
                    "the model normalises them)"
                ],
            )
        ]
    per_day = calendar.per_day
    shapes = rate.rate.reshape(7, per_day)
    totals = shapes.sum(axis=1)
    mean_day = float(totals.mean()) if totals.mean() > 0 else 1.0
    profile = [
        Node(day, [number(float(v), 3) for v in shapes[i]]) for i, day in enumerate(WEEKDAYS)
    ]
    weights = {day: number(float(totals[i]) / mean_day, 3) for i, day in enumerate(WEEKDAYS)}
    return [
        Node(
            "profile",
            profile,
            [f"by weekday: expected conversations per {step} interval of each day from 00:00"],
        ),
        Node(
            "day_weights",
            weights,
            [
                "each day's volume against the mean day: "
                + ", ".join(f"{day} {totals[i]:,.1f}" for i, day in enumerate(WEEKDAYS))
            ],
        ),
    ]


def _patience(
    f: ChannelFacts, turns: TurnsFit | None = None
) -> tuple[list[Node], tuple[str, tuple[float, float] | None, int, float | None]]:
    """The patience node and (text, mean CI, n, q) for the summary and the turns. With
    ambiguous conversations the one-message share ``q`` comes from ``turns`` when given."""
    sample = Sample.of(f.exact, right=f.right, left=f.left, stayed=f.stayed, ambiguous=f.ambiguous)
    lines = [
        f"from queue entry; {f.offered:,} conversations offered: {len(f.exact):,} seen giving up "
        f"(exact), {len(f.right) + len(f.stayed):,} answered or still waiting (censored: "
        "patience longer than the wait)"
        + (f", {len(f.left):,} closed unanswered (left before the close)" if f.left else "")
    ]
    if f.silent_marked:
        lines.append(
            "a messenger whose logs mark silent leavers (abandoned_at before the late first "
            "response): those are the exact ones, every other answered conversation censored"
        )
    if f.silent and not f.turn_information:
        lines.append(
            "a messenger whose logs say neither customer_messages nor messages: silent leavers "
            "cannot be told from answered customers, all taken as censored (patience may be "
            "overestimated)"
        )
    fit = fit_law(sample, q=turns.q if turns is not None else None)
    if fit is None:
        bound = lower_bound(sample) if sample.size else 3600.0
        bound = max(bound, 1.0)
        lines.append(
            "nobody was seen to give up: patience is at least "
            f"{_dur(bound)} (one-sided 95% bound under an exponential law), written as that"
        )
        value = {"dist": "exponential", "mean": seconds(bound)}
        return [Node("patience", value, lines)], (f"≥ {_dur(bound)}", None, 0, None)
    if len(f.ambiguous):
        law = fit.chosen.law()
        waits = np.asarray(f.ambiguous)
        q = fit.q if fit.q is not None else 1.0
        leaving = law.cdf(waits)
        staying = q * law.sf(waits)
        leavers = float(np.sum(leaving / np.maximum(leaving + staying, 1e-300)))
        where = (
            f"the turns law of those who wrote again ({turns.dist}, truncated at 2)"
            if turns is not None
            else f"fitted jointly ({_ci(fit.q_ci, lambda v: f'{v:.1%}')})"
        )
        lines.append(
            f"{len(f.ambiguous):,} answered with one customer message and no reply after: a "
            "messenger customer who left silently looks the same (answered once, late); fitted "
            f"as a mixture, each one-message wait w a leaver with probability F(w) / (F(w) + q "
            f"S(w)): of the customers who stay {q:.1%} write once, from {where}; so an "
            f"estimated {leavers:,.1f} of them had left"
        )
    naive = ""
    if len(f.exact):
        seen = _dur(float(np.mean(f.exact)))
        naive = f" (the mean of the seen abandonments alone, {seen}, keeps only the impatient)"
    lines.append(
        f"censored maximum likelihood: mean {_dur(fit.mean)} ({_ci(fit.mean_ci)}), cv "
        f"{fit.chosen.cv:.2f}{naive}"
    )
    lines.append(_aic_line(fit) + (" to Kaplan–Meier" if fit.ks is not None else ""))
    value = _law_value(fit)
    text = f"{fit.chosen.dist} {_dur(fit.mean)}"
    return [Node("patience", value, lines)], (text, fit.mean_ci, sample.size, fit.q)


def _law_value(fit: LawFit) -> dict[str, Any]:
    value = fit.scenario()
    for key in ("mean", "value"):
        if key in value:
            value[key] = seconds(value[key])
    if "cv" in value:
        value["cv"] = number(min(max(value["cv"], 0.01), 10.0), 3)
    return value


def _turns(f: ChannelFacts, q: float | None) -> tuple[Node, float]:
    """Customer messages per conversation, from answered conversations whose customers
    stayed; on a messenger the one-message share is the mixture's ``q``."""
    counts = Counter(f.stayed_turns)
    if f.ambiguous and q is not None and q < 1:
        singles = q / (1 - q) * len(f.stayed)
        source = f"{singles:,.1f} one-message customers (the patience mixture's share)"
    else:
        singles = float(f.single_answered)
        source = f"{f.single_answered:,} with one message"
    n = singles + sum(counts.values())
    if n <= 0 or not counts:
        lines = [
            "no answered conversation with more than one customer message"
            + ("" if f.turn_information else " (the logs do not count messages)")
            + ": one message each"
        ]
        return Node("turns", {"dist": "constant", "value": 1}, lines), 1.0
    values = np.array([1.0, *counts.keys()])
    weights = np.array([singles, *counts.values()])
    mean = float(np.sum(values * weights) / n)
    variance = float(np.sum(weights * (values - mean) ** 2) / n)
    half = 1.96 * math.sqrt(variance / n)
    from scipy import stats

    geometric = float(np.sum(weights * stats.geom.logpmf(values, 1 / mean)))
    poisson = float(np.sum(weights * stats.poisson.logpmf(values - 1, mean - 1)))
    chosen = "geometric" if geometric >= poisson else "poisson"
    lines = [
        f"customer messages of answered conversations: {sum(counts.values()):,} with more than "
        f"one, {source}; mean {mean:.2f} (95% CI {mean - half:.2f}–{mean + half:.2f})",
        f"AIC: geometric {2 - 2 * geometric:,.1f}, poisson {2 - 2 * poisson:,.1f} (one parameter "
        f"each, the mean): {chosen}",
    ]
    return Node("turns", {"dist": chosen, "mean": number(mean, 3)}, lines), mean


def _turns_truncated(fits: list[TurnsFit], ambiguous: int) -> tuple[Node, float]:
    """Turns on a messenger with silent leavers: fitted to the customers who wrote again."""
    best = fits[0]
    lines = [
        f"customer messages of the {best.n:,} answered conversations whose customer wrote "
        "again, each law truncated at 2: a one-message conversation may be a silent leaver "
        f"({ambiguous:,} are ambiguous); mean {best.mean:.2f}, one message {best.q:.1%}",
        "AIC: " + ", ".join(f"{fit.dist} {fit.aic:,.1f}" for fit in fits) + f": {best.dist}",
    ]
    return Node("turns", {"dist": best.dist, "mean": number(best.mean, 3)}, lines), best.mean


def _close_after(f: ChannelFacts) -> tuple[Node, float]:
    source = (
        "close after the agent's last message"
        if f.close_from_messages
        else "close after the first response, of conversations with one agent message"
    )
    fit = _duration_law(f.close)
    if fit is None:
        return Node(
            "close_after",
            {"dist": "constant", "value": "0s"},
            ["the logs show no close after a last answer: 0"],
        ), 0.0
    return Node("close_after", _law_value(fit), _law_lines(fit, source)), fit.mean


def _think(f: ChannelFacts, close_mean: float, response_mean: float) -> tuple[Node, float]:
    if f.think:
        fit = _duration_law(f.think)
        assert fit is not None
        lines = _law_lines(fit, "think times (a customer message after an agent message)")
        return Node("think", _law_value(fit), lines), fit.mean
    if f.think_totals:
        spans = sum(span - close_mean for span, _ in f.think_totals)
        gaps = sum(n for _, n in f.think_totals)
        mean = spans / gaps
        if f.totals_include_responses:
            mean -= response_mean
        mean = max(mean, 0.0)
        lines = [
            f"no message CSV: mean from {len(f.think_totals):,} conversations' totals, (close − "
            "first response − close_after) / (turns − 1)"
            + (
                f", less the response time guessed for each later message ({_dur(response_mean)})"
                if f.totals_include_responses
                else ", less their in-session response times"
            ),
            "only the mean is known: written exponential (give --messages for the law)",
        ]
        return Node("think", {"dist": "exponential", "mean": seconds(max(mean, 0.01))}, lines), mean
    return Node(
        "think",
        {"dist": "constant", "value": "0s"},
        ["no conversation with a later customer message: 0"],
    ), 0.0


MIN_ALONE = 30
"""Responses given by an agent holding nothing else, needed to take them as the work itself."""


def _work_sample(
    alone: list[float], every: list[float], what: str
) -> tuple[LawFit | None, list[str]]:
    """Responses as a guess of work: those given with the agent's hands free when there are
    enough, all of them otherwise."""
    if len(alone) >= MIN_ALONE:
        fit = _duration_law(alone)
        note = (
            f"{what} begun by an agent holding no other chat ({len(alone):,} of "
            f"{len(every):,}): no wait for the hands, no slowdown, the work itself"
        )
        return fit, [note]
    fit = _duration_law(every)
    note = (
        f"{what}, all of them (fewer than {MIN_ALONE} given by an agent holding nothing else): "
        "they include waiting for the agent's hands and the slowdown of concurrent chats"
    )
    return fit, [note]


def _reply(f: ChannelFacts) -> tuple[list[Node], float]:
    """First guesses of reply work from response times (README: chatsim calibrate refines)."""
    refine = "a first guess of the work: chatsim calibrate refines it against observed KPIs"
    first, first_note = _work_sample(f.first_alone, f.first_work, "first responses from assignment")
    later, later_note = _work_sample(
        f.insession_alone, f.insession, "in-session responses (a customer message to the answer)"
    )
    nodes: list[Node] = []
    if later is not None:
        lines = [*later_note, *_law_lines(later, "responses"), refine]
        nodes.append(Node("reply", _law_value(later), lines))
    if first is not None:
        lines = [*first_note, *_law_lines(first, "responses"), refine]
        nodes.append(Node("first_reply", _law_value(first), lines))
        if later is None:
            nodes.insert(
                0,
                Node(
                    "reply",
                    _law_value(first),
                    ["no in-session responses in the logs: the first reply's guess", refine],
                ),
            )
        return nodes, (later or first).mean
    if later is not None:
        return nodes, later.mean
    responses = _duration_law(f.first_responses)
    if responses is not None:
        lines = _law_lines(responses, "first responses from queue entry")
        lines.append(
            "no assignment times or messages: the whole first response, queue wait included, "
            "an upper bound of the work; chatsim calibrate refines it"
        )
        return [Node("reply", _law_value(responses), lines)], responses.mean
    return [
        Node(
            "reply",
            {"dist": "constant", "value": "60s"},
            ["no responses in the logs: a placeholder; chatsim calibrate refines it"],
        )
    ], 60.0


def _bot(f: ChannelFacts) -> tuple[Node, float] | None:
    handed = [t for t in f.bot_times if t >= 0]
    has_time = bool(handed) and float(np.mean(handed)) > 0.5
    if not f.contained and not has_time:
        return None
    nodes = []
    containment = f.contained / f.bot_known if f.bot_known else 0.0
    ci = proportion_ci(f.contained, f.bot_known)
    nodes.append(
        Node(
            "containment",
            number(containment, 3),
            [
                f"{f.contained:,} of {f.bot_known:,} conversations contained by the bot "
                f"({containment:.1%}, 95% CI {ci[0]:.1%}–{ci[1]:.1%}, Clopper–Pearson)"
            ],
        )
    )
    fit = _duration_law(handed)
    if fit is not None:
        nodes.append(
            Node(
                "time",
                _law_value(fit),
                _law_lines(fit, "bot times (queue entry − creation of those handed on)"),
            )
        )
    return Node("bot", nodes), containment


# -- agents ----------------------------------------------------------------------------------


def _agents(
    group: str,
    channels: list[str],
    calendar: Calendar,
    window: tuple[int, int],
    held: list[Holding],
    history: History,
) -> tuple[list[Node], int]:
    named = bool(held)
    if not named:
        held = [
            Holding(c.id, start + c.utc_offset, (c.closed_at or start) + c.utc_offset)
            for c in history.conversations
            for start in [c.assigned_at or c.first_response_at]
            if start is not None
        ]
    seen = staffing(calendar, held)
    mean = seen.agents[window[0] : window[1]]
    counts = [math.floor(float(v) + 0.5) for v in mean]
    if not any(counts):
        counts = [1] * len(counts)
    max_chats = min(max(seen.max_chats, 1), 50) if named else 1
    if named:
        comments = [
            f"{seen.names:,} agents in the logs held {seen.holdings:,} chats; staffing: the "
            "agents who took a chat in each interval or held one through it, averaged over the",
            "days covered (in quiet intervals a lower bound: an agent given nothing leaves no "
            "trace)",
        ]
        chat_note = [f"the most chats one agent held at once in the logs ({seen.max_chats})"]
    else:
        comments = [
            "the logs name no agents: one agent per chat in progress, max_chats 1; replace with "
            "your own shifts or staffing, or plan them with chatsim staff",
        ]
        chat_note = ["no agents in the logs"]
    nodes = [
        Node("group", group),
        Node("skills", channels),
        Node("max_chats", max_chats, chat_note),
        Node("staffing", counts, ["agents at work per interval, from the start"]),
    ]
    nodes[0].comments = comments
    return nodes, seen.names if named else 0
