"""Drawing a trace from a scenario: the random part of a day, done once, up front.

Arrivals on each channel are a Poisson process whose rate is constant within an interval
(``volume`` x the normalised profile weight, spread over the interval). A volume with its
uncertainty (``{mean, cv}``) is first drawn at the replication's level (:func:`volume_level`).
Each channel draws from its own numpy stream derived from ``(seed, replication, channel name)``,
so adding a channel or a replication never changes the others; texts and customers come from
another stream still, so skipping them (``texts=False``, as replications do) leaves every number
the same.

Times are rounded to milliseconds here, so that a trace read back from its file is exactly
the trace that was drawn.
"""

from __future__ import annotations

import math
import statistics
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import replace

import numpy as np

from sim.collector import collector_paused
from sim.scenario import Channel, Scenario
from sim.texts import Customer, TextSource
from sim.trace import NumberedIds, Trace, TraceColumns, TraceHeader

_TEXT_STREAM = 0x7E47


def stream(seed: int, replication: int, *key: int) -> np.random.Generator:
    """An independent numpy generator for one purpose of one replication."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(replication, *key)))


def channel_key(name: str) -> int:
    """A stable number for a channel name (Python's ``hash`` is salted per process)."""
    return zlib.crc32(name.encode())


VOLUME_STREAM = 0x70C5
"""Key of the stream of each replication's volume level (beside the channels' streams)."""


def volume_level(cv: float, z: float) -> float:
    """The level (a factor on the mean volume) at standard normal ``z`` of a lognormal with
    mean 1 and coefficient of variation ``cv``: a volume is never negative, and its spread
    grows with its level, as forecast errors do."""
    if cv <= 0:
        return 1.0
    sigma = math.sqrt(math.log1p(cv * cv))
    return math.exp(sigma * z - sigma * sigma / 2)


def day_factor(seed: int, replication: int) -> float:
    """The replication's standard normal volume draw, shared by every channel: a busy day is
    busy on every channel (forecast errors mostly have common causes), the conservative case
    for a planner. From a stream of its own, so that it moves no other draw."""
    return float(stream(seed, replication, VOLUME_STREAM).standard_normal())


def at_volume_quantile(scenario: Scenario, quantile: float) -> Scenario:
    """``scenario`` with every uncertain volume fixed at its ``quantile`` (0.9: a volume that
    is exceeded on one day in ten), for planning at a chosen confidence."""
    if not 0 < quantile < 1:
        raise ValueError(f"a volume quantile must be between 0 and 1, got {quantile:g}")
    z = statistics.NormalDist().inv_cdf(quantile)
    channels = {
        name: channel.model_copy(
            update={"volume": channel.mean_volume * volume_level(channel.volume_cv, z)}
        )
        for name, channel in scenario.channels.items()
    }
    return scenario.model_copy(update={"channels": channels})


def draw_arrivals(
    rng: np.random.Generator, scenario: Scenario, channel: str, level: float = 1.0
) -> np.ndarray:
    """Sorted arrival times of a piecewise-constant Poisson process over the horizon, at
    ``level`` times the channel's mean volume."""
    volume = scenario.channels[channel].mean_volume * level
    means = volume * np.asarray(scenario.weights(channel))
    counts = rng.poisson(means)
    starts = np.arange(scenario.n_intervals) * scenario.interval
    times = np.repeat(starts, counts) + rng.uniform(0.0, scenario.interval, int(counts.sum()))
    times.sort()
    return times


class _ChannelDraws:
    """The numbers of one channel's conversations, drawn column by column from its stream."""

    def __init__(
        self, rng: np.random.Generator, scenario: Scenario, name: str, z: float = 0.0
    ) -> None:
        channel: Channel = scenario.channels[name]
        self.name = name
        self.protocol = channel.protocol
        level = volume_level(channel.volume_cv, z)
        self.arrivals = np.round(draw_arrivals(rng, scenario, name, level), 3)
        n = self.n = len(self.arrivals)
        self.patience = np.round(channel.patience.sample(rng, n), 3)
        self.close_after = np.round(channel.close_after.sample(rng, n), 3)
        self.contained = np.zeros(n, dtype=bool)
        self.bot_time = np.full(n, np.nan)  # NaN: no bot
        if channel.bot is not None:
            self.contained = rng.random(n) < channel.bot.containment
            self.bot_time = np.round(channel.bot.time.sample(rng, n), 3)
        self.counts = counts = channel.turns.sample(rng, n).astype(np.int64)
        self.offsets = offsets = np.cumsum(counts) - counts
        total = int(counts.sum())
        self.think = np.round(channel.think.sample(rng, total), 3)
        self.think[offsets] = 0.0  # a conversation's first message comes with it
        self.reply = np.round(channel.reply.sample(rng, total), 3)
        if channel.first_reply is not None:
            self.reply[offsets] = np.round(channel.first_reply.sample(rng, n), 3)


def _arrival_order(draws: list[_ChannelDraws]) -> np.ndarray:
    """Which conversation stands at each place of the trace, as a row of the channels' draws
    laid end to end: ordered by arrival time, then channel name, then their order within the
    channel."""
    if len(draws) == 1:
        return np.arange(draws[0].n)
    rank = {name: r for r, name in enumerate(sorted(d.name for d in draws))}
    times = np.concatenate([d.arrivals for d in draws])
    names = np.concatenate([np.full(d.n, rank[d.name]) for d in draws])
    within = np.concatenate([np.arange(d.n) for d in draws])
    return np.lexsort((within, names, times))


def _columns(draws: list[_ChannelDraws], order: np.ndarray, ids: Sequence[str]) -> TraceColumns:
    """The trace's columns: the channels' draws laid end to end, rows taken in ``order``.
    The turns stay where they were drawn; each conversation points at its own."""

    def laid(columns: Iterable[np.ndarray]) -> np.ndarray:
        found: np.ndarray = np.concatenate(list(columns))[order]
        return found

    turns_before = np.cumsum([0, *(len(d.think) for d in draws)])
    return TraceColumns(
        ids=ids,
        channels=tuple(d.name for d in draws),
        channel=laid(np.full(d.n, c, dtype=np.int64) for c, d in enumerate(draws)),
        t=laid(d.arrivals for d in draws),
        bot_contained=laid(d.contained for d in draws),
        bot_time=laid(d.bot_time for d in draws),
        patience=laid(d.patience for d in draws),
        close_after=laid(d.close_after for d in draws),
        first_turn=laid(d.offsets + before for d, before in zip(draws, turns_before, strict=False)),
        turn_count=laid(d.counts for d in draws),
        think=np.concatenate([d.think for d in draws]),
        reply=np.concatenate([d.reply for d in draws]),
    )


def _with_texts(
    columns: TraceColumns, draws: list[_ChannelDraws], source: TextSource
) -> TraceColumns:
    """``columns`` with a customer for each conversation and a text for each turn: texts and
    customers come from one stream, in trace order."""
    protocols = [d.protocol for d in draws]
    texts = [""] * len(columns.think)
    customers: list[Customer | None] = []
    for channel, first, count in zip(
        columns.channel.tolist(),
        columns.first_turn.tolist(),
        columns.turn_count.tolist(),
        strict=True,
    ):
        customer, female = source.customer(protocols[channel])
        customers.append(customer)
        texts[first : first + count] = source.texts(count, female)
    return replace(columns, texts=texts, customers=customers)


def draw_trace(
    scenario: Scenario,
    seed: int,
    replication: int = 0,
    *,
    texts: bool = True,
    locale: str = "ru_RU",
) -> Trace:
    """Draw the conversations of one replication of ``scenario``.

    With ``texts=False`` customers are ``None`` and texts empty: the model does not read them,
    and faker is the slow part of drawing.
    """
    uncertain = any(channel.volume_cv > 0 for channel in scenario.channels.values())
    z = day_factor(seed, replication) if uncertain else 0.0
    draws = [
        _ChannelDraws(stream(seed, replication, channel_key(name)), scenario, name, z)
        for name in scenario.channels
    ]
    order = _arrival_order(draws)
    columns = _columns(draws, order, NumberedIds(len(order)))
    if texts:
        source = TextSource(seed * 1_000_003 + replication * 7919 + _TEXT_STREAM, locale)
        with collector_paused():  # faker makes many objects, none of them garbage
            columns = _with_texts(columns, draws, source)
    header = TraceHeader(
        scenario=scenario.name,
        scenario_sha256=scenario.sha256,
        seed=seed,
        start=scenario.clock(0.0),
        duration=scenario.duration,
        locale=locale,
        replication=replication,
    )
    return Trace(header, columns=columns)
