"""``chatsim forecast`` through the real entry point.

The reader of conversation logs is ``sim.history.read_history`` (``chatsim fit``'s, tested in
tests/test_fit.py). Most tests here put a stand-in for it into the command, returning
conversations drawn here, which holds the command to the reader's interface and spares writing
files; one reads a real generic CSV end to end.
"""

from __future__ import annotations

import types
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
import yaml

from sim.cli import main
from sim.durations import DAY, WEEK, WeekTime
from sim.results import read_results
from sim.scenario import load_scenario

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "scenarios" / "small.yaml"
MONDAY = 19723  # 2024-01-01, a local day number
MOSCOW = 3 * 3600.0


@dataclass(frozen=True)
class LoggedConversation:
    channel: str
    created_at: float
    utc_offset: float


@dataclass(frozen=True)
class History:
    conversations: list[LoggedConversation]
    problems: tuple[()] = ()


def draw_logs(days: int, channels=("whatsapp", "telegram", "webchat"), seed: int = 2):
    """About 40 conversations a day per channel from Monday 2024-01-01 (local, UTC+3), fewer at
    weekends, over the daytime hours, as logged conversations (UTC epoch seconds + offset)."""
    rng = np.random.default_rng(seed)
    weekly = np.array([1.2, 1.1, 1.1, 1.0, 1.0, 0.6, 0.5])
    logged = []
    for channel in channels:
        for d in range(days):
            n = rng.poisson(40 * weekly[d % 7] * 1.003**d)
            local = (MONDAY + d) * DAY + rng.uniform(7 * 3600, 23 * 3600, n)
            logged += [LoggedConversation(channel, t - MOSCOW, MOSCOW) for t in local]
    return logged


@pytest.fixture
def reader(monkeypatch):
    """The command's ``read_history`` returning ``reader.conversations`` and recording its
    arguments in ``reader.calls``."""
    module = types.SimpleNamespace(conversations=draw_logs(35), calls=[])

    def read_history(paths, *, mapping=None, strict=False, messages=()):
        module.calls.append({"paths": list(paths), "mapping": mapping, "strict": strict})
        return History(list(module.conversations))

    monkeypatch.setattr("sim.cli.forecast.read_history", read_history)
    return module


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = 0
    try:
        main(list(argv))
    except SystemExit as exited:
        code = exited.code if isinstance(exited.code, int) else 0 if exited.code is None else 1
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_forecast_writes_a_week_scenario_that_simulates(tmp_path, capsys, reader):
    """Five weeks of logs to Sunday 2024-02-04: the week from Monday 2024-02-05 on small.yaml's
    desk, with --map and --strict passed to the reader (and one backtest origin, to keep the
    test short); the file loads and simulates."""
    logs = tmp_path / "export.csv"
    logs.write_text("stand-in\n")
    out = tmp_path / "next" / "week.yaml"
    code, stdout, err = run(
        capsys,
        "forecast",
        str(logs),
        "--days",
        "7",
        "--scenario",
        str(SMALL),
        "--out",
        str(out),
        "--map",
        "created_at=StartTime",
        "--strict",
        "--backtest",
        "1",
    )
    assert code == 0, err
    assert reader.calls == [
        {"paths": [logs], "mapping": {"created_at": "StartTime"}, "strict": True}
    ]
    assert "whatsapp: ETS(" in stdout and "Mon 2024-02-05" in stdout and "Sun 2024-02-11" in stdout
    assert "backtest" in stdout and "MASE (naive)" in stdout
    scenario = load_scenario(out)
    assert scenario.name == "small-forecast"
    assert scenario.start == WeekTime(0.0) and scenario.duration == WEEK
    assert scenario.interval == 900.0
    for name, channel in scenario.channels.items():
        assert channel.day_weights is not None and next(iter(channel.day_weights)) == "Mon"
        assert channel.mean_volume == pytest.approx(sum(channel.day_weights.values()), abs=0.5)
        assert 150 < channel.mean_volume < 400, name  # about 40 a day, fewer at weekends
        assert 0 < channel.volume_cv < 0.5, name  # the forecast's uncertainty travels with it
        weights = np.asarray(scenario.weights(name)).reshape(7, 96)
        assert weights[:, : 7 * 4].sum() < 0.02  # the logs had nobody before 07:00
    # The base's shifts (09:00-12:00 and 10:00-12:00) on every day.
    assert len(scenario.agents[0].shifts) == 14
    text = out.read_text()
    assert text.startswith("# Forecast of 7 days, Mon 2024-02-05 to Sun 2024-02-11")
    assert "chatsim forecast" in text and "--map created_at=StartTime --strict" in text
    assert "80% interval" in text and "seasonal" in text and "cv " in text
    assert "  # whatsapp: ETS(" in text
    raw = yaml.safe_load(text)
    assert raw["channels"]["webchat"]["bot"]["containment"] == 0.3  # the base's keys stay
    code, _, err = run(
        capsys, "simulate", str(out), "-n", "1", "--seed", "3", "--out", str(tmp_path / "sim")
    )
    assert code == 0, err
    results = read_results(tmp_path / "sim" / "results.json")
    assert results.total["offered"]["mean"] > 0
    assert results.intervals[0]["start"] == "Mon 00:00"


