"""The replay's emulated agents playing a roster against an in-memory desk, under gevent.

``python tests/loadtest/floor_play.py`` plays every case at once (each its own
:class:`~sim.loadtest.agents.AgentFloor`, desk and clock) and prints one JSON object, per case:
the desk's calls, when each agent polled its events, and the agents' logs and accepting spans,
all in scenario seconds. ``test_agents_roster.py`` runs it as a subprocess (gevent stays out of
pytest) and judges what it prints.

:class:`FakeDesk` keeps an agent's state as the reference gateway does (active, draining, gone
once a draining agent holds nothing) and assigns the conversations a case hands it.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from typing import Any

import gevent

from sim.loadtest.agents import AgentFloor
from sim.loadtest.desk import AgentProfile, Assigned, DeskEvent, Sent
from sim.scenario import Scenario, parse_scenario
from sim.trace import Conversation, Trace, Turn
from sim.traffic import draw_trace

SPEEDUP = 600.0
"""Scenario seconds per wall second: 20 scenario minutes in 2 wall seconds."""


class FakeDesk:
    """An agent desk in memory; ``slow_gone`` wall seconds delay the answer of :meth:`gone`
    asked by any greenlet but the roster's (the answer is the state when asked)."""

    def __init__(self, clock: Callable[[], float], slow_gone: float = 0.0) -> None:
        self.clock = clock
        self.slow_gone = slow_gone
        self.schedule: gevent.Greenlet | None = None
        self.state: dict[str, str] = {}
        self.held: dict[str, set[str]] = {}
        self.inbox: dict[str, list[DeskEvent]] = {}
        self.calls: list[tuple[float, str, str]] = []
        self.polls: dict[str, list[float]] = {}
        self.answers: list[tuple[float, float, bool]] = []
        """Each answer of :meth:`gone`: when asked, when answered, what."""

    def _note(self, call: str, agent_id: str) -> None:
        self.calls.append((self.clock(), call, agent_id))

    def _settle(self, agent_id: str) -> None:
        if self.state.get(agent_id) == "draining" and not self.held.get(agent_id):
            self.state[agent_id] = "gone"

    def login(self, agent: AgentProfile) -> bool:
        self._note("login", agent.id)
        self.state[agent.id] = "active"
        return True

    def back(self, agent: AgentProfile) -> bool:
        self._note("back", agent.id)
        self.state[agent.id] = "active"
        return True

    def away(self, agent_id: str) -> None:
        self._note("away", agent_id)
        if self.state.get(agent_id) == "active":
            self.state[agent_id] = "draining"
        self._settle(agent_id)

    def gone(self, agent_id: str) -> bool:
        self._note("gone?", agent_id)
        asked = self.clock()
        answer = self.state.get(agent_id, "gone") == "gone"
        if self.slow_gone and gevent.getcurrent() is not self.schedule:
            gevent.sleep(self.slow_gone)
        self.answers.append((asked, self.clock(), answer))
        return answer

    def events(self, agent_id: str, timeout: float) -> list[DeskEvent] | None:
        self.polls.setdefault(agent_id, []).append(self.clock())
        found = self.inbox.pop(agent_id, [])
        if not found:
            gevent.sleep(0.01)
        return found

    def reply(self, agent_id: str, conversation_id: str, text: str, key: str) -> Sent:
        self._note("reply", agent_id)
        return Sent.ACCEPTED

    def close(self, agent_id: str, conversation_id: str) -> None:
        self._note("close", agent_id)
        self.held.get(agent_id, set()).discard(conversation_id)
        self._settle(agent_id)

    def assign(self, agent_id: str, conversation: Conversation) -> None:
        """Give the agent ``conversation`` (its customer's one message sent now)."""
        assert conversation.customer is not None
        self._note("assigned", agent_id)
        self.held.setdefault(agent_id, set()).add(conversation.id)
        now = time.time()
        event = Assigned(conversation.id, conversation.channel, conversation.customer.id, (now,))
        self.inbox.setdefault(agent_id, []).append(event)


def day(group: dict[str, Any]) -> Scenario:
    """20 minutes of one webchat channel, served by agent group ``a`` as ``group`` says."""
    return parse_scenario(
        {
            "name": "floor",
            "duration": "20m",
            "interval": "5m",
            "channels": {
                "chat": {
                    "protocol": "webchat",
                    "volume": 5,
                    "patience": {"dist": "constant", "value": "1h"},
                    "reply": {"dist": "constant", "value": "10s"},
                }
            },
            "agents": [{"group": "a", "skills": ["chat"], "max_chats": 2, **group}],
        }
    )


def one_break(length: str) -> Scenario:
    """One agent on a 20-minute shift with a break of ``length`` 10 minutes in, winding down a
    minute before."""
    pause = {"length": length, "after": "10m"}
    shift = {"start": "00:00", "end": "00:20", "count": 1, "breaks": [pause]}
    return day({"wind_down": "1m", "shifts": [shift]})


