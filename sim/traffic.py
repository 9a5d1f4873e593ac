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
from collections.abc import Iterable
from itertools import repeat

import numpy as np

from sim.collector import collector_paused
from sim.scenario import Channel, Scenario
from sim.texts import Customer, TextSource
from sim.trace import BotOutcome, Conversation, Trace, TraceHeader, Turn

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


def _ms(values: np.ndarray) -> list[float]:
    return np.round(values, 3).tolist()  # type: ignore[no-any-return]


class _ChannelDraws:
    """The numbers of one channel's conversations, drawn column by column from its stream."""

    def __init__(
        self, rng: np.random.Generator, scenario: Scenario, name: str, z: float = 0.0
    ) -> None:
        channel: Channel = scenario.channels[name]
        self.name = name
        self.protocol = channel.protocol
        level = volume_level(channel.volume_cv, z)
        arrivals = draw_arrivals(rng, scenario, name, level)
        self.arrivals = np.round(arrivals, 3)
        self.times: list[float] = self.arrivals.tolist()
        n = len(self.times)
        self.patience = _ms(channel.patience.sample(rng, n))
        self.close_after = _ms(channel.close_after.sample(rng, n))
        self.bots: list[BotOutcome | None] = [None] * n
        if channel.bot is not None:
            contained = (rng.random(n) < channel.bot.containment).tolist()
            self.bots = list(map(BotOutcome, contained, _ms(channel.bot.time.sample(rng, n))))
        counts = channel.turns.sample(rng, n)
        self.counts: list[int] = counts.tolist()
        offsets = np.cumsum(counts) - counts
        self.offsets: list[int] = offsets.tolist()
        total = int(counts.sum())
        think = np.round(channel.think.sample(rng, total), 3)
        think[offsets] = 0.0  # a conversation's first message comes with it
        self.think: list[float] = think.tolist()
        self.reply = _ms(channel.reply.sample(rng, total))
        if channel.first_reply is not None:
            firsts = _ms(channel.first_reply.sample(rng, n))
            for i, p in enumerate(self.offsets):
                self.reply[p] = firsts[i]

    def turns(self) -> list[tuple[Turn, ...]]:
        """Each conversation's turns, without texts."""
        every = _made_turns(repeat(""), self.think, self.reply)
        return [tuple(every[p : p + k]) for p, k in zip(self.offsets, self.counts, strict=True)]

    def turns_with(self, i: int, messages: list[str]) -> tuple[Turn, ...]:
        """Conversation ``i``'s turns with the customer's ``messages``."""
        p, k = self.offsets[i], self.counts[i]
        return tuple(_made_turns(messages, self.think[p : p + k], self.reply[p : p + k]))


def _made_turns(texts: Iterable[str], think: Iterable[float], reply: Iterable[float]) -> list[Turn]:
    # Turn's own constructor is a Python-level lambda; tuple.__new__ makes the same tuple in
    # C, and map keeps the whole loop there.
    # texts may be endless (repeat("")): the numbers bound the zip.
    return list(map(tuple.__new__, repeat(Turn), zip(texts, think, reply, strict=False)))


def _arrival_order(draws: list[_ChannelDraws]) -> list[np.ndarray]:
    """Where each channel's conversations stand in the trace: ordered by arrival time, then
    channel name, then their order within the channel."""
    if len(draws) == 1:
        return [np.arange(len(draws[0].times))]
    rank = {name: r for r, name in enumerate(sorted(d.name for d in draws))}
    times = np.concatenate([d.arrivals for d in draws])
    names = np.concatenate([np.full(len(d.times), rank[d.name]) for d in draws])
    within = np.concatenate([np.arange(len(d.times)) for d in draws])
    position = np.empty(len(times), dtype=np.int64)
    position[np.lexsort((within, names, times))] = np.arange(len(times))
    bounds = np.cumsum([0, *(len(d.times) for d in draws)])
    return [position[bounds[c] : bounds[c + 1]] for c in range(len(draws))]


def _with_texts(
    draws: list[_ChannelDraws], positions: list[np.ndarray], source: TextSource
) -> tuple[list[Customer], list[tuple[Turn, ...]]]:
    """The customer and the turns with texts of each conversation, by trace position: texts
    and customers come from one stream, in trace order."""
    n = sum(len(at) for at in positions)
    channel_of = np.empty(n, dtype=np.int64)
    index_of = np.empty(n, dtype=np.int64)
    for c, at in enumerate(positions):
        channel_of[at] = c
        index_of[at] = np.arange(len(at))
    customers: list[Customer] = []
    turns: list[tuple[Turn, ...]] = []
    for c, i in zip(channel_of.tolist(), index_of.tolist(), strict=True):
        d = draws[c]
        customer, female = source.customer(d.protocol)
        customers.append(customer)
        turns.append(d.turns_with(i, source.texts(d.counts[i], female)))
    return customers, turns


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
    positions = _arrival_order(draws)
    n = sum(len(d.times) for d in draws)
    width = max(6, len(str(n)))
    form = f"c%0{width}d"  # %-formatting: the fastest way to 100,000s of ids
    ids = [form % number for number in range(1, n + 1)]
    conversations: list[Conversation] = [None] * n  # type: ignore[list-item]  # filled below
    with collector_paused():
        if texts:
            source = TextSource(seed * 1_000_003 + replication * 7919 + _TEXT_STREAM, locale)
            customers, turns = _with_texts(draws, positions, source)
        for d, at in zip(draws, positions, strict=True):
            where = at.tolist()
            made = map(
                Conversation,
                [ids[p] for p in where],
                repeat(d.name),
                d.times,
                [customers[p] for p in where] if texts else repeat(None),
                d.bots,
                d.patience,
                d.close_after,
                [turns[p] for p in where] if texts else d.turns(),
            )
            for p, conversation in zip(where, made, strict=True):
                conversations[p] = conversation
    header = TraceHeader(
        scenario=scenario.name,
        scenario_sha256=scenario.sha256,
        seed=seed,
        start=scenario.clock(0.0),
        duration=scenario.duration,
        locale=locale,
        replication=replication,
    )
    return Trace(header, conversations)
