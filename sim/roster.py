r"""The roster: who is at work when, one timeline that the model and the replay both play.

A scenario staffs each agent group either with **shifts** or with **per-interval staffing**.
From a shift the roster makes one :class:`RosteredAgent` per head: its login and logout, its
breaks placed (a ``window`` spreads the shift's agents evenly over it), its shrinkage (meetings,
training, coaching: ``shrinkage`` of its working time, in blocks of at most
:data:`SHRINKAGE_BLOCK` placed at random within equal parts of the shift) and whether it is
absent (``absence``, drawn per replication). Every random draw comes from the replication's
own stream (:func:`sim.traffic.stream` with the trace's seed and replication), so a trace's
model run and its replay see the same roster.

The roster's :meth:`Roster.steps` are the agents' timeline, and :class:`RosterPlayer` applies
each step to a :class:`Floor` (the model's agents, or the replay's emulated ones through the
gateway's agent API). The player owns every staffing rule, so that the model and the replay
cannot drift apart:

- a shift's agents log in one after another at its start, with ids ``group-0001``, … numbered
  in order of login within the group (absent agents keep their number and never log in);
- ``wind_down`` before a pause the agent stops taking new chats (**drain**), at the pause's
  start it **rests**: it finishes what it still holds and is away from the moment it holds
  nothing (so it never leaves while typing, and nobody assigns it a chat while away); at the
  pause's end it is **back** on schedule, also when finishing chats ate into the pause. Pauses
  less than ``wind_down`` apart are one absence (nobody comes back for a moment);
- at the shift's end the agent **leaves**: no new chats, logged out once its last chat closes;
- per-interval staffing: at each interval edge, agents still finishing chats after a drain are
  asked back first (the latest first); the agents to drain are those with the fewest active
  chats, newest first among equals; after the horizon staffing goes to zero.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Generic, Literal, Protocol, TypeVar

import numpy as np

from sim.scenario import AgentGroup, Scenario, Shift
from sim.traffic import channel_key, stream

ROSTER_STREAM = 0x2057
"""Key of the roster's random streams (beside the channels' streams of :mod:`sim.traffic`)."""

SHRINKAGE_BLOCK = 1800.0
"""Longest single shrinkage activity, seconds: an agent's shrinkage is cut into blocks of at most
this length, one in each equal part of its working time."""

PauseKind = Literal["break", "shrinkage"]
Action = Literal["login", "drain", "rest", "back", "leave", "staff"]

_ORDER: dict[Action, int] = {"leave": 0, "drain": 1, "rest": 2, "back": 3, "login": 4, "staff": 5}
"""Order of steps at the same instant: agents stop before others start, so that a change of
shift hands waiting chats to the new agents."""


@dataclass(frozen=True, slots=True)
class Pause:
    """A span of a rostered agent's shift without chats: a break or a shrinkage activity."""

    start: float
    end: float
    kind: PauseKind
    paid: bool = True


@dataclass(frozen=True, slots=True)
class RosteredAgent:
    """One agent of one shift in one replication."""

    id: str
    group: str
    login: float
    logout: float
    pauses: tuple[Pause, ...] = ()
    absent: bool = False

    @property
    def paid_spans(self) -> list[tuple[float, float]]:
        """The shift less its unpaid pauses (nothing for an absent agent)."""
        if self.absent:
            return []
        spans, at = [], self.login
        for pause in self.pauses:
            if not pause.paid:
                spans.append((at, pause.start))
                at = pause.end
        spans.append((at, self.logout))
        return [(a, b) for a, b in spans if b > a]


@dataclass(frozen=True, slots=True)
class Step:
    """One change on the floor at scenario time ``at``: an agent's ``action``, or (``staff``)
    a group's per-interval head count ``wanted``."""

    at: float
    action: Action
    group: str
    agent: str = ""
    wanted: int = 0


@dataclass(frozen=True, slots=True)
class Roster:
    """Every shift agent of one replication and the per-interval staffing of the other groups."""

    agents: tuple[RosteredAgent, ...]
    staffing: dict[str, tuple[int, ...]] = field(default_factory=dict)
    interval: float = 900.0
    wind_down: dict[str, float] = field(default_factory=dict)

    @property
    def present(self) -> list[RosteredAgent]:
        """The rostered agents who showed up."""
        return [agent for agent in self.agents if not agent.absent]

    def steps(self) -> list[Step]:
        """The whole timeline, in the order it is played."""
        ranked: list[tuple[int, Step]] = []
        for agent in self.present:
            ranked.extend(_agent_steps(agent, self.wind_down.get(agent.group, 0.0)))
        for group, counts in self.staffing.items():
            for index, wanted in enumerate([*counts, 0]):
                ranked.append(
                    (_ORDER["staff"], Step(index * self.interval, "staff", group, wanted=wanted))
                )
        # Stable: at one instant, by rank, then in the order generated (groups in scenario
        # order, agents by id, each agent's steps in its own order).
        ranked.sort(key=lambda item: (item[1].at, item[0]))
        return [step for _, step in ranked]


