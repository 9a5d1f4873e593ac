"""Calibration: scenario parameters that logs cannot show, found by simulation.

Conversation logs tell volumes, profiles, turns and (censored) patience, but not the agents'
reply *work* behind their one pair of hands, nor how much slower they type with four chats
open: a response time seen by a customer is work plus waiting for the hands, and only the
model can tell the two apart. Calibration chooses such parameters so that the model reproduces
observed KPIs.

**Parameters** (:class:`Parameter`, ``--vary``) are named by a path in the scenario:

* ``reply.mean``, ``first_reply.mean``, ``patience.mean``, ``think.mean``, ``close_after.mean``:
  that distribution of every channel that has it, all scaled by one factor (the channels keep
  their ratios; the parameter's value is the plain average of their means);
  ``channels.NAME.reply.mean`` and so on: one channel's. The distribution keeps its family and
  cv: scaling a mean scales the whole distribution (a uniform's ``low`` and ``high``, an
  empirical's ``values``, a constant's ``value``);
* ``agents.GROUP.reply_factor``: the group's speed relative to the channels' reply work;
* ``agents.GROUP.slowdown``: the group's slowdown curve, by its **last factor** (the slowdown at
  ``max_chats`` active chats, the number people quote). The curve keeps its shape: every
  factor's excess over 1 is scaled alike, ``f_k -> 1 + (f_k - 1) (v - 1) / (f_last - 1)``; a flat
  curve (all 1) becomes a straight line from 1 at one chat to ``v`` at ``max_chats``.

Each has a search range, by default 0.25x to 4x its value (a slowdown: its excess over 1 from 0
to 4x, so ``[1, 1 + 4 (f_last - 1)]``), or ``LOW:HIGH`` as given.

**Observations** (:class:`Observation`, ``--observe``) are catalogue KPIs in total (over the
scope: all channels, or those given), per channel, or per interval from an observed results
file. Each difference is standardised by a **unit**: the observation's own standard error when it
comes with a 95% half-width (``VALUE±H``, or ``ci95`` in a results file: ``H / 1.96``); else 5%
of its size (of ``min(p, 1 - p)`` for a rate, so that 93.6% answered on time and 2.06% missed are
both judged by their smaller side), with a floor per unit (0.1 pp, 0.1 s, ...). The **objective**
is the sum of squared standardised differences, simulated minus observed.

**Common random numbers.** The traces are drawn once (:class:`sim.runner.Runner` keeps them) and
every candidate plays the very same conversations, so the objective is a deterministic function
of the parameters and differences between candidates are not drawn anew. Agent parameters are
read by the model from the scenario. Reply work, patience, think time and ``close_after`` are in
the trace: a candidate *rescales the drawn trace* (:class:`TraceScale`) rather than redrawing it.
Every duration family chatsim has is a scale family at a fixed cv (constant, exponential,
uniform, lognormal, gamma, empirical: each draw is the mean times a draw of the standard member,
from the same stream position), so the rescaled trace is exactly what redrawing the scenario with
the new mean and the same seed gives, up to the millisecond rounding of drawn traces
(``tests/test_calibrate.py`` checks it); it is cheaper and needs no care about which stream
draws what.

**Optimiser.** :func:`scipy.optimize.least_squares` (trust region reflective, within the
ranges) on the parameters relative to their values in the scenario, with a forward-difference
Jacobian of relative step ``step`` (default 5%). A discrete-event model is deterministic under
common random numbers but *rough* on small scales: a reply 0.25% longer reorders routing
downstream and moves the KPIs by more than the slope says, so smaller steps measure the
roughness, not the slope. The search stops when a step moves the parameters by less than a
tenth of ``step`` (roughness again), when the objective stops falling, or after
``max_evaluations`` model evaluations (each plays every replication).

**Uncertainty.** The fitted values inherit the replication noise of the simulated KPIs (another
seed gives other traces, hence another fit) and the observations' own noise when they have one.
Linearised at the optimum with the Jacobian ``J`` of the standardised residuals: ``cov(theta) =
J+ C J+^T``, ``J+`` the pseudo-inverse (the least-squares step) and ``C`` the covariance of the
standardised KPIs: the sample covariance of the simulated KPIs over replications divided by
their number (KPIs of one replication move together, which this keeps), plus the observations'
squared standard errors, taken to correlate as the simulated KPIs do (a busy day is worse on
every KPI; independent errors would average out over KPIs that in fact err together). With fewer
replications than KPIs plus one the sample covariance is singular (it would call some mix of
KPIs noiseless): it is shrunk towards its diagonal by the missing share of degrees of freedom.
Standard errors and 95% intervals (+-1.96 SE) follow; a parameter the observed KPIs do not move
is reported as not identified. In a check on ``small.yaml`` (30 pairs of observed and
calibration seeds, 10 replications each) the fits spread about 15% wider than the reported
standard errors: the model's roughness on fixed traces adds a little noise of its own.

The module does no I/O: :mod:`sim.cli.calibrate` reads, prints and writes;
:func:`rewrite_scenario` edits a scenario file's text in memory.
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import yaml
from scipy.optimize import least_squares

from sim.catalogue import BY_KEY, KEYS, Unit
from sim.distributions import Constant, Empirical, Exponential, Gamma, Lognormal, Uniform
from sim.durations import format_clock, format_duration, parse_duration
from sim.history import History, LoggedConversation
from sim.kpi import ALL, Measurement
from sim.results import Results, summarise, t_quantile
from sim.runner import Runner, Traffic
from sim.scenario import AgentGroup, Channel, Scenario
from sim.trace import Trace

FIELDS = ("reply", "first_reply", "patience", "think", "close_after")
"""The channel distributions a calibration may scale: durations drawn into the trace."""

AGENT_KEYS = ("slowdown", "reply_factor")
"""The agent-group keys a calibration may vary."""

FORMS = (
    "reply.mean, first_reply.mean, patience.mean, think.mean or close_after.mean (every channel "
    "that has it), channels.NAME.reply.mean and so on (one channel), agents.GROUP.slowdown or "
    "agents.GROUP.reply_factor"
)
"""The forms of a parameter path, for error messages."""

QUANTILES = frozenset({"frt_p50", "frt_p90", "frt_p95", "insession_p90"})
"""Observed KPIs that need the percentiles measured."""

DEFAULT_KPIS = ("service_level", "missed_rate", "frt_mean", "insession_mean")
"""What is observed from a results file unless other KPIs are named."""

RELATIVE_UNIT = 0.05
"""The unit of an observation without a confidence interval: this share of its size."""

UNIT_FLOORS: dict[Unit, float] = {
    Unit.RATE: 0.001,
    Unit.SECONDS: 0.1,
    Unit.COUNT: 1.0,
    Unit.HOURS: 0.1,
    Unit.SLOT_SECONDS: 60.0,
    Unit.MILLISECONDS: 0.1,
}
"""The smallest unit of an observation, by the KPI's unit (a missed rate observed as 0 still
has a scale)."""

Z_975 = 1.959963984540054
"""Two-sided 95% normal quantile: a 95% half-width is 1.96 standard errors."""

PENALTY = 100.0
"""The standardised residual of a KPI the model leaves undefined (nothing answered at all)."""


class CalibrationError(ValueError):
    """A calibration that cannot be run as asked. ``parameter`` names the argument at fault
    (``vary``, ``observe``, ``channels``...), which a command line turns into its own flag."""

    def __init__(self, problem: str, *, parameter: str) -> None:
        super().__init__(problem)
        self.parameter = parameter


# -- parameters ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Parameter:
    """One varied parameter (``--vary``): what it moves, its value in the scenario and its range.

    ``kind`` is ``duration`` (the distribution ``field`` of the channels in ``targets``, by its
    mean in seconds), ``slowdown`` (the last factor of group ``targets[0]``'s curve) or
    ``reply_factor`` (that group's factor).
    """

    name: str
    kind: Literal["duration", "slowdown", "reply_factor"]
    field: str
    targets: tuple[str, ...]
    start: float
    low: float
    high: float

    @property
    def touches(self) -> frozenset[tuple[str, str]]:
        """The (channel or group, key) pairs this parameter moves: two parameters may not share
        one."""
        return frozenset((target, self.field) for target in self.targets)

    def text(self, value: float | None) -> str:
        """The value as people read it: ``47.1 s``, ``1.62``."""
        if value is None or not math.isfinite(value):
            return "–"
        if self.kind == "duration":
            return f"{value:.1f} s" if value < 1000 else f"{value:,.0f} s"
        return f"{value:.3f}"

    def spread(self, value: float | None) -> str:
        """A width in the parameter's unit (a standard error)."""
        if value is None:
            return "–"
        if not math.isfinite(value):
            return "not identified"
        return self.text(value)


def parse_vary(scenario: Scenario, text: str) -> Parameter:
    """A ``--vary`` argument: ``PATH`` or ``PATH=LOW:HIGH`` (durations for means, numbers for
    factors); see the module's documentation for the paths."""
    path, sep, span = text.partition("=")
    path = path.strip()
    parts = path.split(".")
    if parts[0] == "channels":
        if len(parts) != 4 or parts[3] != "mean" or parts[2] not in FIELDS:
            raise _vary_error(text, "expected channels.NAME.FIELD.mean")
        channel = parts[1]
        if channel not in scenario.channels:
            raise CalibrationError(
                f"{path}: unknown channel {channel!r} (channels: {', '.join(scenario.channels)})",
                parameter="vary",
            )
        parameter = _duration(scenario, path, parts[2], (channel,))
    elif parts[0] == "agents":
        if len(parts) != 3 or parts[2] not in AGENT_KEYS:
            raise _vary_error(text, "expected agents.GROUP.slowdown or agents.GROUP.reply_factor")
        parameter = _agent(scenario, path, parts[1], parts[2])
    elif len(parts) == 2 and parts[0] in FIELDS and parts[1] == "mean":
        parameter = _duration(scenario, path, parts[0], tuple(scenario.channels))
    else:
        hint = ""
        if len(parts) == 1 and parts[0] in FIELDS:
            hint = f" (did you mean {parts[0]}.mean?)"
        elif parts[0] in scenario.channels:
            hint = f" (did you mean channels.{path}?)"
        elif any(parts[0] == group.group for group in scenario.agents):
            hint = f" (did you mean agents.{path}?)"
        raise _vary_error(text, f"unknown parameter{hint}")
    if not sep:
        return parameter
    low, high = _span(scenario, parameter, span)
    return replace(parameter, low=low, high=high)


def _vary_error(text: str, problem: str) -> CalibrationError:
    return CalibrationError(f"{text!r}: {problem}; a parameter is one of {FORMS}", parameter="vary")


def _duration(scenario: Scenario, path: str, name: str, channels: Sequence[str]) -> Parameter:
    """A channel distribution's mean over ``channels`` (those that have it with a positive
    mean)."""
    means = {}
    for channel in channels:
        dist = getattr(scenario.channels[channel], name)
        if dist is not None and dist.mean_value > 0:
            means[channel] = float(dist.mean_value)
    if not means:
        if len(channels) == 1:
            dist = getattr(scenario.channels[channels[0]], name)
            problem = (
                f"channel {channels[0]!r} has no {name}"
                if dist is None
                else f"channel {channels[0]!r} has a {name} of 0 s: a scale of it stays 0"
            )
        else:
            problem = f"no channel has a {name} with a positive mean to scale"
        raise CalibrationError(f"{path}: {problem}", parameter="vary")
    start = sum(means.values()) / len(means)
    return Parameter(path, "duration", name, tuple(means), start, start / 4, start * 4)


def _agent(scenario: Scenario, path: str, group_name: str, key: str) -> Parameter:
    groups = {group.group: group for group in scenario.agents}
    group = groups.get(group_name)
    if group is None:
        raise CalibrationError(
            f"{path}: unknown agent group {group_name!r} (groups: {', '.join(groups)})",
            parameter="vary",
        )
    if key == "reply_factor":
        value = group.reply_factor
        return Parameter(path, "reply_factor", key, (group_name,), value, value / 4, value * 4)
    factors = group.slowdown_factors
    if len(factors) < 2:
        raise CalibrationError(
            f"{path}: group {group_name!r} holds one chat at a time (max_chats 1): there is no "
            "slowdown curve to vary (vary its reply_factor)",
            parameter="vary",
        )
    last = factors[-1]
    if last == 1.0 and any(f != 1.0 for f in factors):
        raise CalibrationError(
            f"{path}: the curve {list(factors)} ends at 1, so its last factor cannot scale it",
            parameter="vary",
        )
    low, high = min(1.0, last), max(2.0, 1.0 + 4 * (last - 1.0))
    return Parameter(path, "slowdown", key, (group_name,), last, low, high)


def _span(scenario: Scenario, parameter: Parameter, span: str) -> tuple[float, float]:
    low_text, colon, high_text = span.partition(":")
    where = f"{parameter.name}={span}"
    unit = "durations such as 20s:90s" if parameter.kind == "duration" else "numbers such as 1:2"
    if not colon:
        raise CalibrationError(f"{where}: expected a range LOW:HIGH ({unit})", parameter="vary")
    try:
        if parameter.kind == "duration":
            low, high = parse_duration(low_text), parse_duration(high_text)
        else:
            low, high = float(low_text), float(high_text)
    except ValueError as error:
        raise CalibrationError(f"{where}: {error}", parameter="vary") from None
    if not (math.isfinite(low) and math.isfinite(high)) or low <= 0 or high <= low:
        raise CalibrationError(
            f"{where}: expected 0 < LOW < HIGH ({unit}), got {low:g} and {high:g}",
            parameter="vary",
        )
    if parameter.kind == "slowdown":
        group = next(g for g in scenario.agents if g.group == parameter.targets[0])
        if min(slowdown_curve(group.slowdown_factors, low)) <= 0:
            raise CalibrationError(
                f"{where}: at {low:g} the curve would have a factor at or below 0", parameter="vary"
            )
    return low, high


def slowdown_curve(factors: Sequence[float], last: float) -> tuple[float, ...]:
    """The curve ``factors`` with its last factor moved to ``last``, each factor's excess over 1
    scaled alike; a flat curve (all 1) becomes a straight line from 1 to ``last``."""
    end = factors[-1]
    if all(f == 1.0 for f in factors):
        k = len(factors)
        return tuple(1.0 + (last - 1.0) * i / (k - 1) for i in range(k))
    scale = (last - 1.0) / (end - 1.0)
    return tuple(1.0 + (f - 1.0) * scale for f in factors)


def check_parameters(parameters: Sequence[Parameter]) -> None:
    """At least one parameter, and no two moving the same thing."""
    if not parameters:
        raise CalibrationError("give at least one parameter to vary", parameter="vary")
    seen: dict[tuple[str, str], str] = {}
    for parameter in parameters:
        for touched in parameter.touches:
            if touched in seen:
                owner, key = touched
                raise CalibrationError(
                    f"{seen[touched]} and {parameter.name} both move {owner}'s {key}: vary it once",
                    parameter="vary",
                )
            seen[touched] = parameter.name


# -- observations -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Observation:
    """One observed KPI: in total (``channel`` None), for a channel, or in one interval
    (``interval`` its index, ``at`` its clock label; ``channel`` ``"all"`` for the total row).
    ``half_width`` is the observed value's 95% half-width, when known: a Student t half-width
    over ``replications`` when it comes from a results file of that many, else a normal one."""

    kpi: str
    value: float
    channel: str | None = None
    interval: int | None = None
    at: str | None = None
    half_width: float | None = None
    replications: int | None = None

    @property
    def label(self) -> str:
        """``service_level``, ``frt_mean[whatsapp]``, ``missed_rate@10:00``."""
        where = f"[{self.channel}]" if self.channel not in (None, ALL) else ""
        when = f"@{self.at}" if self.at is not None else ""
        return f"{self.kpi}{where}{when}"

    @property
    def unit(self) -> float:
        """What one standardised difference is worth, in the KPI's own unit: the observation's
        standard error when it has a half-width, else 5% of its size (a rate's smaller side),
        at least the unit's floor."""
        if self.half_width is not None and self.half_width > 0:
            return self.standard_error
        kind = BY_KEY[self.kpi].unit
        size = min(self.value, 1.0 - self.value) if kind is Unit.RATE else abs(self.value)
        return max(RELATIVE_UNIT * size, UNIT_FLOORS[kind])

    @property
    def standard_error(self) -> float:
        """The observation's own standard error (0 when it has no half-width: taken as exact)."""
        if not self.half_width:
            return 0.0
        if self.replications is not None and self.replications > 1:
            return self.half_width / t_quantile(self.replications - 1)
        return self.half_width / Z_975


def parse_observation(scenario: Scenario, text: str) -> Observation:
    """``KPI=VALUE`` (the total), ``KPI[CHANNEL]=VALUE``, with an optional 95% half-width
    ``VALUE±H`` (or ``+-H``). Rates are fractions or percentages (``0.936``, ``93.6%``), times
    durations (``33s``, ``1m``)."""
    name, sep, value_text = text.partition("=")
    name = name.strip()
    if not sep or not value_text.strip():
        raise CalibrationError(
            f"{text!r}: expected KPI=VALUE or KPI[CHANNEL]=VALUE, such as service_level=0.936 "
            "or frt_mean[whatsapp]=33s",
            parameter="observe",
        )
    channel = None
    if name.endswith("]") and "[" in name:
        name, _, rest = name.partition("[")
        channel = rest[:-1].strip()
        name = name.strip()
    kpi = _kpi(name, "observe")
    if channel is not None:
        if channel not in scenario.channels:
            raise CalibrationError(
                f"{text!r}: unknown channel {channel!r} (channels: {', '.join(scenario.channels)})",
                parameter="observe",
            )
        if BY_KEY[kpi].agents:
            raise CalibrationError(
                f"{text!r}: {kpi} belongs to agents, not to a channel: observe it in total",
                parameter="observe",
            )
    value, half = _value_and_half_width(kpi, value_text, text)
    return Observation(kpi, value, channel, half_width=half)


def _kpi(name: str, parameter: str) -> str:
    if name in BY_KEY:
        return name
    close = difflib.get_close_matches(name, KEYS, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else f" (KPIs: {', '.join(KEYS)})"
    raise CalibrationError(f"unknown KPI {name!r}{hint}", parameter=parameter)


def _value_and_half_width(kpi: str, text: str, whole: str) -> tuple[float, float | None]:
    for separator in ("±", "+/-", "+-"):
        if separator in text:
            value_text, _, half_text = text.partition(separator)
            value = _kpi_value(kpi, value_text, whole)
            half = _kpi_value(kpi, half_text, whole, half=True)
            return value, half
    return _kpi_value(kpi, text, whole), None


def _kpi_value(kpi: str, text: str, whole: str, *, half: bool = False) -> float:
    unit = BY_KEY[kpi].unit
    text = text.strip()
    what = "half-width" if half else "value"
    try:
        if unit is Unit.RATE:
            number = float(text[:-1]) / 100 if text.endswith("%") else float(text)
        elif unit in (Unit.SECONDS, Unit.SLOT_SECONDS):
            number = parse_duration(text)
        else:
            number = float(text)
    except ValueError as error:
        detail = str(error) if unit in (Unit.SECONDS, Unit.SLOT_SECONDS) else f"{text!r}"
        kind = {Unit.RATE: "a rate such as 0.936 or 93.6%", Unit.SECONDS: "a duration"}.get(
            unit, "a number"
        )
        raise CalibrationError(
            f"{whole!r}: the {what} of {kpi} must be {kind} ({detail})", parameter="observe"
        ) from None
    if not math.isfinite(number) or number < 0:
        raise CalibrationError(
            f"{whole!r}: the {what} of {kpi} must be a non-negative number", parameter="observe"
        )
    if unit is Unit.RATE and number > 1 and not half:
        raise CalibrationError(
            f"{whole!r}: {kpi} is a rate, at most 1 (or 100%), got {number:g}", parameter="observe"
        )
    return number


def observations_from_results(
    results: Results,
    scenario: Scenario,
    kpis: Sequence[str] = DEFAULT_KPIS,
    channels: Collection[str] | None = None,
    *,
    per_interval: bool = False,
) -> list[Observation]:
    """Observations from a results file (a replay's, or an operator's export in the same
    shape): ``kpis`` per channel (those of ``channels`` when given), with the file's 95%
    half-widths; with ``per_interval`` per channel and interval instead of over the day. A KPI
    the file leaves undefined (``null``) is not observed."""
    known = [_kpi(k, "observe_kpi") for k in kpis]
    foreign = sorted(set(results.channels) - set(scenario.channels))
    chosen = [c for c in results.channels if channels is None or c in channels]
    if foreign and channels is None:
        raise CalibrationError(
            f"the results have channels the scenario does not: {', '.join(foreign)} (choose "
            "channels with --channel)",
            parameter="observe_results",
        )
    chosen = [c for c in chosen if c in scenario.channels]
    if not chosen:
        raise CalibrationError(
            "the results have none of the chosen channels", parameter="observe_results"
        )
    found: list[Observation] = []
    for key in known:
        if BY_KEY[key].agents:
            raise CalibrationError(
                f"{key} belongs to agents, not to a channel: observe it in total with --observe",
                parameter="observe_kpi",
            )

    def observe(table: dict[str, Any], channel: str, **where: Any) -> None:
        """An observation of every known KPI ``table`` defines, with its half-width."""
        for key in known:
            stat = table.get(key) or {}
            mean = stat.get("mean")
            if mean is not None:
                found.append(
                    Observation(
                        key,
                        mean,
                        channel,
                        half_width=stat.get("ci95"),
                        replications=results.replications,
                        **where,
                    )
                )

    if not per_interval:
        for name in chosen:
            observe(results.channels[name], name)
        return found
    if abs(results.interval - scenario.interval) > 1e-9:
        raise CalibrationError(
            f"the results' intervals are {results.interval:g}s, the scenario's "
            f"{scenario.interval:g}s",
            parameter="observe_results",
        )
    for row in results.intervals:
        row_channel = row.get("channel")
        if row_channel not in chosen or row.get("index") is None:
            continue
        observe(row, str(row_channel), interval=int(row["index"]), at=str(row.get("start", "")))
    return found


def observations_from_history(
    history: History,
    scenario: Scenario,
    kpis: Sequence[str] = DEFAULT_KPIS,
    channels: Collection[str] | None = None,
) -> list[Observation]:
    """Observations from conversation logs themselves (:mod:`sim.history`), per channel, with
    normal 95% half-widths over the conversations they count.

    Offered: every conversation a bot did not contain. Answered: a first response before any
    abandonment the logs saw. Service level: answered within the channel's
    ``first_response_target`` of queue entry. First response: from queue entry, over the
    answered. In-session response: the logged ``insession_responses``, or from the message log
    each later customer message's wait for the next agent message. On a channel whose customers
    leave silently (a messenger) the logs cannot tell a late answer to someone who had left from
    an answer, so its missed rate and service level would be biased; they are not observed
    there (``chatsim fit`` estimates those customers' patience from the turns instead).
    """
    known = [_kpi(k, "observe_kpi") for k in kpis]
    by_channel: dict[str, list[LoggedConversation]] = {}
    for conversation in history.conversations:
        by_channel.setdefault(conversation.channel, []).append(conversation)
    chosen = [name for name in scenario.channels if (channels is None or name in channels)]
    found: list[Observation] = []
    for name in chosen:
        logged = [c for c in by_channel.get(name, []) if not c.bot_contained]
        if not logged:
            continue
        channel = scenario.channels[name]
        entries = [c.queue_entry for c in logged]
        responded = [
            (c.first_response_at - entry)  # type: ignore[operator]  # not bot-contained
            if c.first_response_at is not None
            and (c.abandoned_at is None or c.abandoned_at >= c.first_response_at)
            else None
            for c, entry in zip(logged, entries, strict=True)
        ]
        answered = np.array([r for r in responded if r is not None], dtype=float)
        offered = len(logged)
        values: dict[str, tuple[float, float]] = {}
        if not channel.silent:
            missed = 1.0 - answered.size / offered
            on_time = float((answered <= channel.first_response_target).sum()) / offered
            values["missed_rate"] = (missed, _binomial_half_width(missed, offered))
            values["service_level"] = (on_time, _binomial_half_width(on_time, offered))
        if answered.size:
            values["frt_mean"] = (float(answered.mean()), _mean_half_width(answered))
        insession = np.array(_insession(logged, history), dtype=float)
        if insession.size:
            values["insession_mean"] = (float(insession.mean()), _mean_half_width(insession))
        for key in known:
            if key in values:
                value, half = values[key]
                found.append(Observation(key, value, name, half_width=half or None))
    return found


def _binomial_half_width(p: float, n: int) -> float:
    return Z_975 * math.sqrt(max(p * (1 - p), 0.25 / n) / n)


def _mean_half_width(values: np.ndarray) -> float:
    return Z_975 * float(values.std(ddof=1)) / math.sqrt(values.size) if values.size > 1 else 0.0


def _insession(logged: Sequence[LoggedConversation], history: History) -> list[float]:
    """Each later customer message's wait for the next agent message."""
    waits: list[float] = []
    for conversation in logged:
        if conversation.insession_responses is not None:
            waits.extend(conversation.insession_responses)
            continue
        thread = sorted(history.messages.get(conversation.id, ()), key=lambda m: m.at)
        answered_once = False
        waiting_since: float | None = None
        for message in thread:
            if message.sender == "agent":
                if waiting_since is not None and answered_once:
                    waits.append(message.at - waiting_since)
                waiting_since = None
                answered_once = True
            elif message.sender == "customer" and waiting_since is None:
                waiting_since = message.at
    return waits


def check_observations(
    scenario: Scenario,
    observations: Sequence[Observation],
    parameters: Sequence[Parameter],
    channels: Collection[str] | None,
) -> None:
    """Enough observations for the parameters, each once, each inside the measured scope."""
    if channels is not None:
        unknown = sorted(set(channels) - set(scenario.channels))
        if unknown:
            raise CalibrationError(
                f"unknown channel {unknown[0]!r} (channels: {', '.join(scenario.channels)})",
                parameter="channels",
            )
    seen: set[tuple[str, str | None, int | None]] = set()
    for observation in observations:
        key = (observation.kpi, observation.channel, observation.interval)
        if key in seen:
            raise CalibrationError(f"{observation.label} is observed twice", parameter="observe")
        seen.add(key)
        if (
            channels is not None
            and observation.channel not in (None, ALL)
            and observation.channel not in channels
        ):
            raise CalibrationError(
                f"{observation.label}: channel {observation.channel!r} is outside the channels "
                f"measured ({', '.join(channels)})",
                parameter="observe",
            )
    if len(observations) < len(parameters):
        raise CalibrationError(
            f"{len(parameters)} parameters varied but only {len(observations)} KPI"
            f"{'s' if len(observations) != 1 else ''} observed: observe at least as many KPIs as "
            "parameters are varied",
            parameter="observe",
        )


# -- candidates: a scenario and a rescaled trace -----------------------------------------------


@dataclass(frozen=True, slots=True)
class TraceScale:
    """Rescales a drawn trace's durations per channel (common random numbers: the same draws,
    another mean). ``factors`` holds, per channel, the factors of the first reply, the later
    replies, patience, think time and ``close_after``. Picklable, for the runner's workers."""

    factors: tuple[tuple[str, tuple[float, float, float, float, float]], ...]

    def __bool__(self) -> bool:
        return any(any(f != 1.0 for f in factors) for _, factors in self.factors)

    def __call__(self, trace: Trace) -> Trace:
        table = {name: factors for name, factors in self.factors if any(f != 1.0 for f in factors)}
        columns = trace.columns
        patience, close_after = columns.patience.copy(), columns.close_after.copy()
        think, reply = columns.think.copy(), columns.reply.copy()
        turns, owner, first = columns.turn_places()
        for name in columns.channels:
            factors = table.get(name)
            if factors is None:
                continue
            first_reply, later_reply, patience_factor, think_factor, close_factor = factors
            rows = columns.on({name})
            patience[rows] *= patience_factor
            close_after[rows] *= close_factor
            mine = rows[owner]
            think[turns[mine]] *= think_factor
            reply[turns[mine & first]] *= first_reply
            reply[turns[mine & ~first]] *= later_reply
        scaled = replace(
            columns,
            patience=patience,
            close_after=close_after,
            think=think,
            reply=reply,
        )
        return Trace(trace.header, columns=scaled)


Dist = Constant | Exponential | Uniform | Lognormal | Gamma | Empirical


def round_duration(seconds: float) -> float:
    """A fitted duration as it is written: to 0.01 s below 10 s, 0.1 s below 100 s, whole
    seconds above (a relative change of at most 0.5%, near 100 s; far less than what the fit
    itself is sure of). The KPIs reported as calibrated are those of the rounded values."""
    if seconds < 10:
        return round(seconds, 2)
    return round(seconds, 1) if seconds < 100 else float(round(seconds))


def scale_distribution(dist: Dist, factor: float, *, rounded: bool = False) -> Dist:
    """``dist`` with its mean times ``factor`` and the same cv (rounded as written)."""
    r: Callable[[float], float] = round_duration if rounded else (lambda x: x)
    if isinstance(dist, Constant):
        return dist.model_copy(update={"value": r(dist.value * factor)})
    if isinstance(dist, Uniform):
        return dist.model_copy(update={"low": r(dist.low * factor), "high": r(dist.high * factor)})
    if isinstance(dist, Empirical):
        return dist.model_copy(update={"values": [r(v * factor) for v in dist.values]})
    return dist.model_copy(update={"mean": r(dist.mean * factor)})


def round_factor(value: float) -> float:
    """A fitted factor as it is written: three decimals."""
    return round(value, 3)


def apply(
    scenario: Scenario,
    parameters: Sequence[Parameter],
    values: Sequence[float],
    *,
    rounded: bool = False,
) -> tuple[Scenario, TraceScale]:
    """The candidate scenario at ``values`` and the rescaling of traces drawn from
    ``scenario`` that plays it; ``rounded``: with the values as they are written (the trace
    factors then follow the rounded means)."""
    channels: dict[str, Channel] = dict(scenario.channels)
    groups: dict[str, AgentGroup] = {group.group: group for group in scenario.agents}
    factors = {name: dict.fromkeys(FIELDS, 1.0) for name in scenario.channels}
    for parameter, value in zip(parameters, values, strict=True):
        if parameter.kind == "duration":
            for name in parameter.targets:
                dist = getattr(channels[name], parameter.field)
                new = scale_distribution(dist, value / parameter.start, rounded=rounded)
                factors[name][parameter.field] = new.mean_value / dist.mean_value
                channels[name] = channels[name].model_copy(update={parameter.field: new})
            continue
        group = groups[parameter.targets[0]]
        if parameter.kind == "reply_factor":
            groups[group.group] = group.model_copy(
                update={"reply_factor": round_factor(value) if rounded else value}
            )
        else:
            curve = slowdown_curve(group.slowdown_factors, value)
            if rounded:
                curve = tuple(round_factor(f) for f in curve)
            groups[group.group] = group.model_copy(update={"slowdown": list(curve)})
    candidate = scenario.model_copy(
        update={"channels": channels, "agents": [groups[g.group] for g in scenario.agents]}
    )
    scale = TraceScale(
        tuple(
            (
                name,
                (
                    f["first_reply"] if scenario.channels[name].first_reply else f["reply"],
                    f["reply"],
                    f["patience"],
                    f["think"],
                    f["close_after"],
                ),
            )
            for name, f in factors.items()
        )
    )
    return candidate, scale


# -- the search ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Evaluation:
    """One candidate, simulated on every replication: its parameter values, the observed KPIs'
    means over replications (``simulated``) and per replication (``per_replication[r][i]``),
    and the standardised residuals."""

    values: tuple[float, ...]
    simulated: tuple[float | None, ...]
    per_replication: tuple[tuple[float | None, ...], ...]
    residuals: tuple[float, ...]

    @property
    def objective(self) -> float:
        """Sum of the squared standardised differences."""
        return float(sum(r * r for r in self.residuals))

    def ci95(self, i: int) -> float | None:
        """The 95% half-width of observation ``i``'s simulated mean over replications."""
        return summarise([row[i] for row in self.per_replication]).get("ci95")


@dataclass(slots=True)
class Calibration:
    """What a calibration found.

    ``fitted`` are the parameter values at the optimum, ``standard_errors`` their standard
    errors (``inf``: not identified by the observed KPIs; ``None``: no noise to propagate, with
    one replication and exact observations). ``start`` is the first candidate (the scenario's
    own values, moved into the ranges), ``best`` the optimum, ``written`` the calibrated
    scenario as written (values rounded) on the same traces. ``evaluations`` is the path of the
    search, in order.
    """

    original: Scenario
    scenario: Scenario
    parameters: list[Parameter]
    observations: list[Observation]
    fitted: tuple[float, ...]
    standard_errors: tuple[float | None, ...]
    correlation: list[list[float]] | None
    start: Evaluation
    best: Evaluation
    written: Evaluation
    evaluations: list[Evaluation]
    replications: int
    seed: int
    step: float
    converged: bool
    message: str
    channels: tuple[str, ...] | None = None
    notes: list[str] = field(default_factory=list)

    def interval(self, i: int) -> tuple[float, float] | None:
        """The 95% interval of parameter ``i`` (+-1.96 standard errors, within its range)."""
        se = self.standard_errors[i]
        if se is None or not math.isfinite(se):
            return None
        p, value = self.parameters[i], self.fitted[i]
        return max(p.low, value - Z_975 * se), min(p.high, value + Z_975 * se)

    def at_bound(self, i: int) -> bool:
        """Whether parameter ``i`` ended on its range's edge (the optimum may lie beyond)."""
        p, value = self.parameters[i], self.fitted[i]
        return bool(value <= p.low * (1 + 1e-6) or value >= p.high * (1 - 1e-6))


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' if n != 1 else ''}"


class _OutOfEvaluations(Exception):
    """The search has spent its evaluations."""


def _observed_values(
    measurement: Measurement, observations: Sequence[Observation]
) -> tuple[float | None, ...]:
    """The observed KPIs as one run measured them (None where undefined)."""
    rows = {(row["index"], row["channel"]): row for row in measurement["intervals"]}
    values: list[float | None] = []
    for o in observations:
        if o.interval is None:
            table = (
                measurement["total"] if o.channel is None else measurement["channels"][o.channel]
            )
            values.append(table.get(o.kpi))
            continue
        row = rows.get((o.interval, o.channel or ALL))
        value = None if row is None else row.get(o.kpi)
        values.append(None if value is None else float(value))
    return tuple(values)


def calibrate(
    scenario: Scenario,
    parameters: Sequence[Parameter],
    observations: Sequence[Observation],
    *,
    replications: int = 3,
    seed: int = 1,
    jobs: int = 1,
    executor: Executor | None = None,
    channels: Collection[str] | None = None,
    max_evaluations: int = 60,
    step: float = 0.05,
    on_evaluation: Callable[[int, float], None] | None = None,
) -> Calibration:
    """Fit ``parameters`` of ``scenario`` to ``observations`` (see the module's documentation).

    ``channels`` is the scope of the observed totals (default every channel).
    ``on_evaluation`` is called after each model evaluation with the number done and the best
    objective so far (for progress bars).
    """
    check_parameters(parameters)
    check_observations(scenario, observations, parameters, channels)
    if replications < 1:
        raise CalibrationError("at least 1 replication", parameter="replications")
    if max_evaluations < 2 * (len(parameters) + 1):
        raise CalibrationError(
            f"at least {2 * (len(parameters) + 1)} evaluations for {len(parameters)} "
            "parameters (a start, a Jacobian and a step)",
            parameter="max_evaluations",
        )
    if not 0 < step < 0.5:
        raise CalibrationError(
            f"expected a relative step in (0, 0.5), got {step:g}", parameter="step"
        )
    scope = frozenset(channels) if channels is not None else None
    quantiles = any(o.kpi in QUANTILES for o in observations)
    starts = np.array([p.start for p in parameters], dtype=float)
    lower = np.array([p.low for p in parameters], dtype=float) / starts
    upper = np.array([p.high for p in parameters], dtype=float) / starts
    x0 = np.clip(np.ones(len(parameters)), lower, upper)
    observed = np.array([o.value for o in observations])
    units = np.array([o.unit for o in observations])
    evaluations: list[Evaluation] = []
    cache: dict[tuple[float, ...], Evaluation] = {}
    notes: list[str] = []

    traffic = Traffic(scenario, seed, replications)
    with Runner(traffic, jobs=jobs, executor=executor, keep_traces=True) as runner:

        def evaluate(values: np.ndarray, rounded: bool = False) -> Evaluation:
            candidate, scale = apply(scenario, parameters, values.tolist(), rounded=rounded)
            batch = runner.run(
                candidate, [scope], quantiles=quantiles, adjust=scale if scale else None
            )
            rows = tuple(_observed_values(m, observations) for m in batch.measurements[0])
            means = tuple(
                summarise([row[i] for row in rows])["mean"] for i in range(len(observations))
            )
            residuals = tuple(
                PENALTY if mean is None else float((mean - observed[i]) / units[i])
                for i, mean in enumerate(means)
            )
            return Evaluation(tuple(values.tolist()), means, rows, residuals)

        def residuals(x: np.ndarray) -> np.ndarray:
            key = tuple(x.tolist())
            found = cache.get(key)
            if found is None:
                if len(evaluations) >= max_evaluations:
                    raise _OutOfEvaluations
                found = cache[key] = evaluate(x * starts)
                evaluations.append(found)
                if on_evaluation is not None:
                    on_evaluation(len(evaluations), min(e.objective for e in evaluations))
            return np.array(found.residuals)

        jacobian: np.ndarray | None
        try:
            result = least_squares(
                residuals,
                x0,
                bounds=(lower, upper),
                method="trf",
                diff_step=step,
                xtol=step / 10,
                ftol=1e-3,
                max_nfev=max_evaluations,
            )
            x, jacobian = np.asarray(result.x), np.asarray(result.jac)
            converged, message = bool(result.status > 0), str(result.message)
        except _OutOfEvaluations:
            key = min(cache, key=lambda k: cache[k].objective)
            x = np.array(key)
            converged, jacobian = False, None
            message = f"stopped after {max_evaluations} evaluations (the best point is reported)"
        best = cache.get(tuple(x.tolist())) or evaluate(x * starts)
        if jacobian is None:  # forward differences at the best point, beyond the budget
            notes.append(
                f"the Jacobian for the uncertainty took {_count(len(parameters), 'evaluation')} "
                "beyond the budget"
            )
            columns = []
            for j in range(len(parameters)):
                h = step * max(1.0, abs(x[j]))
                moved = x.copy()
                moved[j] = x[j] + h if x[j] + h <= upper[j] else x[j] - h
                other = evaluate(moved * starts)
                columns.append(
                    (np.array(other.residuals) - np.array(best.residuals)) / (moved[j] - x[j])
                )
            jacobian = np.column_stack(columns)
        fitted = x * starts
        written = evaluate(fitted, rounded=True)
        if written.objective > best.objective + 0.5:
            notes.append(
                f"the best point evaluated has objective {best.objective:.3g}, the scenario as "
                f"written (values rounded) {written.objective:.3g}: on fixed traces the model "
                "is rough on scales this small, so differences of this size are noise"
            )
    calibrated, _ = apply(scenario, parameters, fitted.tolist(), rounded=True)
    standard_errors, correlation = _uncertainty(
        jacobian / starts[None, :], best, observations, units, notes
    )
    return Calibration(
        original=scenario,
        scenario=calibrated,
        parameters=list(parameters),
        observations=list(observations),
        fitted=tuple(fitted.tolist()),
        standard_errors=standard_errors,
        correlation=correlation,
        start=evaluations[0],
        best=best,
        written=written,
        evaluations=evaluations,
        replications=replications,
        seed=seed,
        step=step,
        converged=converged,
        message=message,
        channels=tuple(channels) if channels is not None else None,
        notes=notes,
    )


def _uncertainty(
    jacobian: np.ndarray,
    best: Evaluation,
    observations: Sequence[Observation],
    units: np.ndarray,
    notes: list[str],
) -> tuple[tuple[float | None, ...], list[list[float]] | None]:
    """Standard errors (and correlations) of the fitted values: the KPIs' replication noise and
    the observations' own noise, propagated through the pseudo-inverse of the Jacobian of the
    standardised residuals (in the parameters' own units)."""
    p = jacobian.shape[1]
    rows = np.array(
        [[np.nan if v is None else v for v in row] for row in best.per_replication], dtype=float
    )
    n = rows.shape[0]
    errors = np.array([o.standard_error for o in observations])
    noise = np.diag(errors**2)
    if n >= 2:
        masked = np.ma.masked_invalid(rows)
        covariance = np.ma.filled(
            np.ma.cov(masked, rowvar=False, allow_masked=True),  # type: ignore[no-untyped-call]
            0.0,
        ).reshape(len(observations), len(observations))
        counts = (~np.isnan(rows)).sum(axis=0).clip(min=1)
        m = len(observations)
        shrink = max(0.0, 1.0 - (n - 1) / m)
        if shrink > 0:
            # n replications give a covariance of rank n - 1 at most: with fewer than the KPIs
            # it would declare some combination of them noiseless, and a parameter along it
            # exact. Shrunk towards its diagonal (independent KPIs) by the missing share.
            covariance = (1 - shrink) * covariance + shrink * np.diag(np.diag(covariance))
            notes.append(
                f"{n} replications cannot estimate how {m} KPIs move together: their "
                f"covariance is taken {100 * shrink:.0f}% as if independent (standard errors "
                "may be narrow)"
            )
        spread = np.sqrt(np.clip(np.diag(covariance), 0.0, None))
        with np.errstate(invalid="ignore", divide="ignore"):
            correlation = np.nan_to_num(covariance / np.outer(spread, spread), nan=0.0)
        np.fill_diagonal(correlation, 1.0)
        # The observations' errors are taken to move together as the simulated KPIs do over
        # replications (a busy day is worse on every KPI): independent errors would average out
        # over KPIs that in fact err together.
        noise = correlation * np.outer(errors, errors)
        noise = noise + covariance / np.sqrt(np.outer(counts, counts))
        if n < 5:
            notes.append(
                f"{n} replications estimate the KPIs' noise with "
                f"{_count(n - 1, 'degree')} of freedom: the "
                f"standard errors are rough (about ±{100 / math.sqrt(2 * (n - 1)):.0f}% "
                "themselves; -n 5 or more for firmer ones)"
            )
    else:
        notes.append("one replication: the KPIs' replication noise is unknown (use -n 2 or more)")
    if not noise.any():
        return (None,) * p, None
    scaled = noise / np.outer(units, units)
    norms = np.linalg.norm(jacobian, axis=0)
    lost = [j for j in range(p) if not np.isfinite(norms[j]) or norms[j] == 0.0]
    inverse = np.linalg.pinv(jacobian, rcond=1e-10)
    cov = inverse @ scaled @ inverse.T
    found: list[float | None] = [float(math.sqrt(max(cov[j, j], 0.0))) for j in range(p)]
    singular = np.linalg.svd(jacobian, compute_uv=False)
    if len(singular) and singular[-1] <= 1e-9 * singular[0]:
        notes.append(
            "the observed KPIs do not tell all varied parameters apart (their effects "
            "are proportional): the uncertainty holds along the others only"
        )
    for j in lost:
        found[j] = math.inf
    with np.errstate(invalid="ignore", divide="ignore"):
        d = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        together = np.nan_to_num(cov / np.outer(d, d), nan=0.0)
    return tuple(found), together.round(3).tolist()


# -- writing the calibrated scenario -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Edit:
    """Set ``key`` of the mapping at ``path`` (keys and list indices from the document's root)
    to ``text``, a YAML value."""

    path: tuple[str | int, ...]
    key: str
    text: str


def edits(calibration: Calibration) -> list[Edit]:
    """The changes that turn the original scenario file into the calibrated one."""
    found: list[Edit] = []
    for parameter in calibration.parameters:
        if parameter.kind == "duration":
            for name in parameter.targets:
                old = getattr(calibration.original.channels[name], parameter.field)
                new = getattr(calibration.scenario.channels[name], parameter.field)
                path: tuple[str | int, ...] = ("channels", name, parameter.field)
                for key, value in _changed_fields(old, new):
                    found.append(Edit(path, key, value))
            continue
        index = next(
            i for i, g in enumerate(calibration.scenario.agents) if g.group == parameter.targets[0]
        )
        group = calibration.scenario.agents[index]
        text = (
            f"{group.reply_factor:g}"
            if parameter.kind == "reply_factor"
            else "[" + ", ".join(f"{f:g}" for f in group.slowdown_factors) + "]"
        )
        found.append(Edit(("agents", index), parameter.field, text))
    return found


def _changed_fields(old: Dist, new: Dist) -> list[tuple[str, str]]:
    if isinstance(new, Constant):
        return [("value", format_duration(new.value))]
    if isinstance(new, Uniform):
        return [("low", format_duration(new.low)), ("high", format_duration(new.high))]
    if isinstance(new, Empirical):
        return [("values", "[" + ", ".join(format_duration(v) for v in new.values) + "]")]
    assert not isinstance(old, Constant | Uniform | Empirical)
    return [("mean", format_duration(new.mean))]


class RewriteError(ValueError):
    """The file's text cannot be edited in place (a key reached through an alias or a merge,
    say); write a fresh file instead."""


def rewrite_scenario(text: str, changes: Sequence[Edit], header: Sequence[str] = ()) -> str:
    """The scenario file's ``text`` with only ``changes`` made: each value replaced where it is
    written, or a key added to its mapping, so that comments, anchors and layout stay. ``header``
    lines are prepended as comments. Raises :class:`RewriteError` when a change cannot be placed;
    the caller should check that the result reads as the calibrated scenario (an anchor shared
    with a part that was not calibrated would move that part too)."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as error:
        raise RewriteError(f"cannot parse the file: {error}") from None
    spans: dict[tuple[int, int], str] = {}
    for change in changes:
        if root is None:
            raise RewriteError("the file is empty")
        node: yaml.Node = root
        for part in change.path:
            node = _child_node(node, part, change)
        if not isinstance(node, yaml.MappingNode):
            raise RewriteError(f"{_where(change)} is not a mapping")
        pairs = [(k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)]
        value = next((v for k, v in pairs if k.value == change.key), None)
        if value is not None:
            span = (value.start_mark.index, value.end_mark.index)
            spans[span] = change.text if span not in spans or spans[span] == change.text else ""
            if not spans[span]:
                raise RewriteError(f"{_where(change)}.{change.key} is shared with another change")
            continue
        spans[_insertion(text, node, change)] = _inserted(node, change)
    ordered = sorted(spans.items(), reverse=True)
    for (before, _), (after, _) in zip(ordered[1:], ordered, strict=False):
        if before[1] > after[0]:
            raise RewriteError("two changes overlap")
    edited = text
    for (begin, end), replacement in ordered:
        edited = edited[:begin] + replacement + edited[end:]
    lines = "".join(f"# {line}".rstrip() + "\n" for line in header)
    return lines + ("#\n" if lines else "") + edited


def _where(change: Edit) -> str:
    return ".".join(str(p) for p in change.path)


def _child_node(node: yaml.Node, part: str | int, change: Edit) -> yaml.Node:
    if isinstance(part, int) and isinstance(node, yaml.SequenceNode) and part < len(node.value):
        child: yaml.Node = node.value[part]
        return child
    if isinstance(part, str) and isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == part:
                found: yaml.Node = value
                return found
    raise RewriteError(f"{_where(change)}: not written in the file as such (a merge key?)")


def _insertion(text: str, node: yaml.MappingNode, change: Edit) -> tuple[int, int]:
    """Where a new key goes: before a flow mapping's ``}``, or on the line after the first
    one-line value of a block mapping."""
    if node.flow_style:
        end = node.end_mark.index - 1
        if text[end] != "}":
            raise RewriteError(f"{_where(change)}: cannot find the end of the mapping")
        return end, end
    for key, value in node.value:
        one_line = isinstance(value, yaml.ScalarNode) or getattr(value, "flow_style", False)
        if one_line and key.start_mark.line == value.end_mark.line:
            newline = text.find("\n", value.end_mark.index)
            position = len(text) if newline < 0 else newline + 1
            return position, position
    raise RewriteError(f"{_where(change)}: no line to add {change.key} after")


def _inserted(node: yaml.MappingNode, change: Edit) -> str:
    if node.flow_style:
        return f", {change.key}: {change.text}" if node.value else f"{change.key}: {change.text}"
    column = node.value[0][0].start_mark.column
    return f"{' ' * column}{change.key}: {change.text}\n"


def scenario_document(scenario: Scenario) -> dict[str, Any]:
    """The scenario as plain YAML data that reads back as the same scenario (clocks as
    ``"HH:MM"``, durations in seconds, defaults left out): for a fresh file when the original's
    text cannot be edited in place."""
    data: dict[str, Any] = scenario.model_dump(
        mode="json", exclude_none=True, exclude_defaults=True
    )
    # The start always: "Mon 00:00" equals the default 0.0, but its day matters.
    start = scenario.model_dump(mode="json", include={"start"})["start"]
    data = {"name": scenario.name, "start": start, **data}
    data["duration"] = scenario.duration

    def clock(value: Any) -> Any:
        if isinstance(value, float | int):
            return "24:00" if value == 86400 else format_clock(value)
        return value

    if "start" in data:
        data["start"] = clock(data["start"])
    for group in data.get("agents", []):
        for shift in group.get("shifts", []) or []:
            shift["start"], shift["end"] = clock(shift["start"]), clock(shift["end"])
            for pause in shift.get("breaks", []):
                if "at" in pause:
                    pause["at"] = clock(pause["at"])
                if "window" in pause:
                    pause["window"] = [clock(v) for v in pause["window"]]
    return data


def fresh_scenario(scenario: Scenario, header: Sequence[str] = ()) -> str:
    """The calibrated scenario as a new YAML file with ``header`` comment lines."""
    lines = "".join(f"# {line}".rstrip() + "\n" for line in header)
    body = yaml.safe_dump(scenario_document(scenario), sort_keys=False, allow_unicode=True)
    return lines + body
