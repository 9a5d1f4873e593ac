"""Results files: what the model writes reads back the same, and a malformed file is refused
with the file, the key path and the problem (exit 2 in the CLI), never a traceback later on."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.errors import InputError
from sim.experiment import run_experiment
from sim.results import Results, read_results, summarise, write_results
from sim.scenario import load_scenario

SMALL = Path(__file__).resolve().parents[1] / "scenarios" / "small.yaml"


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    experiment = run_experiment(load_scenario(SMALL), replications=2, seed=5)
    directory = tmp_path_factory.mktemp("results")
    write_results(experiment.results, directory, experiment.first_run.conversations)
    return directory


def test_model_results_read_back_unchanged(written):
    data = json.loads((written / "results.json").read_text())
    results = read_results(written)
    assert results.to_dict() == data
    assert results.replications == 2 and results.total["offered"]["ci95"] is not None


def break_it(written: Path, tmp_path: Path, change) -> Path:
    data = json.loads((written / "results.json").read_text())
    change(data)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize(
    ("change", "key", "problem"),
    [
        (lambda d: d.__setitem__("total", []), "total", "expected an object"),
        (
            lambda d: d["total"].__setitem__("service_level", 0.8),
            "total.service_level",
            "expected a KPI object",
        ),
        (
            lambda d: d["total"]["frt_mean"].__setitem__("mean", "oops"),
            "total.frt_mean.mean",
            "expected a number",
        ),
        (
            lambda d: d["total"]["frt_mean"].__setitem__("mean", True),
            "total.frt_mean.mean",
            "expected a number",
        ),
        (
            lambda d: d["total"]["frt_mean"].__setitem__("spread", 1.0),
            "total.frt_mean.spread",
            "unknown key",
        ),
        (
            lambda d: d["channels"]["webchat"]["frt_mean"].__setitem__("ci95", "x"),
            "channels.webchat.frt_mean.ci95",
            "expected a number",
        ),
        (
            lambda d: d["intervals"][3].__setitem__("frt_mean", {"mean": "x"}),
            "intervals[3].frt_mean.mean",
            "expected a number",
        ),
        (
            lambda d: d["intervals"][0].pop("channel"),
            "intervals[0].channel",
            "missing required key",
        ),
        (lambda d: d.pop("source"), "source", "missing required key"),
        (lambda d: d.__setitem__("replications", 0), "replications", "greater than or equal to 1"),
        (lambda d: d.__setitem__("interval", "15m"), "interval", "expected a number"),
        (lambda d: d["intervals"].__setitem__(0, []), "intervals[0]", "expected an object"),
    ],
)
def test_malformed_results_name_the_key(written, tmp_path, change, key, problem):
    path = break_it(written, tmp_path, change)
    with pytest.raises(InputError) as error:
        read_results(path)
    assert (
        error.value.file == str(path) and error.value.key == key and problem in error.value.problem
    )


def test_wrong_format_and_version(written, tmp_path):
    for change, key in (
        (lambda d: d.__setitem__("format", "x"), "format"),
        (lambda d: d.__setitem__("version", 9), "version"),
    ):
        with pytest.raises(InputError) as error:
            read_results(break_it(written, tmp_path, change))
        assert error.value.key == key


@given(st.lists(st.one_of(st.none(), st.floats(-1e6, 1e6)), min_size=1, max_size=12))
def test_any_summary_round_trips(values):
    """Whatever the replications gave (numbers, undefined KPIs), the file reads back equal."""
    stat = summarise(values)
    numbers = [v for v in values if v is not None]
    assert stat["mean"] == (pytest.approx(sum(numbers) / len(numbers)) if numbers else None)
    assert ("ci95" in stat) == (len(values) > 1 and bool(numbers))
    results = Results(
        source="model",
        scenario="x",
        scenario_sha256="",
        replications=len(values),
        start="00:00",
        interval=900.0,
        total={"frt_mean": stat},
        channels={"chat": {"frt_mean": stat}},
        intervals=[{"start": "00:00", "channel": "chat", "index": 0, "frt_mean": stat}],
    )
    with tempfile.TemporaryDirectory() as directory:
        write_results(results, directory)
        assert read_results(directory).to_dict() == json.loads(
            (Path(directory) / "results.json").read_text()
        )
