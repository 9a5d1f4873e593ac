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

import numpy as np

from sim.collector import collector_paused
from sim.scenario import Channel, Scenario
from sim.texts import TextSource
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
        self.times = _ms(draw_arrivals(rng, scenario, name, level))
        n = len(self.times)
        self.patience = _ms(channel.patience.sample(rng, n))
        self.close_after = _ms(channel.close_after.sample(rng, n))
        self.bots: list[BotOutcome | None] = [None] * n
        if channel.bot is not None:
            contained = (rng.random(n) < channel.bot.containment).tolist()
            self.bots = list(map(BotOutcome, contained, _ms(channel.bot.time.sample(rng, n))))
        counts = channel.turns.sample(rng, n)
        self.counts: list[int] = counts.tolist()
        self.offsets: list[int] = (np.cumsum(counts) - counts).tolist()
        total = int(counts.sum())
        self.think = _ms(channel.think.sample(rng, total))
        self.reply = _ms(channel.reply.sample(rng, total))
        if channel.first_reply is not None:
            firsts = _ms(channel.first_reply.sample(rng, n))
            for i, p in enumerate(self.offsets):
                self.reply[p] = firsts[i]


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
    order = (
        sorted((t, d.name, i, d) for d in draws for i, t in enumerate(d.times))
        if len(draws) > 1
        else [(t, draws[0].name, i, draws[0]) for i, t in enumerate(draws[0].times)]
    )
    width = max(6, len(str(len(order))))
    source = (
        TextSource(seed * 1_000_003 + replication * 7919 + _TEXT_STREAM, locale) if texts else None
    )
    conversations = []
    with collector_paused():
        for number, (t, name, i, d) in enumerate(order, start=1):
            k, p = d.counts[i], d.offsets[i]
            customer = None
            if source is None:
                messages = [""] * k
            else:
                customer, female = source.customer(d.protocol)
                messages = source.texts(k, female)
            if k == 1:
                turns: tuple[Turn, ...] = (Turn(messages[0], 0.0, d.reply[p]),)
            else:
                turns = tuple(
                    map(Turn, messages, [0.0, *d.think[p + 1 : p + k]], d.reply[p : p + k])
                )
            conversations.append(
                Conversation(
                    f"c{number:0{width}d}",
                    name,
                    t,
                    customer,
                    d.bots[i],
                    d.patience[i],
                    d.close_after[i],
                    turns,
                )
            )
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
