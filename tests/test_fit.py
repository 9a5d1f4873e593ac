"""``chatsim fit``: reading conversation logs, censored patience, and the round trip from a
known scenario through its logs back to a scenario that behaves like it.

Tolerances are stated where they are used. Most are 4 standard errors of the estimate (derived
from the sample size the logs give it): a single check fails by chance with probability about
6e-5, the forty-odd checks of the round trip together well under 1%.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.cli import main
from sim.durations import DAY
from sim.experiment import run_experiment
from sim.fit import FitOptions, fit_scenario
from sim.fit.laws import Sample, fit_law, frozen, kaplan_meier
from sim.history import (
    ORIGIN,
    History,
    format_timestamp,
    history_of_records,
    parse_timestamp,
    read_history,
    write_history_csv,
)
from sim.kpi import measure
from sim.model import simulate_trace
from sim.results import ResultsHeader, aggregate
from sim.scenario import Scenario, load_scenario, parse_scenario
from sim.traffic import draw_trace

ROOT = Path(__file__).resolve().parent.parent
K = 4.0
"""Standard errors allowed for an estimate (see the module docstring)."""

PROFILE = [0.2, 0.2, 0.5, 1.0, 1.6, 2.0, 2.0, 1.8, 1.5, 1.2, 0.8, 0.5]
STAFFING = [3, 3, 4, 6, 8, 9, 9, 9, 8, 7, 5, 4]
DAYS = 5
TRUTH: dict[str, Any] = {
    "name": "known",
    "start": "08:00",
    "duration": "12h",
    "interval": "1h",
    "channels": {
        "whatsapp": {
            "protocol": "whatsapp",  # silent abandonment: leavers are not in the logs
            "volume": 1200,
            "profile": PROFILE,
            "patience": {"dist": "lognormal", "mean": "3m", "cv": 1.5},
            "turns": {"dist": "geometric", "mean": 2.5},
            "think": {"dist": "lognormal", "mean": "40s", "cv": 0.8},
            "reply": {"dist": "lognormal", "mean": "25s", "cv": 0.6},
            "first_reply": {"dist": "lognormal", "mean": "15s", "cv": 0.5},
            "close_after": {"dist": "constant", "value": "2m"},
        },
        "webchat": {
            "protocol": "webchat",  # visible abandonment: abandoned_at in the logs
            "volume": 800,
            "profile": PROFILE,
            "patience": {"dist": "exponential", "mean": "2m"},
            "turns": {"dist": "poisson", "mean": 3},
            "think": {"dist": "gamma", "mean": "30s", "cv": 0.7},
            "reply": {"dist": "lognormal", "mean": "20s", "cv": 0.6},
            "close_after": {"dist": "constant", "value": "1m"},
            "bot": {"containment": 0.3, "time": {"dist": "lognormal", "mean": "45s", "cv": 0.6}},
        },
    },
    "agents": [
        {"group": "desk", "skills": ["whatsapp", "webchat"], "max_chats": 3, "staffing": STAFFING}
    ],
}


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Five days of the known scenario (replications laid on consecutive days, written at
    UTC+03:00), exported as the generic CSV and the message CSV, read back and fitted."""
    folder = tmp_path_factory.mktemp("round_trip")
    truth = parse_scenario(TRUTH)
    offset = 3 * 3600.0
    runs, history = [], History([], {}, [])
    for day in range(DAYS):
        run = simulate_trace(truth, draw_trace(truth, 7, day, texts=False))
        runs.append(run)
        # 08:00 local on day `day` is 05:00 UTC
        logged = history_of_records(
            run.conversations,
            epoch=ORIGIN + day * DAY + 8 * 3600 - offset,
            utc_offset=offset,
            prefix=f"d{day}-",
        )
        history.conversations += logged.conversations
        history.messages.update(logged.messages)
    write_history_csv(history, folder / "c.csv", messages=folder / "m.csv")
    read = read_history([folder / "c.csv"], messages=[folder / "m.csv"])
    fitted = fit_scenario(read, FitOptions(name="fitted", interval=3600.0))
    (folder / "fitted.yaml").write_text(fitted.text, encoding="utf-8")
    original = aggregate([measure(run, truth) for run in runs], ResultsHeader.of(truth, seed=7))
    return {
        "truth": truth,
        "read": read,
        "fitted": fitted,
        "scenario": load_scenario(folder / "fitted.yaml"),
        "original": original,
    }


