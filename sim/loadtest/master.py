"""The master role of a replay: the platforms, the agents, and the end of the run.

The master runs the provider emulator (the platforms' send APIs the gateway answers customers
through) and forwards each reply to the worker that plays its customer, runs the emulated agents
(:class:`~sim.loadtest.agents.AgentFloor`) through the gateway's agent desk over a
:class:`LocustConnection`, sends the workers the plan at test start, and collects their
reports. When every worker has reported and no agent holds a conversation any more, it writes
the raw file (:mod:`sim.loadtest.raw`) and stops Locust: the run ends by itself. With a bot as
the responder there are no agents: the run ends when every customer is done. In a
single-process run the same process is the (one) worker too.

Each test start begins a new run (:mod:`sim.loadtest.runs`): new agents, new bookkeeping, new
live KPIs, and a plan with the run's number, so that a second test from the web UI replays the
trace from its start and is measured on its own.
"""

from __future__ import annotations

import json as json_module
import logging
import time
from pathlib import Path
from typing import Any, Protocol

import gevent
from gevent.pywsgi import WSGIServer
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.event import EventHook

from sim.loadtest.agents import AgentFloor
from sim.loadtest.bot import model_results
from sim.loadtest.collect import ENDED_BY_OUTAGE, MAX_LATENESS_MS, judge, replay_results
from sim.loadtest.delivery import delivery_ms
from sim.loadtest.emulator import Outbound, ProviderEmulator
from sim.loadtest.live import LiveKpis
from sim.loadtest.messages import Halt, Left, Plan, Records, Reply, ToWorker
from sim.loadtest.raw import (
    ClockOffset,
    EmulatorCounts,
    OpenSpan,
    Percentiles,
    RawReplay,
    write_raw,
)
from sim.loadtest.runs import for_run
from sim.loadtest.settings import RETRIED, ReplaySettings
from sim.results import write_results

log = logging.getLogger("chatsim.replay")

GATEWAY_DIED_PROBLEM = "the gateway process died: the run ended there"

HALT_GRACE = 10.0
"""Wall seconds the master waits for the workers' reports after ending a run early, and for
the agents to log out at the end of a run."""


class WorkerLink(Protocol):
    """How the master reaches the workers: Locust's messages, or a plain call in one process."""

    def count(self) -> int:
        """How many workers share the trace (each reports once)."""
        ...

    def send(self, message: ToWorker) -> None:
        """A plan to every worker, a reply to the worker playing its customer."""
        ...

    def clocks(self) -> dict[str, ClockOffset]:
        """Per worker index, its clock's offset from this process's (none in one process)."""
        ...