def _agent_steps(agent: RosteredAgent, wind_down: float) -> Iterator[tuple[int, Step]]:
    """An agent's steps with their ranks; a step at the agent's own login instant (a pause
    right at the start) ranks with the login, so that it follows it."""

    def ranked(at: float, action: Action) -> tuple[int, Step]:
        rank = _ORDER["login"] if at == agent.login else _ORDER[action]
        return rank, Step(at, action, agent.group, agent.id)

    yield ranked(agent.login, "login")
    for start, end in _absences(agent.pauses, wind_down):
        yield ranked(max(agent.login, start - wind_down), "drain")
        yield ranked(start, "rest")
        if end < agent.logout:
            yield ranked(end, "back")
    yield _ORDER["leave"], Step(agent.logout, "leave", agent.group, agent.id)


def _absences(pauses: Sequence[Pause], wind_down: float) -> list[tuple[float, float]]:
    """Pauses merged where the agent would be back for less than ``wind_down``."""
    merged: list[tuple[float, float]] = []
    for pause in sorted(pauses, key=lambda p: p.start):
        if merged and pause.start - wind_down <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], pause.end))
        else:
            merged.append((pause.start, pause.end))
    return merged


def draw_roster(scenario: Scenario, seed: int, replication: int = 0) -> Roster:
    """The roster of one replication: shift agents with their breaks, shrinkage and absence."""
    agents: list[RosteredAgent] = []
    staffing: dict[str, tuple[int, ...]] = {}
    for group in scenario.agents:
        if group.staffing is not None:
            staffing[group.group] = tuple(group.staffing)
            continue
        rng = stream(seed, replication, ROSTER_STREAM, channel_key(group.group))
        heads = sorted(
            (
                (*scenario.shift_window(shift), k, i, shift)
                for k, shift in enumerate(group.shifts or ())
                for i in range(shift.count)
            ),
            key=lambda head: (head[0], head[2], head[3]),
        )
        for number, (begin, end, _, i, shift) in enumerate(heads, start=1):
            agents.append(
                _rostered(f"{group.group}-{number:04d}", group, shift, begin, end, i, rng)
            )
    return Roster(
        tuple(agents),
        staffing,
        scenario.interval,
        {group.group: group.wind_down for group in scenario.agents},
    )


def _rostered(
    id: str,
    group: AgentGroup,
    shift: Shift,
    begin: float,
    end: float,
    index: int,
    rng: np.random.Generator,
) -> RosteredAgent:
    """Agent ``index`` of ``shift``: its breaks spread over their windows, then its shrinkage.

    The draws are made whether or not they are used (absence, shrinkage positions), so that
    one agent's absence never moves another agent's numbers.
    """
    absent = bool(rng.random() < group.absence)
    breaks = []
    for pause in shift.breaks:
        first, last = shift.break_starts(pause)
        share = index / (shift.count - 1) if shift.count > 1 else 0.0
        start = begin + first + round((last - first) * share / 60.0) * 60.0
        breaks.append(Pause(start, start + pause.length, "break", pause.paid))
    breaks.sort(key=lambda p: p.start)
    shrinkage = _shrinkage(begin, end, breaks, group.shrinkage, rng)
    pauses = tuple(sorted([*breaks, *shrinkage], key=lambda p: p.start))
    return RosteredAgent(id, group.group, begin, end, pauses, absent)


def _shrinkage(
    begin: float, end: float, breaks: Sequence[Pause], share: float, rng: np.random.Generator
) -> list[Pause]:
    """``share`` of the working time (the shift less its breaks) as shrinkage pauses."""
    working: list[tuple[float, float]] = []
    at = begin
    for pause in breaks:
        if pause.start > at:
            working.append((at, pause.start))
        at = max(at, pause.end)
    if end > at:
        working.append((at, end))
    total = sum(b - a for a, b in working)
    lost = share * total
    blocks = max(1, math.ceil(lost / SHRINKAGE_BLOCK - 1e-9))
    draws = rng.random(blocks) if lost > 0 else np.zeros(0)
    if lost <= 0:
        return []
    size, part = lost / blocks, total / blocks
    pauses: list[Pause] = []
    for i, u in enumerate(draws):
        offset = i * part + float(u) * (part - size)
        pauses.extend(_on_clock(working, offset, offset + size))
    return pauses


