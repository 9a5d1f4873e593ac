"""Locust wiring of the replay: options, roles, the dispatcher user, messages between nodes.

Roles: in a plain run one process plays both the :class:`~sim.loadtest.master.Master` and the
:class:`~sim.loadtest.worker.Worker`, and their messages are plain calls. With
``--processes N`` (or master and workers) the master runs the provider emulator and the
emulated agents, and each worker dispatches and plays the customers of its share of the trace;
they talk through Locust's messages (:mod:`sim.loadtest.messages`, which lists them).

Start-up: Locust connects a worker before its ``init`` event fires, so the master sends a
worker the plan only once that worker said ``ready`` (its handlers exist), at test start or
when ``ready`` comes later; a worker's user spawned before its ``init`` event waits for it.

Every test start is a new run (:mod:`sim.loadtest.runs`). The live KPIs
(:mod:`sim.loadtest.live`) ride on Locust's own worker stats reports and are shown in a
"chatsim KPIs" tab of the web UI (:mod:`sim.loadtest.webui`), never in its request statistics.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import gevent
import gevent.event
from locust import FastHttpUser, events, task
from locust.env import Environment
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from sim.loadtest.customers import key_of
from sim.loadtest.desk import REFERENCE_DESK
from sim.loadtest.master import GATEWAY_DIED_PROBLEM, Master
from sim.loadtest.messages import (
    ClockProbe,
    ClockReading,
    Halt,
    Left,
    Plan,
    Ready,
    Records,
    Reply,
    ToMaster,
    ToWorker,
)
from sim.loadtest.raw import RESPONDERS, ClockOffset
from sim.loadtest.runs import for_run
from sim.loadtest.schedule import owner, releases
from sim.loadtest.settings import GATEWAY_DIED, OUTAGE_LIMIT, ReplaySettings
from sim.loadtest.webui import show_live_kpis
from sim.loadtest.worker import Worker
from sim.protocols import DEFAULT_EMULATOR_PORT

LIVE_KPIS = "chatsim_kpis"
"""Key of a worker's live KPIs in its stats report to the master."""


CLOCK_PROBES = 8
"""Clock probes sent to each worker as it gets ready (the one of least round trip counts)."""
CLOCK_PROBE_GAP = 0.05
"""Wall seconds between two probes."""


class RemoteWorkers:
    """The master's link to worker processes: the start-up handshake, and replies routed to
    the worker that owns their customer."""

    def __init__(self, runner: MasterRunner, settings: ReplaySettings) -> None:
        self.runner = runner
        self.settings = settings
        self.index_of: dict[str, int] = {}
        self.ready: list[str] = []
        self.plan: Plan | None = None
        self.offsets: dict[str, ClockOffset] = {}
        """Per worker (client id), the reading of least round trip so far."""

    def count(self) -> int:
        return int(self.runner.worker_count)

    def on_ready(self, client: str) -> None:
        """A worker registered its handlers: it may now be sent the plan, and its clock is
        read against this one."""
        self.ready.append(client)
        gevent.spawn(self._probe, client)
        if self.plan is not None:
            self._send(self.plan, client)

    def _probe(self, client: str) -> None:
        for _ in range(CLOCK_PROBES):
            self._send(ClockProbe(time.time()), client)
            gevent.sleep(CLOCK_PROBE_GAP)

    def on_reading(self, client: str, reading: ClockReading) -> None:
        found = ClockOffset.of(reading.sent, reading.clock, time.time())
        best = self.offsets.get(client)
        if best is None or found.round_trip_ms < best.round_trip_ms:
            self.offsets[client] = found

    def clocks(self) -> dict[str, ClockOffset]:
        indexes = self.runner.worker_indexes
        return {str(indexes[c]): o for c, o in self.offsets.items() if c in indexes}

    def send(self, message: ToWorker) -> None:
        if isinstance(message, Halt):
            for client in self.ready:
                self._send(message, client)
            return
        if isinstance(message, Plan):
            self.plan = message
            settings = self.settings
            trace = for_run(settings.played, settings.protocols, message.run)
            self.index_of = {key_of(r, settings.protocols): r.index for r in releases(trace)}
            for client in self.ready:
                self._send(message, client)
            return
        index = self.index_of.get(message.message.key)
        if index is None:
            return
        worker = owner(index, self.plan.workers if self.plan is not None else 1)
        owning = next((cid for cid, i in self.runner.worker_indexes.items() if i == worker), None)
        if owning is not None:
            self._send(message, owning)

    def _send(self, message: ToWorker | ClockProbe, client: str) -> None:
        self.runner.send_message(message.kind, message.to_dict(), client_id=client)