class Master:
    """The replay's platforms and agents, and its bookkeeping until the end."""

    def __init__(
        self, settings: ReplaySettings, environment: Environment, workers: WorkerLink
    ) -> None:
        self.settings = settings
        self.environment = environment
        self.workers = workers
        self.floor: AgentFloor | None = None
        self.emulator: ProviderEmulator | None = None
        self.live = LiveKpis()
        """The run's KPIs so far, for the web UI (workers' reports added up)."""
        self.run = 0
        """The current run of this Locust process (0 before the first test)."""
        self.reports: list[Records] = []
        self.expected_reports = 1
        self.delivered: dict[str, int] = {}
        self.outbound: dict[str, list[float]] = {}
        self.t0 = 0.0
        self.deadline = 0.0
        self.outages: list[OpenSpan] = []
        """When the gateway did not answer ``/healthz`` during the run (wall times)."""
        self.halted = False
        """Whether the run was ended early (its gateway down or dead)."""
        self.gateway_died = False
        """Whether whoever started the gateway said its process died (every run then ends as
        soon as it starts)."""
        self._emulator_before = EmulatorCounts(0, 0)

    def start(self) -> None:
        """Serve the provider emulator (agents log in at test start)."""
        settings = self.settings
        self.emulator = ProviderEmulator(settings.credentials, self._deliver)
        server = WSGIServer(
            (settings.emulator_host, settings.emulator_port), self.emulator, log=None, error_log=log
        )
        server.start()

    def _connection(self) -> LocustConnection:
        """The agent desk's HTTP to the gateway (the host may have been changed in the web UI
        since the last run)."""
        host = self.environment.host

        def session(request_event: EventHook) -> FastHttpSession:
            return FastHttpSession(
                host,
                request_event=request_event,
                user=None,
                concurrency=400,
                network_timeout=30.0,
                connection_timeout=5.0,
            )

        # Long-polls stay out of Locust's statistics: their duration is the poll timeout.
        unrecorded = EventHook()  # type: ignore[no-untyped-call]
        return LocustConnection(
            session(self.environment.events.request),
            session(unrecorded),
            self.settings.credentials.desk_key,
            self.settings.outage_limit,
        )

    def on_test_start(self) -> None:
        """Begin the next run: fresh agents and bookkeeping, scenario time 0 a second from now,
        the agents' shifts started, the plan sent."""
        assert self.emulator is not None
        settings = self.settings
        earlier: set[str] = set()
        if self.floor is not None:
            if not self.floor.stopping:  # the user stopped the last run halfway
                gevent.spawn(self.floor.finish).join(timeout=10)
            earlier = self.floor.earlier | set(self.floor.conversations)
        self.run += 1
        trace = for_run(settings.played, settings.protocols, self.run)
        desk = settings.desk(self._connection()) if settings.desk is not None else None
        self.floor = AgentFloor(settings.scenario, trace, settings.speedup, desk, earlier)
        self.reports, self.delivered, self.outbound = [], {}, {}
        self.outages, self.halted = [], False
        self._emulator_before = EmulatorCounts(self.emulator.received, self.emulator.rejected)
        self.live.clear()
        self.expected_reports = max(1, self.workers.count())
        self.t0 = time.time() + 1.0
        self.deadline = time.time() + settings.limit
        self.floor.start(self.t0)
        self.workers.send(Plan(self.t0, self.expected_reports, self.run, self.deadline))
        gevent.spawn(self._finish_when_done, self.run)
        gevent.spawn(self._watch_health, self.run)
        if self.gateway_died:
            self.halt(GATEWAY_DIED_PROBLEM)

    def halt(self, reason: str) -> None:
        """End the current run now, for ``reason``: the workers stop their customers and report
        what they saw, and the run is written as it stands (and judged invalid)."""
        if self.floor is None or self.halted or self.floor.stopping:
            return
        self.halted = True
        self.floor.problems.append(reason)
        log.warning("ending replay run %d: %s", self.run, reason)
        self.workers.send(Halt(self.run))

    def _watch_health(self, run: int) -> None:
        """Poll the gateway's ``/healthz`` twice a second for as long as the run lasts: record
        every span it did not answer 200 within a second, and end the run once one lasts longer
        than the outage limit."""
        limit = self.settings.outage_limit
        health = self._health_session()
        while run == self.run and self.floor is not None and not self.floor.stopping:
            asked = time.time()
            # Neither the session's network timeout nor a gevent timeout inside it bounds a read
            # from a frozen process (the client retries), so the answer is awaited from outside.
            poll = gevent.spawn(health.get, "/healthz")
            poll.join(timeout=1.0)
            answer = poll.value if poll.successful() else None
            healthy = answer is not None and answer.status_code == 200
            if answer is None:
                poll.kill(block=False)
                health = self._health_session()
            now = time.time()
            down = bool(self.outages) and self.outages[-1][1] is None
            if not healthy and not down:
                self.outages.append((asked, None))
                log.warning("the gateway does not answer /healthz")
            elif healthy and down:
                self.outages[-1] = (self.outages[-1][0], now)
                log.warning("the gateway answers /healthz again")
            elif not healthy and now - self.outages[-1][0] > limit:
                began = (self.outages[-1][0] - self.t0) * self.settings.speedup
                clock = self.settings.scenario.clock(max(0.0, began))
                self.halt(
                    f"{ENDED_BY_OUTAGE} /healthz for {limit:g} wall seconds from {clock} "
                    "(scenario time): the run ended there"
                )
            gevent.sleep(0.5)

    def _health_session(self) -> FastHttpSession:
        unrecorded = EventHook()  # type: ignore[no-untyped-call]
        return FastHttpSession(
            self.environment.host,
            request_event=unrecorded,
            user=None,
            network_timeout=1.0,
            connection_timeout=1.0,
        )

    def receive(self, message: Left | Records) -> None:
        if isinstance(message, Left):
            if self.floor is not None:
                self.floor.customer_left(message.key)
        elif message.run == self.run:
            self.reports.append(message)

    def _deliver(self, message: Outbound) -> None:
        self.delivered[message.key] = self.delivered.get(message.key, 0) + 1
        self.outbound.setdefault(message.key, []).append(message.received)
        self.workers.send(Reply(message))

    def _finish_when_done(self, run: int) -> None:
        assert self.floor is not None
        halted_at: float | None = None
        while time.time() < self.deadline:
            if run != self.run:
                return  # a new run began (the user stopped this one and started another)
            if len(self.reports) >= self.expected_reports and (self.halted or not self.floor.busy):
                break
            if self.halted:
                halted_at = halted_at or time.time()
                if time.time() - halted_at > HALT_GRACE:
                    self.floor.problems.append("a worker did not report after the run ended")
                    break
            gevent.sleep(0.2)
        else:
            if run != self.run:
                return
            self.floor.problems.append(
                "the safety time limit ended the run before every conversation closed"
            )
        # Logging out must not hang the end of a run on a gateway that stopped answering; one
        # known to be down (dead, or not answering /healthz right now) is not asked at all.
        down = self.gateway_died or (bool(self.outages) and self.outages[-1][1] is None)
        if down:
            self.floor.abandon()
            self.floor.problems.append("the agents were not logged out: the gateway was down")
        else:
            cleanup = gevent.spawn(self.floor.finish)
            cleanup.join(timeout=HALT_GRACE)
            if not cleanup.ready():
                cleanup.kill(block=False)
                self.floor.stopping = True
                self.floor.problems.append(
                    "the agents could not log out: the gateway did not answer"
                )
        self._write()
        # The verdict judges the run, from the raw file: failed requests are in it already.
        self.environment.process_exit_code = 0
        gevent.sleep(0.5)
        runner = self.environment.runner
        assert runner is not None
        if self.settings.headless:
            runner.quit()
        else:
            runner.stop()  # keep the web UI's results on screen

    def _write(self) -> None:
        assert self.floor is not None and self.emulator is not None
        customers = [c for report in self.reports for c in report.customers]
        acks = [ms for customer in customers for ms in customer.ack_ms]
        delivery = delivery_ms(self.floor.handled, customers, self.outbound)
        before = self._emulator_before
        raw = RawReplay(
            t0=self.t0,
            speedup=self.settings.speedup,
            workers=self.expected_reports,
            customers=customers,
            handled=self.floor.handled,
            agents=self.floor.logs,
            accepting=self.floor.accepting_spans,
            delivered=self.delivered,
            outbound=self.outbound,
            emulator=EmulatorCounts(
                self.emulator.received - before.received, self.emulator.rejected - before.rejected
            ),
            lateness=Percentiles.of([c.lateness for c in customers]),
            ack_ms=Percentiles.of(acks),
            delivery_ms=Percentiles.of([ms for per in delivery.values() for ms in per]),
            outages=list(self.outages),
            problems=self.floor.problems + [p for report in self.reports for p in report.problems],
            finished=time.time(),
            responder=self.settings.responder,
            clocks=self.workers.clocks(),
        )
        if self.settings.out is not None:
            write_raw(raw, self.settings.out)
        if self.settings.results is not None:
            self._write_results(raw, self.settings.results)
        log.info(
            "replay run %d finished: %d conversations, lateness p99 %.1f ms",
            self.run,
            len(customers),
            raw.lateness.p99 * 1000,
        )

    def _write_results(self, raw: RawReplay, directory: Path) -> None:
        """The verdict's inputs for a run started by hand (the web UI): the replay's results and
        the model's on the same trace, as ``chatsim replay`` writes them."""
        scenario, trace = self.settings.scenario, self.settings.trace
        validity = judge(raw, MAX_LATENESS_MS, scenario)
        replay, run = replay_results(raw, scenario, trace, validity)
        write_results(replay, directory / "replay", run.conversations)
        model, records = model_results(scenario, trace, self.settings.responder)
        write_results(model, directory / "model", records)
        log.info("wrote %s and %s", directory / "replay", directory / "model")


