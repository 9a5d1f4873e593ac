"""``chatsim report``: a self-contained HTML page with every figure, from real results."""

from __future__ import annotations

import base64
import json
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

import sim.cli.report  # noqa: F401  (registers the command until sim.cli imports it)
from sim.cli import main
from sim.experiment import run_experiment
from sim.report import FIGURES, build_report, write_report
from sim.report.conversations import first_responses
from sim.report.staffing import estimated_agents
from sim.results import read_results, write_results
from sim.scenario import Targets, load_scenario
from sim.shifts import scheduled_agents

ROOT = Path(__file__).resolve().parent.parent
SMALL = ROOT / "scenarios" / "small.yaml"


class Page(HTMLParser):
    """Every tag with its attributes, and the text of <style> blocks."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.styles: list[str] = []
        self._in_style = False
        self.feed(text)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_style = tag == "style"

    def handle_endtag(self, tag):
        self._in_style = False

    def handle_data(self, data):
        if self._in_style:
            self.styles.append(data)

    def figures(self) -> set[str]:
        return {a["data-figure"] for _, a in self.tags if "data-figure" in a}

    def images(self) -> list[str]:
        return [a.get("src", "") for t, a in self.tags if t == "img"]


def png_size(uri: str) -> tuple[int, int]:
    data = base64.b64decode(uri.split(",", 1)[1])
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="module")
def scenario():
    return load_scenario(SMALL)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, scenario):
    experiment = run_experiment(scenario, replications=3, seed=2)
    directory = tmp_path_factory.mktemp("model")
    write_results(experiment.results, directory, experiment.first_run.conversations)
    return directory


@pytest.fixture(scope="module")
def replay_dir(tmp_path_factory, model_dir):
    """A "measurement": the model's results relabelled as a replay, service level 10 pp lower."""
    data = json.loads((model_dir / "results.json").read_text())
    data.update(source="replay", replications=1, speedup=60.0)
    data["validity"] = {
        "valid": False,
        "reasons": ["dispatch lateness p99 250 ms > 100 ms"],
        "lateness_p50_ms": 3.5,
        "lateness_p99_ms": 250.0,
        "ack_p50_ms": 1.2,
        "ack_p99_ms": 4.0,
        "lost_inbound": 0,
        "lost_replies": 2,
        "problems": [],
    }
    data["total"]["service_level"] = {"mean": data["total"]["service_level"]["mean"] - 0.1}
    directory = tmp_path_factory.mktemp("replay")
    (directory / "results.json").write_text(json.dumps(data))
    shutil.copy(model_dir / "conversations.jsonl", directory / "conversations.jsonl")
    return directory


@pytest.fixture(scope="module")
def model_report(tmp_path_factory, model_dir, scenario):
    out = write_report(
        [model_dir], tmp_path_factory.mktemp("out") / "sub" / "report.html", scenario
    )
    return out


def test_report_is_self_contained_with_every_figure(model_report):
    text = model_report.read_text(encoding="utf-8")
    page = Page(text)
    assert page.figures() >= set(FIGURES)
    assert "comparison" not in page.figures() and "validity" not in page.figures()
    images = page.images()
    assert len(images) == 6  # arrivals, staffing, service, frt-cdf, utilisation, wasted
    for uri in images:
        assert uri.startswith("data:image/png;base64,")
        width, height = png_size(uri)
        assert width >= 800 and height >= 300
    for tag, attrs in page.tags:
        assert tag not in {"script", "link", "iframe", "object", "embed"}
        for name in ("src", "href"):
            link = attrs.get(name, "")
            assert not link.startswith(("http:", "https:", "//", "file:")), (tag, link)
            assert name not in attrs or name == "src" or link.startswith("#"), link
    assert "url(" not in "".join(page.styles) and "@import" not in "".join(page.styles)
    # An analytic line is the estimate it is: the requirement is the planner's (staff --report).
    assert "Erlang C estimate" in text and "required (Erlang" not in text


def test_headline_cards_follow_the_targets(model_dir, scenario):
    results = read_results(model_dir)
    strict = scenario.model_copy(update={"targets": Targets(service_level=0.0, missed_rate=0.0)})
    text = build_report([results], scenario=strict)
    assert '<div class="card pass"><div class="what">Service level' in text
    assert '<div class="card fail"><div class="what">Missed chats' in text
    plain = build_report([results])
    assert '<div class="card pass">' not in plain and '<div class="card fail">' not in plain
    assert "no scenario given" in plain