class RemoteMaster:
    """A worker process's link to the master."""

    def __init__(self, runner: WorkerRunner) -> None:
        self.runner = runner

    def send(self, message: ToMaster) -> None:
        self.runner.send_message(message.kind, message.to_dict())


class InProcess:
    """Both roles in one process: a message is a call."""

    def __init__(self) -> None:
        self.master: Master | None = None
        self.worker: Worker | None = None

    def count(self) -> int:
        return 1

    def clocks(self) -> dict[str, ClockOffset]:
        return {}

    def send(self, message: ToMaster | ToWorker) -> None:
        if isinstance(message, Plan | Reply | Halt):
            assert self.worker is not None
            self.worker.receive(message)
        elif isinstance(message, Left | Records):
            assert self.master is not None
            self.master.receive(message)


@dataclass(slots=True)
class Replay:
    """The roles this Locust process plays."""

    master: Master | None
    worker: Worker | None


REPLAY: Replay | None = None


def _wire(environment: Environment) -> Replay:
    """Build this process's roles and register their messages (see the module docstring)."""
    settings = ReplaySettings.from_options(environment.parsed_options)
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        workers = RemoteWorkers(runner, settings)
        master = Master(settings, environment, workers)
        master.start()
        runner.register_message(
            Left.kind, lambda environment, msg, **kw: master.receive(Left.from_dict(msg.data))
        )
        runner.register_message(
            Records.kind, lambda environment, msg, **kw: master.receive(Records.from_dict(msg.data))
        )
        runner.register_message(
            Ready.kind, lambda environment, msg, **kw: workers.on_ready(msg.node_id)
        )
        runner.register_message(
            ClockReading.kind,
            lambda environment, msg, **kw: workers.on_reading(
                msg.node_id, ClockReading.from_dict(msg.data)
            ),
        )
        environment.events.worker_report.add_listener(
            lambda client_id, data, **kw: master.live.merge(data.get(LIVE_KPIS))
        )
        show_live_kpis(environment, master.live)
        return Replay(master, None)
    if isinstance(runner, WorkerRunner):
        link = RemoteMaster(runner)
        worker = Worker(settings, environment, link)
        runner.register_message(
            Plan.kind, lambda environment, msg, **kw: worker.receive(Plan.from_dict(msg.data))
        )
        runner.register_message(
            Reply.kind, lambda environment, msg, **kw: worker.receive(Reply.from_dict(msg.data))
        )
        runner.register_message(
            Halt.kind, lambda environment, msg, **kw: worker.receive(Halt.from_dict(msg.data))
        )
        # Answered at once, in the handler: any delay here would read as clock offset.
        runner.register_message(
            ClockProbe.kind,
            lambda environment, msg, **kw: link.send(
                ClockReading(ClockProbe.from_dict(msg.data).sent, time.time())
            ),
        )
        environment.events.report_to_master.add_listener(
            lambda client_id, data, **kw: data.__setitem__(LIVE_KPIS, worker.live.take())
        )
        link.send(Ready())
        return Replay(None, worker)
    both = InProcess()
    both.master = Master(settings, environment, both)
    both.worker = Worker(settings, environment, both, live=both.master.live)
    both.master.start()
    show_live_kpis(environment, both.master.live)
    return Replay(both.master, both.worker)


