"""The raw replay file: what the Locust side writes is what collect reads, and a malformed file
says which key is wrong."""

from __future__ import annotations

import json

import pytest

from sim.errors import InputError
from sim.loadtest.raw import (
    AgentLog,
    ClockOffset,
    CustomerRecord,
    EmulatorCounts,
    HandledConversation,
    Percentiles,
    RawReplay,
    read_raw,
    write_raw,
)


def measured() -> RawReplay:
    """A raw replay with every field set, open spans and nulls included."""
    return RawReplay(
        t0=1000.0,
        speedup=60.0,
        workers=2,
        customers=[
            CustomerRecord(
                0,
                "c1",
                "chat",
                "webchat:s1",
                [1000.0, 1000.25],
                [1000.0, 1000.25],
                [1000.2, 1000.6],
                None,
                0.001,
                [],
            ),
            CustomerRecord(
                1,
                "c2",
                "wa",
                "whatsapp:7916",
                [1001.0],
                [1001.0],
                [],
                1001.5,
                0.002,
                ["message 2 not acknowledged"],
            ),
        ],
        handled=[
            HandledConversation(
                "cv-1", "c1", "webchat:s1", "a-0001", 1000.02, 1001.7, 2, 2, None, [1000.19, 1000.5]
            ),
            HandledConversation(
                "cv-2", "c2", "whatsapp:7916", "a-0001", 1001.1, None, 1, 0, "silent"
            ),
        ],
        agents=[
            AgentLog(
                "a-0001",
                "a",
                2,
                1000.0,
                None,
                [(1000.02, 1000.18), (1000.3, 1000.55)],
                [(1000.6, 1000.8)],
            )
        ],
        accepting={"a-0001": [(1000.0, 1000.9), (1001.0, None)]},
        delivered={"whatsapp:7916": 1},
        outbound={"whatsapp:7916": [1001.3]},
        emulator=EmulatorCounts(received=1, rejected=0),
        lateness=Percentiles(0.001, 0.002, 0.002),
        ack_ms=Percentiles(1.5, 3.0, 3.0),
        delivery_ms=Percentiles(10.0, 100.0, 100.0),
        problems=["agent a-0001: reply to cv-2 answered 500"],
        finished=1002.0,
        clocks={"0": ClockOffset(0.05, 0.8), "1": ClockOffset(-0.02, 1.1)},
    )


def test_a_raw_file_reads_back_as_written(tmp_path):
    raw = measured()
    path = tmp_path / "out" / "replay-raw.json"
    write_raw(raw, path)
    assert read_raw(path) == raw
    data = json.loads(path.read_text())
    assert list(data) == [
        "format",
        "version",
        "t0",
        "speedup",
        "workers",
        "customers",
        "handled",
        "agents",
        "accepting",
        "delivered",
        "outbound",
        "emulator",
        "lateness",
        "ack_ms",
        "delivery_ms",
        "outages",
        "problems",
        "finished",
        "responder",
        "clocks",
    ]
    assert data["format"] == "chatsim-replay-raw" and data["version"] == 1
    assert data["responder"] == "agents"
    del data["responder"]  # files written before bots could answer: agents did
    assert RawReplay.from_dict(data) == raw
    assert data["accepting"]["a-0001"] == [[1000.0, 1000.9], [1001.0, None]]
    assert data["agents"][0]["busy"] == [[1000.02, 1000.18], [1000.3, 1000.55]]
    assert data["agents"][0]["away"] == [[1000.6, 1000.8]]
    assert RawReplay.from_dict(raw.to_dict()) == raw


def test_the_scratch_state_of_agents_is_not_written():
    written = measured().to_dict()["handled"][0]
    assert set(written) == {
        "conversation_id",
        "trace_id",
        "key",
        "agent",
        "assigned",
        "closed",
        "messages",
        "replies",
        "left",
        "accepted",
    }


def test_optional_parts_of_older_files():
    data = measured().to_dict()
    for key in ("version", "accepting", "finished", "outbound", "delivery_ms"):
        del data[key]
    for handled in data["handled"]:
        del handled["accepted"]
    for agent in data["agents"]:
        del agent["away"]  # written before agents took breaks
    raw = RawReplay.from_dict(data)
    assert all(agent.away == [] for agent in raw.agents)
    assert raw.accepting is None and raw.finished is None
    assert raw.outbound == {} and raw.delivery_ms is None
    assert all(handled.accepted == [] for handled in raw.handled)


@pytest.mark.parametrize(
    "damage, key, problem",
    [
        (lambda d: d.pop("t0"), "t0", "missing"),
        (lambda d: d.update(speedup="fast"), "speedup", "expected a number, got a string"),
        (
            lambda d: d["customers"][1]["sent"].__setitem__(0, None),
            "customers[1].sent[0]",
            "expected a number, got null",
        ),
        (lambda d: d["customers"][0].pop("channel"), "customers[0].channel", "missing"),
        (
            lambda d: d["handled"][1].update(left="angry"),
            "handled[1].left",
            "expected one of visible, silent or null",
        ),
        (
            lambda d: d["handled"][0].update(messages=2.5),
            "handled[0].messages",
            "expected an integer",
        ),
        (
            lambda d: d["agents"][0]["busy"].append([1.0]),
            "agents[0].busy[2]",
            "expected [begin, end]",
        ),
        (
            lambda d: d["accepting"]["a-0001"].append([1.0, 2.0, None]),
            "accepting.a-0001[2]",
            "expected [begin, end], got 3 values",
        ),
        (
            lambda d: d["accepting"].update({"a-0001": {}}),
            "accepting.a-0001",
            "expected a list, got an object",
        ),
        (
            lambda d: d["delivered"].update({"x": True}),
            "delivered.x",
            "expected an integer, got a boolean",
        ),
        (lambda d: d["lateness"].pop("p99"), "lateness.p99", "missing"),
        (lambda d: d.update(emulator=[]), "emulator", "expected an object, got a list"),
        (lambda d: d.update(version=2), "version", "version 2 is not supported"),
        (lambda d: d.update(version=True), "version", "expected an integer, got a boolean"),
    ],
)
def test_a_malformed_raw_file_names_the_file_and_the_key(tmp_path, damage, key, problem):
    data = measured().to_dict()
    damage(data)
    path = tmp_path / "replay-raw.json"
    path.write_text(json.dumps(data))
    with pytest.raises(InputError) as error:
        read_raw(path)
    assert error.value.file == str(path) and error.value.key == key
    assert error.value.problem.startswith(problem)
    assert str(path) in str(error.value) and key in str(error.value)


def test_what_is_not_a_raw_file(tmp_path):
    path = tmp_path / "replay-raw.json"
    with pytest.raises(InputError, match="wrote no measurements"):
        read_raw(path)
    path.write_text("{")
    with pytest.raises(InputError, match="invalid JSON"):
        read_raw(path)
    path.write_text(json.dumps({"format": "chatsim-results"}))
    with pytest.raises(InputError, match="not a chatsim replay measurement file"):
        read_raw(path)


def test_percentiles():
    assert Percentiles.of([]) == Percentiles(0.0, 0.0, 0.0)
    values = [i / 1000 for i in range(100)]
    summary = Percentiles.of(values)
    assert summary.p50 == 0.05 and summary.p99 == 0.099 and summary.max == 0.099