class LocustConnection:
    """The :class:`~sim.loadtest.desk.DeskConnection` a desk gets: Locust's HTTP sessions.

    ``request`` goes through a session whose requests show in Locust's statistics (a 409, the
    usual answer to acting on a conversation that has ended, is not counted as a failure);
    ``poll`` through one whose requests do not. A request the gateway did not answer, or
    answered with 408, 429 or 5xx, is sent again with backoff for up to ``patience`` seconds,
    as an agent desktop would: a reply carries its idempotency key, and closing or logging out
    twice does no harm. Polls are repeated by their loops anyway.
    """

    def __init__(
        self,
        actions: FastHttpSession,
        polls: FastHttpSession,
        desk_key: str,
        patience: float,
    ) -> None:
        self.actions = actions
        self.polls = polls
        self.desk_key = desk_key
        self.patience = patience

    def request(
        self,
        method: str,
        path: str,
        name: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]:
        give_up = time.time() + self.patience
        pause = 0.1
        while True:
            status, payload = self._once(method, path, name, json, headers)
            if status and status not in RETRIED:
                return status, payload
            if time.time() + pause > give_up:
                return status, payload
            gevent.sleep(pause)
            pause = min(2.0, 2 * pause)

    def _once(
        self, method: str, path: str, name: str, json: Any, headers: dict[str, str] | None
    ) -> tuple[int, Any]:
        try:
            with self.actions.request(
                method, path, json=json, name=name, catch_response=True, headers=headers
            ) as response:
                if response.status_code == 409:
                    response.success()  # the customer left meanwhile: expected, not an error
            return response.status_code, _body(response.text)
        except Exception:
            return 0, None

    def poll(self, path: str, *, headers: dict[str, str] | None = None) -> tuple[int, Any]:
        try:
            response = self.polls.get(path, headers=headers)
            return response.status_code, _body(response.text)
        except Exception:
            return 0, None


def _body(text: str | None) -> Any:
    """A response's JSON, None when it has none (or is not JSON)."""
    if not text:
        return None
    try:
        return json_module.loads(text)
    except ValueError:
        return None