def one_chat(scenario: Scenario, reply: float, close_after: float) -> tuple[Trace, Conversation]:
    """A trace of the scenario whose first conversation has one message taking ``reply`` to
    answer and closes ``close_after`` after the answer; that conversation."""
    trace = draw_trace(scenario, 1)
    first = dataclasses.replace(
        trace.conversations[0], turns=(Turn("hello", 0.0, reply),), close_after=close_after
    )
    return Trace(trace.header, [first, *trace.conversations[1:]]), first


class Case:
    """One floor, its desk and its clock; :meth:`at` runs something at a scenario time."""

    def __init__(self, scenario: Scenario, trace: Trace, slow_gone: float = 0.0) -> None:
        self.t0 = time.time() + 0.3
        self.desk = FakeDesk(lambda: (time.time() - self.t0) * SPEEDUP, slow_gone)
        self.floor = AgentFloor(scenario, trace, SPEEDUP, self.desk)  # type: ignore[arg-type]
        self.seen: dict[str, Any] = {}

    def at(self, scenario_seconds: float, action: Callable[[], None]) -> gevent.Greenlet:
        wall = self.t0 + scenario_seconds / SPEEDUP
        return gevent.spawn_later(max(0.0, wall - time.time()), action)

    def play(self, until: float = 1200.0, finish_at: float | None = None) -> None:
        (schedule,) = self.floor.start(self.t0)
        self.desk.schedule = schedule
        if finish_at is not None:
            self.at(finish_at, self.floor.finish).join()
        else:
            schedule.join()
            self.at(until + 60.0, self.floor.finish).join()

    def report(self) -> dict[str, Any]:
        def scenario(wall: float | None) -> float | None:
            return None if wall is None else (wall - self.t0) * SPEEDUP

        return {
            "calls": self.desk.calls,
            "polls": self.desk.polls,
            "answers": self.desk.answers,
            "logs": [
                {
                    "id": log.id,
                    "login": scenario(log.login_at),
                    "logout": scenario(log.logout_at),
                    "busy": [[scenario(a), scenario(b)] for a, b in log.busy],
                    "away": [[scenario(a), scenario(b)] for a, b in log.away],
                }
                for log in self.floor.logs
            ],
            "accepting": {
                agent: [[scenario(a), scenario(b)] for a, b in spans]
                for agent, spans in self.floor.accepting_spans.items()
            },
            "problems": self.floor.problems,
            **self.seen,
        }


def a_break() -> dict[str, Any]:
    """One agent, a 5-minute break 10 minutes into its shift, nothing to do."""
    scenario = one_break("5m")
    case = Case(scenario, draw_trace(scenario, 1))
    case.at(750.0, lambda: case.seen.update(busy_mid_pause=case.floor.busy))
    case.play()
    return case.report()


def a_chat_into_the_break() -> dict[str, Any]:
    """The agent is given a chat 2 minutes before its drain whose answer takes 5 minutes: it
    types into the break and is away only once the chat has closed."""
    scenario = one_break("8m")
    trace, chat = one_chat(scenario, reply=300.0, close_after=60.0)
    case = Case(scenario, trace)
    case.at(420.0, lambda: case.desk.assign("a-0001", chat))
    case.play()
    return case.report()


def finished_on_a_break() -> dict[str, Any]:
    """The run ends in the middle of the agent's break."""
    scenario = one_break("5m")
    case = Case(scenario, draw_trace(scenario, 1))
    case.play(finish_at=750.0)
    case.seen["finished"] = 750.0
    return case.report()


def a_late_word_of_the_gateway() -> dict[str, Any]:
    """The agent's last chat closes at 9.5 minutes, during the wind-down of its 2-minute break
    at 10; the gateway's answer that it holds nothing (asked then) comes 5 minutes later, after
    the agent is back at 12. That answer is out of date: the agent keeps taking chats."""
    scenario = one_break("2m")
    trace, chat = one_chat(scenario, reply=60.0, close_after=90.0)
    case = Case(scenario, trace, slow_gone=300.0 / SPEEDUP)
    case.at(420.0, lambda: case.desk.assign("a-0001", chat))
    case.at(1080.0, lambda: case.seen.update(out_at_18m=case.floor.agents["a-0001"].out))
    case.play()
    return case.report()


def staffing() -> dict[str, Any]:
    """Per-interval staffing 1, 2, 1, 2 (then none): the agent drained at 10 minutes is gone by
    15, so a new one comes (the roster's rule, with the floor's word on who is present)."""
    scenario = day({"staffing": [1, 2, 1, 2]})
    case = Case(scenario, draw_trace(scenario, 1))
    case.play()
    return case.report()


CASES = {
    "break": a_break,
    "chat_into_break": a_chat_into_the_break,
    "finished_on_break": finished_on_a_break,
    "late_word": a_late_word_of_the_gateway,
    "staffing": staffing,
}


def main() -> None:
    running = {name: gevent.spawn(case) for name, case in CASES.items()}
    gevent.joinall(list(running.values()), raise_error=True)
    print(json.dumps({name: greenlet.value for name, greenlet in running.items()}))


if __name__ == "__main__":
    main()
