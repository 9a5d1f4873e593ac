"""Results files: what the model writes reads back the same, and a malformed file is refused
with the file, the key path and the problem (exit 2 in the CLI), never a traceback later on."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.errors import InputError
from sim.experiment import run_experiment
from sim.results import (
    Results,
    encode_records,
    read_results,
    summarise,
    write_records,
    write_results,
)
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


def _record(conversation_id: str, channel: str, agent: str | None, delays: list[float]) -> Any:
    from sim.records import ConversationRecord
    from sim.trace import BotOutcome, Conversation, Turn

    talk = Conversation(
        conversation_id,
        channel,
        1.0004999,
        None,
        BotOutcome(False, 2.0),
        60.0,
        5.0,
        (Turn("", 0.0, 3.0),),
    )
    record = ConversationRecord(talk, silent=False)
    record.queued_at, record.assigned_at = 3.0004999, 3.25
    record.first_reply_at, record.agent_id = 6.123456, agent
    record.answered, record.reply_delays = bool(delays), delays
    return record


def _rounded(data: dict[str, Any]) -> dict[str, Any]:
    return {
        key: (
            round(value, 3)
            if isinstance(value, float)
            else [round(d, 3) for d in value]
            if key == "reply_delays"
            else value
        )
        for key, value in data.items()
    }


def test_records_file_holds_each_record_rounded_to_milliseconds() -> None:
    """Every line of conversations.jsonl is the record's to_dict, in its key order, with its
    times rounded to milliseconds: numpy rounds halves of a millisecond to even where Python's
    round() looks at the binary value, so a time may differ by 1 ms at most, never more."""
    experiment = run_experiment(load_scenario(SMALL), replications=1, seed=3)
    records = experiment.first_run.conversations
    lines = encode_records(records).decode().split("\n")
    assert lines.pop() == ""
    assert len(lines) == len(records) > 100
    for line, record in zip(lines, records, strict=True):
        found, expected = json.loads(line), _rounded(record.to_dict())
        assert list(found) == list(expected)
        for key, value in expected.items():
            if isinstance(value, float):
                assert found[key] == pytest.approx(value, abs=0.0010001), key
                assert round(found[key], 3) == found[key], key
            elif key == "reply_delays":
                assert found[key] == pytest.approx(value, abs=0.0010001)
                assert [round(d, 3) for d in found[key]] == found[key]
            else:
                assert found[key] == value, key


@given(
    st.lists(
        st.tuples(
            st.text(min_size=1, max_size=12),
            st.text(min_size=1, max_size=12),
            st.none() | st.text(max_size=12),
            st.lists(st.floats(0, 1e6), max_size=3),
        ),
        max_size=6,
    )
)
def test_any_strings_make_one_line_per_record(rows: list[Any]) -> None:
    """Names that spell a record boundary, quotes, braces, newlines and any unicode stay
    inside their own line."""
    records = [_record(f'{i}"}},{{"id":{c}', ch, ag, ds) for i, (c, ch, ag, ds) in enumerate(rows)]
    data = encode_records(records)
    lines = data.split(b"\n")
    assert lines.pop() == b""
    assert [json.loads(line)["id"] for line in lines] == [r.id for r in records]
    assert [json.loads(line)["agent"] for line in lines] == [r.agent_id for r in records]


def test_records_are_written_in_chunks_as_they_come(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sim.results

    monkeypatch.setattr(sim.results, "_CHUNK", 3)
    records = [_record(f"c{i}", "chat", "a-1", [1.0, 2.5]) for i in range(8)]
    path = write_records(tmp_path, iter(records))
    assert path.read_bytes() == encode_records(records)
    assert [json.loads(line)["id"] for line in path.read_text().splitlines()] == [
        f"c{i}" for i in range(8)
    ]
    assert write_records(tmp_path / "none", []).read_bytes() == b""