def _sd_mean(mean: float, cv: float, n: int) -> float:
    return mean * cv / math.sqrt(n)


def test_round_trip_reads_every_row_on_the_operators_clock(round_trip):
    read, scenario = round_trip["read"], round_trip["scenario"]
    assert not read.problems
    assert {c.utc_offset for c in read.conversations} == {3 * 3600.0}
    assert scenario.start == 8 * 3600.0 and scenario.duration == 12 * 3600.0  # the busy window
    assert scenario.interval == 3600.0
    assert round_trip["fitted"].horizon == "day"


def test_round_trip_recovers_volumes_profiles_and_bot(round_trip):
    truth: Scenario = round_trip["truth"]
    fitted: Scenario = round_trip["scenario"]
    for name in ("whatsapp", "webchat"):
        true_volume = truth.channels[name].volume
        channel = fitted.channels[name]
        # Arrivals are Poisson: over DAYS days the daily mean has sd sqrt(volume / DAYS).
        assert abs(channel.volume - true_volume) <= K * math.sqrt(true_volume / DAYS), name
        weights = truth.weights(name)
        assert isinstance(channel.profile, list) and len(channel.profile) == len(weights)
        for j, (rate, weight) in enumerate(zip(channel.profile, weights, strict=True)):
            expected = true_volume * weight
            # One interval's daily mean: Poisson, sd sqrt(expected / DAYS).
            assert abs(rate - expected) <= K * math.sqrt(expected / DAYS), (name, j)
    bot = fitted.channels["webchat"].bot
    assert bot is not None and fitted.channels["whatsapp"].bot is None
    n = {c.name: c for c in round_trip["fitted"].channels}["webchat"].conversations
    # Containment is binomial: sd sqrt(p (1 - p) / n).
    assert abs(bot.containment - 0.3) <= K * math.sqrt(0.3 * 0.7 / n)
    handed = round(n * (1 - bot.containment))
    assert abs(bot.time.mean_value - 45) <= K * _sd_mean(45, 0.6, handed)


def test_round_trip_recovers_patience_censored_and_silent(round_trip):
    """Webchat: abandonments seen, answered ones censored. WhatsApp: nobody is seen to leave;
    the silent leavers hide among one-message conversations (the mixture). Each true mean lies
    within 4 standard errors of the fit, the standard error read from its 95% interval (on the
    log scale, where the interval is symmetric)."""
    summaries = {c.name: c for c in round_trip["fitted"].channels}
    for name, true_mean in (("webchat", 120.0), ("whatsapp", 180.0)):
        summary = summaries[name]
        fitted = round_trip["scenario"].channels[name].patience.mean_value
        assert summary.patience_ci is not None
        se = math.log(summary.patience_ci[1] / summary.patience_ci[0]) / (2 * 1.96)
        assert abs(math.log(fitted / true_mean)) <= K * se, (name, fitted, summary.patience_ci)
    # Webchat's abandonments pin the mean down (95% interval within about ±40%); whatsapp's
    # waits only see the start of the law, so its mean is an extrapolation with a wide interval.
    webchat = summaries["webchat"].patience_ci
    assert webchat is not None and math.log(webchat[1] / webchat[0]) / (2 * 1.96) < 0.2
    assert summaries["whatsapp"].abandonments == 0 and summaries["whatsapp"].ambiguous > 1000
    assert summaries["webchat"].abandonments > 300 and summaries["webchat"].ambiguous == 0