def test_predicted_versus_measured(model_dir, replay_dir, scenario, tmp_path):
    out = write_report([model_dir, replay_dir], tmp_path / "both.html", scenario)
    text = out.read_text(encoding="utf-8")
    page = Page(text)
    assert {"comparison", "validity"} <= page.figures()
    assert len(page.images()) == 7
    assert "predicted (model)" in text and "measured (replay)" in text
    assert "−10.0 pp" in text  # the service level difference in the table
    assert "INVALID" in text and "dispatch lateness p99 250 ms &gt; 100 ms" in text
    assert "×60" in text


def test_report_without_conversations_or_scenario(model_dir):
    text = build_report([read_results(model_dir)])
    page = Page(text)
    assert page.figures() >= set(FIGURES)
    assert all(uri.startswith("data:image/png;base64,") for uri in page.images())


def test_text_from_inputs_is_escaped(model_dir):
    results = read_results(model_dir)
    results.scenario = "<script>alert(1)</script>"
    text = build_report([results])
    assert "<script>" not in text and "&lt;script&gt;" in text


def test_scheduled_agents_follow_the_shifts(scenario):
    schedule = scheduled_agents(scenario)
    # small.yaml: 3 agents 09:00-12:00, one more 10:00-12:00; 15-minute intervals
    assert schedule.agents.tolist() == [3.0] * 4 + [4.0] * 8
    assert schedule.slots_per_agent == 3.0


def test_erlang_estimate_grows_with_traffic():
    offered = np.array([0.0, 10.0, 40.0, 160.0, np.nan])
    required = estimated_agents(
        offered,
        900.0,
        holding=300.0,
        work=60.0,
        target=60.0,
        service_level=0.8,
        slots_per_agent=3.0,
    )
    agents = required.agents
    assert agents[0] == 0 and agents[-1] == 0
    assert 0 < agents[1] < agents[2] < agents[3]
    # hands: 160 chats x 60 s in 900 s is 10.7 Erlangs of typing, so at least 11 agents
    assert agents[3] >= 11


def test_first_responses_skip_missed_and_unqueued():
    records = [
        {"channel": "a", "queued_at": 1.0, "missed": False, "reply_delays": [5.0, 9.0]},
        {"channel": "a", "queued_at": 2.0, "missed": False, "reply_delays": [3.0]},
        {"channel": "a", "queued_at": 2.0, "missed": True, "reply_delays": [99.0]},
        {"channel": "b", "queued_at": None, "missed": False, "reply_delays": []},
        {"channel": "b", "queued_at": 4.0, "missed": False, "reply_delays": []},
    ]
    found = first_responses(records)
    assert set(found) == {"a"} and found["a"].tolist() == [3.0, 5.0]


def run_cli(*args: str) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    return int(exit_info.value.code or 0)


def test_cli_writes_the_report(model_dir, tmp_path, capsys):
    out = tmp_path / "r.html"
    assert (
        run_cli(
            "report", str(model_dir / "results.json"), "--out", str(out), "--scenario", str(SMALL)
        )
        == 0
    )
    assert f"wrote {out}" in capsys.readouterr().out.replace("\n", "")
    assert out.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


@pytest.mark.parametrize("content", [None, "{not json", json.dumps({"format": "something-else"})])
def test_cli_bad_input_exits_2(tmp_path, capsys, content):
    bad = tmp_path / "bad.json"
    if content is not None:
        bad.write_text(content)
    out = tmp_path / "r.html"
    assert run_cli("report", str(bad), "--out", str(out)) == 2
    assert "error" in capsys.readouterr().err and not out.exists()


def test_cli_needs_out(model_dir):
    assert run_cli("report", str(model_dir)) == 2


def _browser() -> str | None:
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def test_report_renders_in_headless_chromium(model_report, tmp_path):
    browser = _browser()
    if browser is None:
        pytest.skip("no chromium or google-chrome installed")
    shot = tmp_path / "shot.png"
    command = [
        browser,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,3000",
        model_report.resolve().as_uri(),
    ]
    try:
        subprocess.run(command, capture_output=True, timeout=90, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("headless chromium did not finish within 90 s")
    assert shot.exists() and shot.stat().st_size > 20_000
    width, height = struct.unpack(">II", shot.read_bytes()[16:24])
    assert (width, height) == (1200, 3000)