class ChatCustomers(FastHttpUser):
    """The dispatcher of one process's share of the trace; run one per worker (``-u`` = workers)."""

    concurrency = 2000
    network_timeout = 30.0
    connection_timeout = 5.0

    @task
    def replay(self) -> None:
        state = REPLAY
        while state is None:  # a worker may spawn its user before its init event has run
            gevent.sleep(0.05)
            state = REPLAY
        worker = state.worker
        if worker is None or worker.dispatching:
            gevent.sleep(3600)
            return
        worker.dispatching = True
        runner = self.environment.runner
        try:
            index = runner.worker_index if isinstance(runner, WorkerRunner) else 0
            worker.dispatch(self.client, index)
        finally:
            worker.dispatching = False  # the next run (the web UI's "New") dispatches again
        raise StopUser()


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    group = parser
    group.add_argument("--scenario", type=str, default="", help="chatsim scenario YAML")
    group.add_argument("--trace", type=str, default="", help="chatsim trace (JSON Lines) to replay")
    group.add_argument(
        "--speedup",
        type=float,
        default=60.0,
        help="time compression: scenario seconds per wall second",
    )
    group.add_argument(
        "--emulator-host",
        type=str,
        default="127.0.0.1",
        include_in_web_ui=False,
        help="where the provider emulator listens",
    )
    group.add_argument(
        "--emulator-port",
        type=int,
        default=DEFAULT_EMULATOR_PORT,
        include_in_web_ui=False,
        help="port of the provider emulator (the gateway's outbound base URL)",
    )
    group.add_argument(
        "--replay-out",
        type=str,
        default="",
        include_in_web_ui=False,
        help="write the raw measurements (JSON) here",
    )
    group.add_argument(
        "--replay-results",
        type=str,
        default="",
        include_in_web_ui=False,
        help="write DIR/replay/results.json and the model on the same trace, "
        "DIR/model/results.json (what chatsim compare and report read)",
    )
    group.add_argument(
        "--replay-outage-limit",
        type=float,
        default=OUTAGE_LIMIT,
        include_in_web_ui=False,
        help="wall seconds the gateway may fail /healthz in a row before the run ends "
        "(customers redeliver unacknowledged webhooks for as long)",
    )
    group.add_argument(
        "--agents",
        type=str,
        default=REFERENCE_DESK,
        include_in_web_ui=False,
        help="the gateway's agent desk, MODULE:CLASS or path/to/file.py:CLASS "
        "(an implementation of sim.loadtest.desk.AgentDesk)",
    )
    group.add_argument(
        "--responder",
        type=str,
        choices=list(RESPONDERS),
        default="agents",
        include_in_web_ui=False,
        help="who answers the customers: emulated agents (through --agents) or the gateway's "
        "own bot (no agents)",
    )
    group.add_argument(
        "--replay-limit",
        type=float,
        default=3600.0,
        include_in_web_ui=False,
        help="safety limit of each run, wall seconds from its start",
    )


GATEWAY_GONE = gevent.event.Event()
"""Set when whoever started the gateway (``chatsim replay``) signals that its process died."""


def _gateway_died() -> None:
    GATEWAY_GONE.set()
    if REPLAY is not None and REPLAY.master is not None:
        REPLAY.master.gateway_died = True
        REPLAY.master.halt(GATEWAY_DIED_PROBLEM)


# Installed when Locust imports this file, the earliest moment: the signal's default action
# would end the process, and the gateway may die while Locust is still starting.
gevent.signal_handler(GATEWAY_DIED, _gateway_died)


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    global REPLAY
    REPLAY = _wire(environment)
    master = REPLAY.master
    if master is not None and GATEWAY_GONE.is_set():
        master.gateway_died = True


@events.test_start.add_listener
def _test_start(environment: Environment, **_: Any) -> None:
    if REPLAY is not None and REPLAY.master is not None:
        REPLAY.master.on_test_start()
