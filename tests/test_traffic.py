"""Drawing traffic (sim.traffic): arrivals, profile, bots, turns, streams and customer ids."""

from __future__ import annotations

import base64
import math
import re
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from sim.durations import parse_duration
from sim.scenario import Scenario, load_scenario, parse_scenario
from sim.trace import Conversation, Trace
from sim.traffic import at_volume_quantile, draw_arrivals, draw_trace, stream, volume_level

ROOT = Path(__file__).resolve().parents[1]


def channel(protocol: str = "whatsapp", volume: float = 1000, **extra: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "protocol": protocol,
        "volume": volume,
        "patience": {"dist": "exponential", "mean": "3m"},
        "turns": {"dist": "geometric", "mean": 2.5},
        "think": {"dist": "lognormal", "mean": "30s", "cv": 1.0},
        "reply": {"dist": "lognormal", "mean": "20s", "cv": 0.6},
        "close_after": {"dist": "uniform", "low": "30s", "high": "90s"},
    }
    data.update(extra)
    return data


def scenario(
    channels: dict[str, dict[str, Any]], duration: str = "1h", interval: str = "15m"
) -> Scenario:
    n = round(parse_duration(duration) / parse_duration(interval))
    return parse_scenario(
        {
            "name": "traffic-test",
            "start": "08:00",
            "duration": duration,
            "interval": interval,
            "channels": channels,
            "agents": [
                {"group": "all", "skills": list(channels), "max_chats": 2, "staffing": [1] * n}
            ],
        },
        file="traffic-test.yaml",
    )


def numbers(c: Conversation) -> tuple[Any, ...]:
    """Everything random about a conversation except who the customer is and what they write."""
    return (
        c.channel,
        c.t,
        c.patience,
        c.close_after,
        c.bot,
        tuple((t.think, t.reply) for t in c.turns),
    )


def of_channel(trace: Trace, name: str) -> list[tuple[Any, ...]]:
    return [numbers(c) for c in trace if c.channel == name]


@pytest.fixture(scope="module")
def small() -> Scenario:
    return load_scenario(ROOT / "scenarios" / "small.yaml")


def test_sorted_within_horizon_and_rounded(small: Scenario) -> None:
    trace = draw_trace(small, seed=1)
    ts = [c.t for c in trace]
    assert ts == sorted(ts)
    assert all(0 <= t < small.duration for t in ts)
    assert all(round(t, 3) == t for t in ts)
    assert [c.id for c in trace] == [f"c{i:06d}" for i in range(1, len(trace) + 1)]
    assert {c.channel for c in trace} == set(small.channels)
    assert trace.header.seed == 1
    assert trace.header.scenario_sha256 == small.sha256
    assert trace.header.start == "09:00"


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_channel_counts_match_volume(seed: int) -> None:
    volumes = {"whatsapp": 4000, "telegram": 900, "webchat": 250}
    sc = scenario({name: channel(name, volume) for name, volume in volumes.items()})
    counts = Counter(c.channel for c in draw_trace(sc, seed, texts=False))
    for name, volume in volumes.items():
        # The total of a piecewise Poisson process is Poisson(volume): sd = sqrt(volume);
        # 4 sd is the stated tolerance.
        assert abs(counts[name] - volume) <= 4 * math.sqrt(volume), (name, counts[name])


def test_zero_volume_channel_has_no_conversations() -> None:
    sc = scenario({"whatsapp": channel(volume=0), "webchat": channel("webchat", 100)})
    assert all(c.channel == "webchat" for c in draw_trace(sc, 5, texts=False))


