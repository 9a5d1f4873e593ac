"""The KPI catalogue: complete, consistent with what is measured, and how values are written."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from modelkit import conversation, scenario, trace

from sim.catalogue import (
    BY_KEY,
    CATALOGUE,
    CHANNEL_BARS,
    CHANNEL_TABLE,
    DIFFERENCES,
    HEADLINE,
    HIGHER,
    KEYS,
    LOWER,
    SUMMARY,
    Unit,
    compared,
    held_to_baseline,
    kpi,
)
from sim.compare import DEFAULT_TOLERANCES
from sim.kpi import measure
from sim.model import simulate_trace


def test_every_measured_kpi_is_in_the_catalogue_and_nothing_else():
    s = scenario()
    measured = measure(simulate_trace(s, trace(conversation("c1", 0.0))), s)
    assert tuple(measured["total"]) == KEYS
    assert tuple(measured["channels"]["chat"]) == KEYS
    assert all(
        tuple(k for k in row if k not in ("index", "channel")) == KEYS
        for row in measured["intervals"]
    )


def test_agent_kpis_exist_only_in_the_total_and_all_rows():
    s = scenario()
    measured = measure(simulate_trace(s, trace(conversation("c1", 0.0))), s)
    for entry in CATALOGUE:
        if entry.agents:
            assert measured["channels"]["chat"][entry.key] is None
            assert measured["total"][entry.key] is not None


def test_views_name_only_catalogue_kpis():
    for view in (SUMMARY, HEADLINE, CHANNEL_TABLE, DIFFERENCES, CHANNEL_BARS):
        assert set(view) <= set(BY_KEY)
    assert len(set(KEYS)) == len(KEYS)


def test_compare_defaults_and_baseline_come_from_the_catalogue():
    assert dict(DEFAULT_TOLERANCES) == {k.key: k.tolerance for k in compared()}
    assert {k.key for k in compared() if k.compared_per_channel} == {
        "service_level",
        "missed_rate",
        "frt_mean",
        "insession_mean",
    }
    assert {k.key for k in held_to_baseline()} == {
        "service_level",
        "missed_rate",
        "frt_mean",
        "frt_p90",
        "insession_mean",
    }
    # Everything held to a limit has a direction; agents' KPIs are never compared per channel.
    assert all(k.better in (HIGHER, LOWER) for k in held_to_baseline())
    assert not any(k.agents and k.compared_per_channel for k in CATALOGUE)


def test_directions():
    assert BY_KEY["service_level"].meets(0.9, 0.9) and not BY_KEY["service_level"].meets(0.89, 0.9)
    assert BY_KEY["missed_rate"].meets(0.02, 0.03) and not BY_KEY["missed_rate"].meets(0.031, 0.03)
    assert not BY_KEY["frt_mean"].meets(None, 30.0)
    assert BY_KEY["frt_mean"].worse_by(35.0, 30.0) == 5.0
    assert BY_KEY["service_level"].worse_by(0.85, 0.90) == pytest.approx(0.05)


def test_values_are_written_in_their_unit():
    assert kpi("service_level").text(0.9412) == "94.1%"
    assert kpi("frt_mean").text(32.04) == "32.0 s"
    assert kpi("wasted_slot_seconds").text(3 * 3600) == "3.00 slot-h"
    assert kpi("offered").text(14038.0) == "14,038"
    assert kpi("offered").text(None) == "–" and kpi("offered").text(math.nan) == "–"
    assert kpi("service_level").delta(-0.012) == "−1.2 pp"
    assert kpi("frt_mean").delta(0.5) == "+0.5 s"
    assert kpi("service_level").with_ci(0.941, 0.004) == "94.1% ± 0.4 pp"
    assert kpi("service_level").with_ci(0.941, 0.004, compact=True) == "94.1% ±0.4"
    assert kpi("wasted_slot_seconds").with_ci(1944.0, 1080.0, compact=True) == "0.54 slot-h ±0.3"
    assert kpi("not_a_kpi").label == "not a kpi"  # a foreign results file can still be shown


@given(st.sampled_from(CATALOGUE), st.floats(-1e6, 1e6, allow_nan=False))
def test_a_delta_is_the_spread_with_a_sign(entry, value):
    text = entry.delta(value)
    if value == 0:
        assert text == "0"
    else:
        assert text[0] == ("+" if value > 0 else "−") and text[1:] == entry.spread(abs(value))
    assert entry.unit in Unit