def test_round_trip_recovers_turns_think_close_and_work(round_trip):
    fitted: Scenario = round_trip["scenario"]
    wa, web = fitted.channels["whatsapp"], fitted.channels["webchat"]
    # Turns. WhatsApp: from the customers who wrote again (geometric truncated at 2, mean 2.5:
    # k - 1 has variance (1-p)/p^2 = 3.75); webchat: every answered one (1 + Poisson(2),
    # variance 2). n: the answered conversations of each (a lower bound of the sample).
    answered = {c.name: c.censored for c in round_trip["fitted"].channels}
    assert wa.turns.dist == "geometric" and web.turns.dist == "poisson"
    assert abs(wa.turns.mean_value - 2.5) <= K * math.sqrt(3.75 / (0.6 * answered["whatsapp"]))
    assert abs(web.turns.mean_value - 3.0) <= K * math.sqrt(2.0 / answered["webchat"])
    # Think times from the message CSV: one per later turn, at least one per answered
    # conversation with two or more turns (60% of whatsapp's, 86% of webchat's).
    assert abs(wa.think.mean_value - 40) <= K * _sd_mean(40, 0.8, int(0.6 * answered["whatsapp"]))
    assert abs(web.think.mean_value - 30) <= K * _sd_mean(30, 0.7, int(0.86 * answered["webchat"]))
    assert wa.think.dist == "lognormal" and web.think.dist == "gamma"
    # close_after is a constant in the truth: every close is exactly it after the last answer.
    assert wa.close_after.mean_value == pytest.approx(120, abs=0.01)
    assert web.close_after.mean_value == pytest.approx(60, abs=0.01)
    # Reply work is not observed; its first guess takes the responses begun by an agent holding
    # no other chat (hundreds here: se of the mean about cv / sqrt(n) < 4%), so 15% is ~4 se.
    assert wa.first_reply is not None
    assert wa.first_reply.mean_value == pytest.approx(15, rel=0.15)
    assert wa.reply.mean_value == pytest.approx(25, rel=0.15)
    assert web.reply.mean_value == pytest.approx(20, rel=0.15)


def test_round_trip_recovers_staffing(round_trip):
    """Every agent takes chats every hour at this load (least-loaded routing), so the agents
    seen taking a chat in an interval are exactly those on duty."""
    group = round_trip["scenario"].agents[0]
    assert group.staffing == STAFFING
    assert group.max_chats == 3
    assert sorted(group.skills) == ["webchat", "whatsapp"]


def test_round_trip_fitted_scenario_reproduces_the_kpis(round_trip):
    """The fitted scenario, simulated on other random streams, lands on the original KPIs: each
    difference within the 99.9% interval of a difference of two means (3.29 / 1.96 times the
    root sum of squares of their 95% half-widths): 12 checks, so about 1% by chance."""
    original = round_trip["original"]
    again = run_experiment(round_trip["scenario"], replications=DAYS, seed=11).results
    for scope in (None, "whatsapp", "webchat"):
        a = original.total if scope is None else original.channels[scope]
        b = again.total if scope is None else again.channels[scope]
        for kpi in ("service_level", "missed_rate", "frt_mean", "insession_mean"):
            allowed = 3.29 / 1.96 * math.hypot(a[kpi]["ci95"], b[kpi]["ci95"])
            assert abs(a[kpi]["mean"] - b[kpi]["mean"]) <= allowed, (scope, kpi, a[kpi], b[kpi])