def test_forecast_without_a_scenario_writes_a_fragment(tmp_path, capsys, reader):
    """Without --scenario: three days from Monday at --interval 1h, no backtest; the fragment
    holds start, duration, interval and the channels' traffic keys."""
    out = tmp_path / "fragment.yaml"
    code, stdout, err = run(
        capsys,
        "forecast",
        "logs.csv",
        "--days",
        "3",
        "--interval",
        "1h",
        "--backtest",
        "0",
        "--out",
        str(out),
    )
    assert code == 0, err
    data = yaml.safe_load(out.read_text())
    assert (data["start"], data["duration"], data["interval"]) == ("Mon 00:00", "3d", "1h")
    assert set(data["channels"]) == {"whatsapp", "telegram", "webchat"}
    whatsapp = data["channels"]["whatsapp"]
    assert list(whatsapp["profile"]) == ["Mon", "Tue", "Wed"]
    assert len(whatsapp["profile"]["Mon"]) == 24
    assert sum(whatsapp["profile"]["Mon"]) == pytest.approx(100.0, abs=0.05)
    assert "history too short" not in stdout  # --backtest 0: no backtest asked
    assert "fragment of a scenario" in out.read_text()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--days", "0"], "--days"),
        (["--days", "8"], "--days"),
        (["--backtest", "-1"], "--backtest"),
        (["--map", "created_at"], "--map: expected OUR_NAME=THEIR_COLUMN"),
        (["--map", "a=b", "--map", "a=c"], "'a' is given twice"),
        (["--interval", "7m"], "--interval: profiles by weekday need an interval that divides"),
        (["--interval", "soon"], "--interval: cannot read duration"),
        (["--interval", "30m", "--scenario", str(SMALL)], "is not the scenario's interval"),
        (["--scenario", "missing.yaml"], "missing.yaml: file not found"),
    ],
)
def test_bad_arguments_exit_2(capsys, reader, args, message):
    code, _, err = run(capsys, "forecast", "logs.csv", *args)
    assert code == 2
    assert message in " ".join(err.split())
    assert reader.calls == []  # refused before the logs are read


def test_bad_histories_exit_2(tmp_path, capsys, reader):
    """Too short a history names the channel; a scenario channel missing from the logs names
    it."""
    reader.conversations = draw_logs(14)
    code, _, err = run(capsys, "forecast", "logs.csv")
    assert code == 2
    assert "channel telegram: needs at least 21 whole days" in " ".join(err.split())
    reader.conversations = draw_logs(28, channels=("whatsapp", "telegram"))
    out = tmp_path / "x.yaml"
    code, _, err = run(
        capsys,
        "forecast",
        "logs.csv",
        "--scenario",
        str(SMALL),
        "--out",
        str(out),
        "--backtest",
        "0",
    )
    assert code == 2
    assert "channels.webchat: the logs have no conversations of channel 'webchat'" in " ".join(
        err.split()
    )
    assert not out.exists()


def test_forecast_reads_a_real_export(tmp_path, capsys):
    """Four weeks as the generic CSV (ISO times at +03:00, one bad row): the reader's own
    report of the bad row, and a forecast of every channel."""
    logs = tmp_path / "export.csv"
    lines = ["id,channel,created_at"]
    for i, c in enumerate(draw_logs(28, channels=("whatsapp", "webchat"))):
        local = datetime.fromtimestamp(c.created_at, timezone(timedelta(seconds=c.utc_offset)))
        lines.append(f"c{i},{c.channel},{local.isoformat()}")
    lines.append("bad,whatsapp,yesterday")
    logs.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, stdout, err = run(capsys, "forecast", str(logs), "--backtest", "0")
    assert code == 0, err
    assert "skipped 1 row" in err and "export.csv" in err
    assert "whatsapp: ETS(" in stdout and "webchat: ETS(" in stdout
    code, _, err = run(capsys, "forecast", str(logs), "--backtest", "0", "--strict")
    assert code == 2 and "export.csv" in err
