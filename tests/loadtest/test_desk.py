"""The agent desk: ``--agents MODULE:CLASS`` loading, and the reference gateway's desk against a
scripted connection (what it sends, what it makes of the answers)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sim.cli import main
from sim.loadtest.desk import (
    REFERENCE_DESK,
    AgentProfile,
    Assigned,
    CustomerLeft,
    CustomerMessage,
    DeskError,
    Sent,
    desk_methods,
    load_desk,
)
from sim.loadtest.reference_desk import ReferenceDesk

HERE = Path(__file__).resolve().parent
COUNTING = HERE / "counting_desk.py"
SMALL = HERE.parents[1] / "scenarios" / "small.yaml"


def test_the_default_desk_is_the_reference_gateways():
    assert load_desk(REFERENCE_DESK) is ReferenceDesk
    assert set(desk_methods()) == {"login", "away", "back", "gone", "events", "reply", "close"}


def test_a_desk_loads_from_a_file_path(monkeypatch):
    desk = load_desk(f"{COUNTING}:CountingDesk")
    assert desk.__name__ == "CountingDesk" and issubclass(desk, ReferenceDesk)
    # Relative to the working directory, as typed on a command line; loaded once per process.
    monkeypatch.chdir(HERE.parents[1])
    assert load_desk("tests/loadtest/counting_desk.py:CountingDesk") is desk


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("sim.loadtest.reference_desk", "is not MODULE:CLASS"),
        ("sim.loadtest.reference_desk:", "is not MODULE:CLASS"),
        ("no_such_module_here:Desk", "does not import: ModuleNotFoundError"),
        ("sim.loadtest.reference_desk:Missing", "has no class Missing"),
        ("sim.loadtest.desk:REFERENCE_DESK", "has no class REFERENCE_DESK"),
        (f"{COUNTING}:NotADesk", "lacks away, back, gone, events, reply, close"),
        ("tests/no/such/file.py:Desk", "no file tests/no/such/file.py"),
    ],
)
def test_what_is_not_a_desk_is_named(spec, says):
    with pytest.raises(DeskError, match=says):
        load_desk(spec)


def test_a_desk_file_that_fails_to_import_says_why(tmp_path):
    broken = tmp_path / "broken_desk.py"
    broken.write_text("raise RuntimeError('no gateway configured')\n")
    with pytest.raises(DeskError, match="does not import: RuntimeError: no gateway configured"):
        load_desk(f"{broken}:Desk")


def run_cli(*args: object) -> int:
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return int(exit_info.value.code or 0)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--agents", "nowhere:Desk"], "--agents: nowhere does not import"),
        (["--agents", f"{COUNTING}:NotADesk"], "is not an agent desk"),
        (["--responder", "robot"], "--responder: must be one of agents, bot"),
        (["--responder", "bot"], "give --gateway URL"),
        (
            ["--responder", "bot", "--gateway", "http://127.0.0.1:9", "--agents", REFERENCE_DESK],
            "--agents: a bot answers",
        ),
    ],
)
def test_replay_refuses_a_bad_desk_or_responder_before_running(tmp_path, capsys, options, says):
    code = run_cli("replay", SMALL, "--speedup", "60", "--out", tmp_path / "out", *options)
    assert code == 2
    assert says in capsys.readouterr().err.replace("\n", " ")
    assert not (tmp_path / "out" / "locust.log").exists()


class Scripted:
    """A :class:`~sim.loadtest.desk.DeskConnection` that answers from a script and records
    every call."""

    desk_key = "the-desk-key"

    def __init__(self, answers: dict[str, tuple[int, Any]]) -> None:
        self.answers = answers
        self.calls: list[tuple[str, str, Any, dict[str, str] | None]] = []

    def _answer(self, path: str) -> tuple[int, Any]:
        for prefix, answer in self.answers.items():
            if path.startswith(prefix):
                return answer
        return 200, None

    def request(
        self,
        method: str,
        path: str,
        name: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        self.calls.append((method, path, json, headers))
        return self._answer(path)

    def poll(self, path: str, *, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        self.calls.append(("GET", path, None, headers))
        return self._answer(path)


AGENT = AgentProfile("experts-0001", ("whatsapp", "webchat"), 3)

CUSTOMER_SAYS = {"sender": "customer", "ts": 101.0}
AGENT_SAYS = {"sender": "agent", "ts": 102.0}
EVENTS = [
    {
        "seq": 4,
        "type": "assigned",
        "conversation_id": "c1",
        "channel": "webchat",
        "ts": 100.5,
        "customer": {"id": "s-1"},
        "messages": [
            {"sender": "customer", "ts": 99.0},
            {"sender": "agent", "ts": 99.5},
            {"sender": "customer", "ts": 100.0},
        ],
    },
    {"seq": 5, "type": "message", "conversation_id": "c1", "message": CUSTOMER_SAYS},
    {"seq": 6, "type": "message", "conversation_id": "c1", "message": AGENT_SAYS},
    {"seq": 7, "type": "delivery", "conversation_id": "c1", "state": "sent"},
    {"seq": 8, "type": "left", "conversation_id": "c1"},
]


def test_reference_desk_logs_in_with_the_desk_key_then_acts_with_its_token():
    connection = Scripted({"/agents/login": (200, {"state": "available", "token": "T1"})})
    desk = ReferenceDesk(connection)
    assert desk.login(AGENT)
    method, path, body, headers = connection.calls[0]
    assert (method, path) == ("POST", "/agents/login")
    assert body == {"agent_id": "experts-0001", "skills": ["whatsapp", "webchat"], "max_chats": 3}
    assert headers == {"Authorization": "Bearer the-desk-key"}
    assert desk.reply(AGENT.id, "c1", "Hi", "c1-0") is Sent.ACCEPTED
    desk.close(AGENT.id, "c1")
    desk.away(AGENT.id)
    assert [c[:3] for c in connection.calls[1:]] == [
        ("POST", "/conversations/c1/reply", {"agent_id": AGENT.id, "text": "Hi", "id": "c1-0"}),
        ("POST", "/conversations/c1/close", {"agent_id": "experts-0001"}),
        ("POST", "/agents/experts-0001/logout", None),
    ]
    assert all(c[3] == {"Authorization": "Bearer T1"} for c in connection.calls[1:])


def test_reference_desk_without_sessions_uses_the_desk_key_and_a_refusal_is_false():
    connection = Scripted({"/agents/login": (200, {"state": "available"})})
    desk = ReferenceDesk(connection)
    assert desk.login(AGENT)
    desk.away(AGENT.id)
    assert connection.calls[-1][3] == {"Authorization": "Bearer the-desk-key"}
    assert not ReferenceDesk(Scripted({"/agents/login": (403, {"error": "x"})})).login(AGENT)


def test_reference_desk_events_follow_the_cursor_and_keep_what_agents_need():
    connection = Scripted({"/agents/experts-0001/events": (200, EVENTS)})
    desk = ReferenceDesk(connection)
    events = desk.events(AGENT.id, 1.0)
    assert connection.calls[-1][1] == "/agents/experts-0001/events?timeout=1&after=0"
    assert events == [
        Assigned("c1", "webchat", "s-1", (99.0, 100.0), assigned_at=100.5),
        CustomerMessage("c1", 101.0),
        CustomerLeft("c1"),
    ]
    connection.answers["/agents/experts-0001/events"] = (200, [])
    assert desk.events(AGENT.id, 0.5) == []
    assert connection.calls[-1][1] == "/agents/experts-0001/events?timeout=0.5&after=8"
    connection.answers["/agents/experts-0001/events"] = (0, None)
    assert desk.events(AGENT.id, 1.0) is None  # a failed poll: the agent asks again


@pytest.mark.parametrize(
    ("answer", "sent"),
    [((202, {}), Sent.ACCEPTED), ((409, {}), Sent.ENDED), ((503, {}), Sent.FAILED)],
)
def test_reference_desk_reply_outcomes(answer, sent):
    assert ReferenceDesk(Scripted({"/conversations": answer})).reply("a", "c", "t", "k") is sent


@pytest.mark.parametrize(
    ("answer", "gone"),
    [((200, {"state": "draining"}), False), ((200, {"state": "gone"}), True), ((404, None), True)],
)
def test_reference_desk_gone_is_the_gateways_word(answer, gone):
    assert ReferenceDesk(Scripted({"/agents/a": answer})).gone("a") is gone


def test_locust_ends_cleanly_when_the_desk_does_not_load(tmp_path):
    trace = tmp_path / "trace.jsonl"
    assert run_cli("trace", SMALL, "--seed", "1", "--out", trace) == 0
    locustfile = HERE.parents[1] / "sim" / "loadtest" / "locustfile.py"
    command = [
        sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", "1",
        "--host", "http://127.0.0.1:9", "--scenario", str(SMALL), "--trace", str(trace),
        "--emulator-port", "0", "--agents", "nowhere:Desk",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert "--agents: nowhere does not import: ModuleNotFoundError" in output
    assert "Traceback" not in output