def test_censored_estimate_recovers_patience_where_the_naive_mean_cannot():
    """Patience lognormal (mean 10 min, cv 1) against waits of about a minute: nine in ten are
    answered before they would give up (censored). The mean of the abandonments seen is under
    a quarter of the truth; the censored fit finds it within its own 95% interval and 25%."""
    rng = np.random.default_rng(5)
    n = 3000
    patience = frozen("lognormal", 600.0, 1.0).rvs(n, random_state=rng)
    wait = rng.exponential(60.0, n)
    gave_up = patience < wait
    assert gave_up.mean() < 0.1
    naive = float(patience[gave_up].mean())
    assert naive < 0.25 * 600
    fit = fit_law(Sample.of(patience[gave_up], right=wait[~gave_up]))
    assert fit is not None and fit.mean_ci is not None
    assert fit.chosen.dist == "lognormal"
    assert fit.mean_ci[0] <= 600 <= fit.mean_ci[1]
    assert fit.mean == pytest.approx(600, rel=0.25)
    # Kaplan-Meier (statsmodels) agrees with the truth where many are still at risk.
    curve = kaplan_meier(Sample.of(patience[gave_up], right=wait[~gave_up]))
    assert curve is not None
    at = np.searchsorted(curve.times, 60.0) - 1
    truth = frozen("lognormal", 600.0, 1.0).sf(60.0)
    assert abs(curve.survival[at] - truth) < 0.02 and fit.ks is not None


# -- bad rows, --strict, --map ----------------------------------------------------------------