def _on_clock(working: Sequence[tuple[float, float]], first: float, last: float) -> list[Pause]:
    """The working-time span ``[first, last)`` (seconds of work since the shift began) on the
    clock: one pause, or several where it straddles a break."""
    pieces: list[Pause] = []
    done = 0.0
    for a, b in working:
        lo, hi = max(first, done), min(last, done + b - a)
        if hi > lo:
            pieces.append(Pause(a + lo - done, a + hi - done, "shrinkage"))
        done += b - a
    return pieces


A = TypeVar("A")


class Floor(Protocol[A]):
    """What a roster is played on: the model's agents, or the replay's emulated agents.

    The floor does what each step means for its kind of agent; the :class:`RosterPlayer` decides
    which steps happen, to whom, and when.
    """

    def hire(self, group: AgentGroup, id: str) -> A:
        """A new agent of ``group`` with this id, not yet logged in."""
        ...

    def login(self, agent: A) -> None:
        """Take new chats: the first login, back from a pause, or asked back while draining."""
        ...

    def drain(self, agent: A, *, leaving: bool) -> None:
        """Take no new chats; keep the ones held. ``leaving``: log out once the last one
        closes (end of shift, staffing going down); otherwise a pause follows."""
        ...

    def rest(self, agent: A) -> None:
        """The pause begins: the agent (already drained) is away once it holds nothing."""
        ...

    def held(self, agent: A) -> int:
        """Conversations the agent holds."""
        ...

    def present(self, agent: A) -> bool:
        """Whether the agent is still logged in (a draining agent finishing chats is)."""
        ...


class RosterPlayer(Generic[A]):
    """Applies a roster's steps to a floor, in order; the caller waits until each step's time
    (SimPy's clock in the model, the wall clock in the replay)."""

    def __init__(self, scenario: Scenario, roster: Roster, floor: Floor[A]) -> None:
        self.roster = roster
        self.floor = floor
        self.steps = roster.steps()
        self._groups = {group.group: group for group in scenario.agents}
        self._agents: dict[str, A] = {}
        self._hired: dict[str, list[A]] = {}
        self._on: dict[str, list[A]] = {}

    @property
    def agents(self) -> dict[str, A]:
        """Every agent hired so far, by id."""
        return self._agents

    def apply(self, step: Step) -> None:
        """Make ``step`` happen on the floor."""
        floor = self.floor
        if step.action == "staff":
            self._staff(step.group, step.wanted)
        elif step.action == "login":
            floor.login(self._hire(step.group, step.agent))
        else:
            agent = self._agents[step.agent]
            if step.action == "back":
                floor.login(agent)
            elif step.action == "drain":
                floor.drain(agent, leaving=False)
            elif step.action == "rest":
                floor.rest(agent)
            else:
                floor.drain(agent, leaving=True)

    def _hire(self, group: str, id: str) -> A:
        agent = self.floor.hire(self._groups[group], id)
        self._agents[id] = agent
        self._hired.setdefault(group, []).append(agent)
        return agent

    def _staff(self, group: str, wanted: int) -> None:
        """Per-interval staffing: drain the agents with the fewest chats (newest first among
        equals) or log agents in, asking back those still finishing chats first."""
        floor = self.floor
        on = self._on.setdefault(group, [])
        if len(on) > wanted:
            # Draining changes no other agent's chats, so one stable sort orders them all.
            order = sorted(range(len(on)), key=lambda i: (floor.held(on[i]), -i))
            leaving = set(order[: len(on) - wanted])
            for i in order[: len(on) - wanted]:
                floor.drain(on[i], leaving=True)
            on[:] = [agent for i, agent in enumerate(on) if i not in leaving]
        if len(on) < wanted:
            # Logging one in assigns chats to it alone, so those to ask back are found once.
            staying = {id(agent) for agent in on}
            back = [
                agent
                for agent in self._hired.get(group, [])
                if id(agent) not in staying and floor.present(agent)
            ]
            numbers = len(self._hired.get(group, []))
            while len(on) < wanted:
                if back:
                    agent = back.pop()
                else:
                    numbers += 1
                    agent = self._hire(group, f"{group}-{numbers:04d}")
                on.append(agent)
                floor.login(agent)
