"""``chatsim simulate``: tables, files, replications, parallel jobs and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sim.cli import main
from sim.results import read_results

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "scenarios" / "small.yaml"


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


def test_simulate_writes_results_and_records(tmp_path, capsys):
    assert run_cli("simulate", str(SMALL), "-n", "3", "--seed", "4", "--out", str(tmp_path)) == 0
    out = capsys.readouterr().out
    assert "small: model, 3 replications" in out and "whatsapp" in out and "total" in out
    results = read_results(tmp_path / "results.json")
    assert results.source == "model" and results.replications == 3
    assert set(results.channels) == {"whatsapp", "telegram", "webchat"}
    assert results.total["service_level"]["ci95"] is not None
    assert len(results.intervals) == 12 * 4  # 12 intervals x (3 channels + "all")
    assert results.intervals[0]["start"] == "09:00"
    records = [
        json.loads(line) for line in (tmp_path / "conversations.jsonl").read_text().splitlines()
    ]
    assert {
        "id",
        "channel",
        "queued_at",
        "assigned_at",
        "first_reply_at",
        "missed",
        "agent",
        "reply_delays",
    } <= set(records[0])
    offered = [r for r in records if r["queued_at"] is not None]
    assert sum(not r["missed"] for r in offered) > 0


def test_parallel_jobs_give_the_same_results(tmp_path):
    assert run_cli("simulate", str(SMALL), "-n", "4", "--out", str(tmp_path / "one")) == 0
    assert (
        run_cli("simulate", str(SMALL), "-n", "4", "-j", "2", "--out", str(tmp_path / "two")) == 0
    )
    one = read_results(tmp_path / "one").to_dict()
    two = read_results(tmp_path / "two").to_dict()
    assert one == two
    assert (tmp_path / "one" / "conversations.jsonl").read_bytes() == (
        tmp_path / "two" / "conversations.jsonl"
    ).read_bytes()


def test_trace_run_is_replication_zero(tmp_path):
    trace = tmp_path / "t.jsonl"
    assert run_cli("trace", str(SMALL), "--seed", "9", "--out", str(trace)) == 0
    assert run_cli("simulate", str(SMALL), "--trace", str(trace), "--out", str(tmp_path / "a")) == 0
    assert (
        run_cli("simulate", str(SMALL), "-n", "1", "--seed", "9", "--out", str(tmp_path / "b")) == 0
    )
    from_trace = read_results(tmp_path / "a")
    drawn = read_results(tmp_path / "b")
    assert from_trace.trace_sha256 is not None and from_trace.replications == 1
    assert from_trace.total == drawn.total  # the in-memory draw is the file, numbers and all


@pytest.mark.parametrize(
    ("content", "key"),
    [
        ("name: x\nduration: 1h\nchannels: {}\nagents: []\n", "channels"),
        ("name: x\nduration: [1h\n", "line 2"),
    ],
)
def test_bad_scenario_exits_2_without_traceback(tmp_path, content, key):
    bad = tmp_path / "bad.yaml"
    bad.write_text(content)
    result = subprocess.run(
        [sys.executable, "-m", "sim", "simulate", str(bad)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr + result.stdout
    assert str(bad) in result.stderr.replace("\n", "") and key in result.stderr


def test_usage_errors_exit_2(tmp_path):
    assert run_cli("simulate", str(SMALL), "-n", "0") == 2
    assert run_cli("simulate", str(tmp_path / "missing.yaml")) == 2
    assert run_cli("simulate") == 2


def test_negative_seed_and_unwritable_outputs_exit_2(tmp_path, capsys):
    assert run_cli("simulate", str(SMALL), "--seed", "-1") == 2
    assert run_cli("check", str(SMALL), "--seed", "-1") == 2
    a_file = tmp_path / "a-file"
    a_file.write_text("")
    capsys.readouterr()
    assert run_cli("simulate", str(SMALL), "-n", "1", "--out", str(a_file)) == 2
    assert "--out" in capsys.readouterr().err  # refused before the replications run
    assert run_cli("simulate", str(SMALL), "-n", "1", "--report", str(a_file / "r.html")) == 2
    assert "--report" in capsys.readouterr().err  # refused before the replications run too
    assert run_cli("trace", str(SMALL), "--out", str(a_file / "t.jsonl")) == 2


def test_simulate_writes_an_html_report(tmp_path):
    report = tmp_path / "r.html"
    assert run_cli("simulate", str(SMALL), "-n", "2", "--report", str(report)) == 0
    html = report.read_text()
    assert html.startswith("<!DOCTYPE html>") or "<html" in html[:200]
    assert 'data-figure="frt-cdf"' in html and "data:image/png;base64," in html