def _csv(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _good_rows(n: int) -> list[str]:
    rows = []
    for i in range(n):
        start = datetime(2024, 3, 4, 9, tzinfo=timezone(timedelta(hours=3))) + timedelta(
            minutes=7 * i
        )

        def at(seconds: float, start: datetime = start) -> str:
            return (start + timedelta(seconds=seconds)).isoformat()

        rows.append(f"c{i},whatsapp,{at(0)},{at(0)},{at(20)},,{at(200)},a{i % 3},2,2")
    return rows


HEADER = (
    "id,channel,created_at,queued_at,first_response_at,abandoned_at,closed_at,agent,"
    "customer_messages,agent_messages"
)


def test_bad_rows_are_listed_with_file_line_and_reason(tmp_path, capsys):
    rows = _good_rows(40)
    rows[3] = "c3,whatsapp,,2024-03-04T09:21:00+03:00,,,,,,"  # line 5: no created_at
    rows[5] = "c5,whatsapp,yesterday at noon,,,,,,,"  # line 7
    rows[7] = (  # line 9: first response before creation
        "c7,whatsapp,2024-03-04T10:00:00+03:00,2024-03-04T10:00:00+03:00,"
        "2024-03-04T09:59:00+03:00,,,,,"
    )
    rows[10] = rows[9]  # line 12: the id of line 11 again
    logs = _csv(tmp_path / "export.csv", HEADER, rows)
    assert run_cli("fit", str(logs), "--out", str(tmp_path / "f.yaml")) == 0
    err = capsys.readouterr().err
    assert "skipped 4 rows" in err
    assert f"{logs}: line 5: no created_at (required)" in err
    assert f"{logs}: line 7: created_at: cannot read 'yesterday at noon' as a time" in err
    assert f"{logs}: line 9: first_response_at (2024-03-04T06:59:00.000+00:00) is before " in err
    assert f"{logs}: line 12: duplicate id 'c9' (first on line 11 of {logs})" in err
    for kind in ("missing value", "unparseable time", "times out of order", "duplicate id"):
        assert f"1 {kind}" in err
    text = (tmp_path / "f.yaml").read_text()
    assert "4 of 40 rows skipped: " in text
    load_scenario(tmp_path / "f.yaml")
    # --strict: the first bad row is fatal, exit 2, with where and why.
    assert run_cli("fit", str(logs), "--out", str(tmp_path / "g.yaml"), "--strict") == 2
    err = capsys.readouterr().err
    assert f"{logs}: line 5: no created_at (required) (3 more bad rows)" in err
    assert not (tmp_path / "g.yaml").exists()


def test_missing_column_is_fatal_and_map_names_it(tmp_path, capsys):
    renamed = HEADER.replace("created_at", "Started").replace("channel", "Source")
    logs = _csv(tmp_path / "other.csv", renamed, _good_rows(30))
    assert run_cli("fit", str(logs), "--out", str(tmp_path / "f.yaml")) == 2
    err = capsys.readouterr().err
    assert "missing required column 'channel'" in err and "--map channel=THEIR_NAME" in err
    assert f"{logs}: line 1" in err
    args = ["fit", str(logs), "--out", str(tmp_path / "f.yaml"), "--map", "created_at=Started"]
    assert run_cli(*args, "--map", "channel=Source") == 0
    assert load_scenario(tmp_path / "f.yaml").channels["whatsapp"].volume > 0
    assert run_cli(*args, "--map", "channel=Nowhere") == 2
    assert "no column 'Nowhere' (from --map channel=Nowhere)" in capsys.readouterr().err
    assert run_cli(*args, "--map", "colour=Source") == 2
    assert "unknown column 'colour'" in capsys.readouterr().err


def test_chatsim_own_records_fit_and_simulate(tmp_path):
    """A model run's conversations.jsonl: placed on the documented origin at its results'
    start clock; the fitted scenario is accepted by simulate (and so by staff and replay)."""
    small = ROOT / "scenarios" / "small.yaml"
    assert run_cli("simulate", str(small), "-n", "1", "--out", str(tmp_path / "run")) == 0
    out = tmp_path / "small-fit.yaml"
    records = tmp_path / "run" / "conversations.jsonl"
    assert run_cli("fit", str(records), "--out", str(out), "--target", "service_level=0.8") == 0
    scenario = load_scenario(out)
    assert scenario.clock(0) == "09:00" and scenario.duration == 3 * 3600.0
    assert scenario.targets.service_level == 0.8
    history = read_history([records])
    assert min(c.created_at for c in history.conversations) >= ORIGIN + 9 * 3600
    assert run_cli("simulate", str(out), "-n", "1") == 0


# -- timestamps -------------------------------------------------------------------------------

offsets = st.integers(min_value=-14 * 60, max_value=14 * 60).map(lambda m: timedelta(minutes=m))
moments = st.datetimes(
    min_value=datetime(1990, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)
)


@settings(max_examples=150, deadline=None)
@given(moment=moments, offset=offsets, separator=st.sampled_from(["T", " "]))
def test_iso_timestamps_with_offsets_parse_to_their_instant(moment, offset, separator):
    local = moment.astimezone(timezone(offset))
    seconds, written = parse_timestamp(local.isoformat(sep=separator))
    assert seconds == pytest.approx(moment.timestamp(), abs=1e-6)
    assert written == offset.total_seconds()
    if offset == timedelta(0):
        zulu = local.replace(tzinfo=None).isoformat() + "Z"
        assert parse_timestamp(zulu) == (pytest.approx(moment.timestamp(), abs=1e-6), 0.0)
    again = parse_timestamp(format_timestamp(seconds, written))
    assert again[0] == pytest.approx(seconds, abs=5e-4) and again[1] == written


@settings(max_examples=150, deadline=None)
@given(seconds=st.floats(min_value=0, max_value=4e9, allow_nan=False), digits=st.integers(0, 3))
def test_epoch_seconds_parse_as_utc(seconds, digits):
    text = f"{seconds:.{digits}f}"
    assert parse_timestamp(text) == (float(text), 0.0)
    assert parse_timestamp(text, 10800.0) == (float(text), 10800.0)


@settings(max_examples=60, deadline=None)
@given(text=st.text(max_size=30))
def test_anything_else_is_a_clear_value_error(text):
    try:
        parse_timestamp(text)
    except ValueError as error:
        assert str(error)
    else:
        assert text.strip()  # something parsed: it was a time


def test_timestamps_refused_with_their_reason():
    with pytest.raises(ValueError, match="has no UTC offset"):
        parse_timestamp("2024-03-04T08:00:00")
    assert parse_timestamp("2024-03-04T08:00:00", 3600.0)[1] == 3600.0
    with pytest.raises(ValueError, match="milliseconds"):
        parse_timestamp("1709529302000")