def test_profile_shape_is_respected() -> None:
    volume = 40_000
    sc = scenario(
        {
            "whatsapp": channel(
                volume=volume, profile=[0, 1, 0, 3], turns={"dist": "constant", "value": 1}
            )
        }
    )
    trace = draw_trace(sc, seed=21, texts=False)
    per_interval = Counter(int(c.t // sc.interval) for c in trace)
    assert per_interval[0] == 0
    assert per_interval[2] == 0
    assert set(per_interval) == {1, 3}
    # Counts are Poisson(10,000) and Poisson(30,000): the relative sd of their ratio is
    # sqrt(1/10000 + 1/30000) = 1.15%; 5% relative (~4.3 sd) is the tolerance.
    ratio = per_interval[1] / per_interval[3]
    assert abs(ratio / (1 / 3) - 1) <= 0.05, ratio
    # Within an interval arrivals are uniform: mean offset 450 s, sd 900/sqrt(12) per arrival;
    # allow 4 standard errors.
    offsets = np.array([c.t - sc.interval for c in trace if int(c.t // sc.interval) == 1])
    assert abs(offsets.mean() - 450) <= 4 * (900 / math.sqrt(12)) / math.sqrt(len(offsets))


def test_draw_arrivals_directly() -> None:
    sc = scenario({"whatsapp": channel(volume=5000, profile=[1, 0, 0, 1])})
    times = draw_arrivals(np.random.default_rng(4), sc, "whatsapp")
    assert np.all(np.diff(times) >= 0)
    assert not np.any((times >= 900) & (times < 2700))
    assert abs(len(times) - 5000) <= 4 * math.sqrt(5000)  # Poisson(5000), 4 sd


def test_bot_containment_share() -> None:
    containment = 0.3
    sc = scenario(
        {
            "webchat": channel(
                "webchat",
                20_000,
                turns={"dist": "constant", "value": 1},
                bot={"containment": containment, "time": {"dist": "constant", "value": "40s"}},
            ),
            "whatsapp": channel(volume=200),
        }
    )
    trace = draw_trace(sc, seed=8, texts=False)
    bots = [c.bot for c in trace if c.channel == "webchat"]
    assert all(b is not None for b in bots)
    share = sum(b.contained for b in bots if b is not None) / len(bots)
    # Binomial share: se = sqrt(p(1-p)/n) ~ 0.0032 at n ~ 20,000; 4 se is the tolerance.
    assert abs(share - containment) <= 4 * math.sqrt(containment * (1 - containment) / len(bots))
    assert all(b is not None and b.time == 40.0 for b in bots)
    assert all(c.bot is None for c in trace if c.channel == "whatsapp")
    first = next(c for c in trace if c.channel == "webchat")
    assert first.queue_entry == pytest.approx(first.t + 40.0)


def test_turns_and_think(small: Scenario) -> None:
    trace = draw_trace(small, seed=2, texts=False)
    for c in trace:
        assert len(c.turns) >= 1
        assert c.turns[0].think == 0.0
        assert all(t.reply >= 0 and t.think >= 0 for t in c.turns)
        assert c.patience >= 0 and c.close_after >= 0
        assert c.customer is None
        assert all(t.text == "" for t in c.turns)


def test_turn_counts_follow_the_count_distribution() -> None:
    sc = scenario({"whatsapp": channel(volume=20_000, turns={"dist": "geometric", "mean": 3})})
    trace = draw_trace(sc, seed=9, texts=False)
    counts = np.array([len(c.turns) for c in trace])
    # Geometric(p=1/3): sd = sqrt(1-p)/p = 2.45; 4 standard errors.
    assert abs(counts.mean() - 3) <= 4 * math.sqrt(2 / 3) * 3 / math.sqrt(len(counts))
    thinks = [t.think for c in trace for t in c.turns[1:]]
    # Lognormal think, mean 30 s, cv 1: sd 30; 4 standard errors.
    assert abs(np.mean(thinks) - 30) <= 4 * 30 / math.sqrt(len(thinks))


def test_first_reply_replaces_turn_one_only() -> None:
    base = channel(volume=2000, turns={"dist": "geometric", "mean": 3})
    with_first = {**base, "first_reply": {"dist": "constant", "value": "5s"}}
    plain = draw_trace(scenario({"whatsapp": base}), seed=4, texts=False)
    first = draw_trace(scenario({"whatsapp": with_first}), seed=4, texts=False)
    assert len(plain) == len(first)
    assert any(len(c.turns) > 1 for c in first)
    for a, b in zip(plain, first, strict=True):
        assert b.turns[0].reply == 5.0
        assert a.turns[0].reply != 5.0
        # Everything else is the very same draw.
        assert [t.reply for t in a.turns[1:]] == [t.reply for t in b.turns[1:]]
        assert [t.think for t in a.turns] == [t.think for t in b.turns]
        assert (a.t, a.patience, a.close_after) == (b.t, b.patience, b.close_after)


def test_first_reply_distribution_mean() -> None:
    sc = scenario(
        {
            "whatsapp": channel(
                volume=20_000,
                first_reply={"dist": "exponential", "mean": "10s"},
                reply={"dist": "constant", "value": "1m"},
            )
        }
    )
    trace = draw_trace(sc, seed=6, texts=False)
    firsts = np.array([c.turns[0].reply for c in trace])
    # Exponential mean 10 s: sd 10; 4 standard errors.
    assert abs(firsts.mean() - 10) <= 4 * 10 / math.sqrt(len(firsts))
    assert all(t.reply == 60.0 for c in trace for t in c.turns[1:])


def test_texts_false_gives_the_same_numbers(small: Scenario) -> None:
    with_texts = draw_trace(small, seed=5)
    without = draw_trace(small, seed=5, texts=False)
    assert [c.id for c in with_texts] == [c.id for c in without]
    assert [numbers(c) for c in with_texts] == [numbers(c) for c in without]
    assert all(c.customer is not None for c in with_texts)
    assert all(c.turns[0].text for c in with_texts)


def test_replications_differ_and_are_reproducible(small: Scenario) -> None:
    r0 = draw_trace(small, seed=5, replication=0, texts=False)
    r1 = draw_trace(small, seed=5, replication=1, texts=False)
    r2 = draw_trace(small, seed=5, replication=2, texts=False)
    assert r1.header.replication == 1
    assert [numbers(c) for c in r1] != [numbers(c) for c in r0]
    assert [numbers(c) for c in r2] != [numbers(c) for c in r1]
    assert [numbers(c) for c in r1] == [
        numbers(c) for c in draw_trace(small, seed=5, replication=1, texts=False)
    ]
    # Replication 1 of seed 5 is not simply replication 0 of another small seed.
    for other in range(10):
        assert [numbers(c) for c in r1] != [
            numbers(c) for c in draw_trace(small, seed=other, texts=False)
        ]


def test_streams_are_independent_per_channel_and_purpose() -> None:
    a = stream(1, 0, 7).random(5)
    assert np.array_equal(a, stream(1, 0, 7).random(5))
    assert not np.array_equal(a, stream(1, 1, 7).random(5))
    assert not np.array_equal(a, stream(1, 0, 8).random(5))
    assert not np.array_equal(a, stream(2, 0, 7).random(5))


def test_adding_a_channel_keeps_existing_draws() -> None:
    one = scenario({"whatsapp": channel(volume=500)})
    two = scenario({"whatsapp": channel(volume=500), "telegram": channel("telegram", 700)})
    three = scenario(
        {
            "viber": channel("viber", 300),
            "whatsapp": channel(volume=500),
            "telegram": channel("telegram", 700),
        }
    )
    for seed in (0, 1):
        base = of_channel(draw_trace(one, seed, texts=False), "whatsapp")
        assert len(base) > 400
        assert of_channel(draw_trace(two, seed, texts=False), "whatsapp") == base
        assert of_channel(draw_trace(three, seed, texts=False), "whatsapp") == base
        assert of_channel(draw_trace(three, seed, texts=False), "telegram") == of_channel(
            draw_trace(two, seed, texts=False), "telegram"
        )


def test_changing_one_channel_keeps_the_other() -> None:
    a = scenario({"whatsapp": channel(volume=500), "telegram": channel("telegram", 700)})
    b = scenario(
        {
            "whatsapp": channel(volume=900, profile=[1, 2, 3, 4]),
            "telegram": channel("telegram", 700),
        }
    )
    assert of_channel(draw_trace(a, 3, texts=False), "telegram") == of_channel(
        draw_trace(b, 3, texts=False), "telegram"
    )


ALL_PROTOCOLS = {
    "whatsapp": channel("whatsapp", 400),
    "telegram": channel("telegram", 400),
    "viber": channel("viber", 400),
    "webchat": channel("webchat", 400),
    "app": channel("webchat", 200),
}


@pytest.fixture(scope="module")
def all_protocols() -> tuple[Scenario, Trace]:
    sc = scenario(ALL_PROTOCOLS)
    return sc, draw_trace(sc, seed=13)


def _valid_id(protocol: str, customer_id: str) -> bool:
    if protocol == "whatsapp":
        return re.fullmatch(r"79\d{9}", customer_id) is not None
    if protocol == "telegram":
        return re.fullmatch(r"[1-9]\d*", customer_id) is not None and int(customer_id) < 2**63
    if protocol == "viber":
        return len(customer_id) == 24 and len(base64.b64decode(customer_id, validate=True)) == 16
    parsed = uuid.UUID(customer_id)
    return parsed.version == 4 and str(parsed) == customer_id


def test_customer_ids_valid_per_protocol(all_protocols: tuple[Scenario, Trace]) -> None:
    sc, trace = all_protocols
    assert {c.channel for c in trace} == set(ALL_PROTOCOLS)
    for c in trace:
        assert c.customer is not None
        protocol = sc.channels[c.channel].protocol
        assert _valid_id(protocol, c.customer.id), (protocol, c.customer.id)


def test_ids_unique_within_a_trace(all_protocols: tuple[Scenario, Trace]) -> None:
    _, trace = all_protocols
    assert len({c.id for c in trace}) == len(trace)
    customer_ids = [c.customer.id for c in trace if c.customer is not None]
    assert len(set(customer_ids)) == len(customer_ids) == len(trace)


def test_default_locale_gives_cyrillic_names_and_texts(
    all_protocols: tuple[Scenario, Trace],
) -> None:
    _, trace = all_protocols
    assert trace.header.locale == "ru_RU"
    for c in trace:
        assert c.customer is not None
        letters = [ch for ch in c.customer.name if ch.isalpha()]
        assert letters and all("\u0400" <= ch <= "\u04ff" for ch in letters), c.customer.name
    assert all(re.search("[а-яА-ЯёЁ]", c.turns[0].text) for c in trace)


def test_locale_en_us_gives_latin_names(small: Scenario) -> None:
    trace = draw_trace(small, seed=3, locale="en_US")
    assert trace.header.locale == "en_US"
    for c in trace:
        assert c.customer is not None
        assert re.fullmatch(r"[A-Za-z][A-Za-z .'-]*", c.customer.name), c.customer.name
        assert not any(re.search("[а-яА-ЯёЁ]", t.text) for t in c.turns)
    # Only the words change with the locale, not the numbers.
    assert [numbers(c) for c in trace] == [
        numbers(c) for c in draw_trace(small, seed=3, texts=False)
    ]


def test_unknown_locale_is_a_value_error(small: Scenario) -> None:
    with pytest.raises(ValueError, match="xx_XX"):
        draw_trace(small, seed=3, locale="xx_XX")


def test_texts_are_deterministic(small: Scenario) -> None:
    a = draw_trace(small, seed=3)
    b = draw_trace(small, seed=3)
    assert a == b
    c = draw_trace(small, seed=4)
    assert [x.customer for x in a][:20] != [x.customer for x in c][:20]


def test_an_uncertain_volume_spreads_the_replications_by_its_cv() -> None:
    """Counts of a Poisson process whose mean is lognormal (mean m, cv c): mean m, variance
    m + (c m)^2. 200 replications at m = 400, c = 0.3: the sample mean is within 4 standard
    errors (sd about 122 / sqrt(200) = 8.6), the sample sd within 25% of 122 (the lognormal's
    skew makes the sd's standard error about 7% at 200 draws)."""
    sc = scenario(
        {"whatsapp": channel(volume={"mean": 400, "cv": 0.3}), "webchat": channel("webchat", 5)},
        duration="15m",
    )
    counts = np.array(
        [
            sum(c.channel == "whatsapp" for c in draw_trace(sc, 4, r, texts=False))
            for r in range(200)
        ]
    )
    sd = math.sqrt(400 + (0.3 * 400) ** 2)
    assert abs(counts.mean() - 400) <= 4 * sd / math.sqrt(200)
    assert counts.std(ddof=1) == pytest.approx(sd, rel=0.25)


def test_the_channels_share_the_replications_level() -> None:
    sc = scenario(
        {
            "whatsapp": channel(volume={"mean": 800, "cv": 0.3}),
            "webchat": channel("webchat", {"mean": 800, "cv": 0.3}),
        },
        duration="15m",
    )
    pairs = [Counter(c.channel for c in draw_trace(sc, 2, r, texts=False)) for r in range(40)]
    wa = [p["whatsapp"] for p in pairs]
    web = [p["webchat"] for p in pairs]
    # One level per replication: the two channels' counts move together (independent levels
    # would give a correlation near 0; Poisson noise alone keeps it below 1).
    assert np.corrcoef(wa, web)[0, 1] > 0.9


def test_a_known_volume_draws_what_it_always_drew() -> None:
    plain = scenario({"whatsapp": channel(volume=500)})
    written = scenario({"whatsapp": channel(volume={"mean": 500, "cv": 0})})
    assert [numbers(c) for c in draw_trace(plain, 3, texts=False)] == [
        numbers(c) for c in draw_trace(written, 3, texts=False)
    ]


def test_volume_quantiles_are_the_lognormal_levels() -> None:
    sc = scenario({"whatsapp": channel(volume={"mean": 1000, "cv": 0.2})})
    sigma = math.sqrt(math.log1p(0.04))
    median = at_volume_quantile(sc, 0.5).channels["whatsapp"]
    assert median.mean_volume == pytest.approx(1000 * math.exp(-sigma * sigma / 2))
    assert median.volume_cv == 0
    high = at_volume_quantile(sc, 0.9).channels["whatsapp"].mean_volume
    assert high == pytest.approx(1000 * math.exp(1.2815516 * sigma - sigma * sigma / 2))
    levels = [volume_level(0.2, float(z)) for z in np.random.default_rng(1).standard_normal(20000)]
    assert np.mean(levels) == pytest.approx(1.0, abs=0.01)  # se 0.0014
    assert np.std(levels) == pytest.approx(0.2, rel=0.05)
    with pytest.raises(ValueError, match="between 0 and 1"):
        at_volume_quantile(sc, 1.0)
