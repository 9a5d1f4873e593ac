"""Locust wiring of the replay: options, roles, the dispatcher user, messages between nodes.

Roles: in a plain run one process does everything. With ``--processes N`` (or master and
workers) the master runs the provider emulator and the emulated agents, and each worker
dispatches and plays the customers of its share of the trace (``schedule.owner``). Messages:

- worker -> master ``ready``: its handlers are registered (Locust connects a worker before its
  ``init`` event fires, so a message sent to it straight away can arrive before the handler);
- master -> each ready worker ``plan``: ``t0``, the wall time of scenario time 0, and the worker
  count; sent at test start, or on ``ready`` when that comes later;
- master -> owning worker ``reply``: an outbound message the emulator received;
- worker -> master ``left``: a messenger customer gave up silently;
- worker -> master ``records``: its customers' records, lateness and acknowledgement latency,
  once all its conversations have ended.

When every worker has reported and no agent holds a conversation any more, the master writes
the raw measurements (``--replay-out``) and stops Locust: the run ends by itself.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from pathlib import Path
from typing import Any

import gevent
import gevent.event
from gevent.pywsgi import WSGIServer
from locust import FastHttpUser, events, task
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.event import EventHook
from locust.exception import StopUser
from locust.runners import MasterRunner, WorkerRunner

from sim.gateway.config import GatewayConfig
from sim.loadtest.agents import AgentFloor
from sim.loadtest.customers import CustomerContext, CustomerRecord, Mailbox, key_of, play
from sim.loadtest.emulator import Outbound, ProviderEmulator
from sim.loadtest.payloads import Webhook, customer_key
from sim.loadtest.schedule import lateness_percentiles, owner, releases, wall_time
from sim.scenario import Scenario, load_scenario
from sim.trace import Trace, read_trace

log = logging.getLogger("chatsim.replay")


class MissedChat(Exception):
    """A customer gave up before the first reply (reported as a Locust failure)."""


class Replay:
    """The state of the replay in one Locust process."""

    def __init__(self, environment: Environment) -> None:
        options: Any = environment.parsed_options
        self.options = options
        self.environment = environment
        if not options.scenario or not options.trace:
            raise SystemExit("chatsim replay needs --scenario FILE and --trace FILE")
        self.scenario: Scenario = load_scenario(options.scenario)
        self.trace: Trace = read_trace(options.trace)
        self.speedup = float(options.speedup)
        self.out = Path(options.replay_out) if options.replay_out else None
        self.config = GatewayConfig.from_env()
        self.protocols: dict[str, str] = {name: channel.protocol for name, channel in self.scenario.channels.items()}
        self.silent = {name: channel.silent for name, channel in self.scenario.channels.items()}
        self.index_of = {key_of(r, self.protocols): r.index for r in releases(self.trace)}
        runner = environment.runner
        self.is_worker = isinstance(runner, WorkerRunner)
        self.is_master = isinstance(runner, MasterRunner)
        self.plan: gevent.event.AsyncResult = gevent.event.AsyncResult()
        self.mailbox = Mailbox()
        self.dispatching = False
        self.reports: list[dict[str, Any]] = []
        self.expected_reports = 1
        self.floor: AgentFloor | None = None
        self.emulator: ProviderEmulator | None = None
        self.delivered: dict[str, int] = {}
        self.ready: list[str] = []
        self.sent_plan: dict[str, Any] | None = None
        self.t0 = 0.0
        self.started = time.time()

    # -- master (or the single process) ------------------------------------------------------

    def start_master(self) -> None:
        options = self.options
        self.emulator = ProviderEmulator(self.config, self._route_reply)
        server = WSGIServer((options.emulator_host, int(options.emulator_port)), self.emulator, log=None, error_log=log)
        server.start()
        host = self.environment.host
        actions = FastHttpSession(host, request_event=self.environment.events.request, user=None, concurrency=400, network_timeout=30.0, connection_timeout=5.0)
        # Long-polls stay out of Locust's statistics: their duration is the poll timeout.
        polls = FastHttpSession(host, request_event=EventHook(), user=None, concurrency=400, network_timeout=30.0, connection_timeout=5.0)
        self.floor = AgentFloor(self.scenario, self.trace, self.speedup, _caller(actions, polls))

    def on_test_start(self) -> None:
        assert self.floor is not None
        runner = self.environment.runner
        workers = runner.worker_count if self.is_master else 1  # type: ignore[union-attr]
        self.expected_reports = max(1, workers)
        self.t0 = time.time() + 1.0
        self.floor.start(self.t0)
        plan = {"t0": self.t0, "workers": self.expected_reports}
        if self.is_master:
            self.sent_plan = plan
            for client in self.ready:
                runner.send_message("plan", plan, client_id=client)  # type: ignore[union-attr]
        else:
            self.plan.set(plan)
        gevent.spawn(self._finish_when_done)

    def on_ready(self, client: str) -> None:
        """A worker registered its handlers: it may now be sent the plan."""
        self.ready.append(client)
        if self.sent_plan is not None:
            self.environment.runner.send_message("plan", self.sent_plan, client_id=client)  # type: ignore[union-attr]

    def _route_reply(self, message: Outbound) -> None:
        self.delivered[message.key] = self.delivered.get(message.key, 0) + 1
        if not self.is_master:
            self.mailbox.put(message)
            return
        index = self.index_of.get(message.key)
        if index is None:
            return
        runner = self.environment.runner
        worker = owner(index, self.expected_reports)
        client = next((cid for cid, i in runner.worker_indexes.items() if i == worker), None)  # type: ignore[union-attr]
        if client is not None:
            runner.send_message("reply", {"key": message.key, "text": message.text, "received": message.received}, client_id=client)  # type: ignore[union-attr]

    def on_left(self, key: str) -> None:
        if self.floor is not None:
            self.floor.customer_left(key)

    def on_records(self, report: dict[str, Any]) -> None:
        self.reports.append(report)

    def _finish_when_done(self) -> None:
        assert self.floor is not None
        limit = self.started + float(self.options.replay_limit)
        while time.time() < limit:
            if len(self.reports) >= self.expected_reports and not self.floor.busy:
                break
            gevent.sleep(0.2)
        else:
            self.floor.problems.append("the safety time limit ended the run before every conversation closed")
        self.floor.stopping = True
        self._write()
        # Missed chats are Locust failures (so they show as such), yet measurements, not errors.
        self.environment.process_exit_code = 0
        gevent.sleep(0.5)
        if self.options.headless:
            self.environment.runner.quit()  # type: ignore[union-attr]
        else:
            self.environment.runner.stop()  # type: ignore[union-attr]  # keep the web UI's results on screen

    def _write(self) -> None:
        assert self.floor is not None and self.emulator is not None
        customers = [c for report in self.reports for c in report["customers"]]
        lateness = [c["lateness"] for c in customers]
        acks = sorted(a for report in self.reports for a in report["acks"])
        raw: dict[str, Any] = {
            "format": "chatsim-replay-raw",
            "version": 1,
            "t0": self.t0,
            "speedup": self.speedup,
            "workers": self.expected_reports,
            "customers": customers,
            "handled": [h.to_dict() for h in self.floor.handled],
            "agents": [dataclasses.asdict(a) for a in self.floor.logs],
            "accepting": self.floor.accepting_spans,
            "delivered": self.delivered,
            "emulator": {"received": self.emulator.received, "rejected": self.emulator.rejected},
            "lateness": lateness_percentiles(lateness),
            "ack_ms": lateness_percentiles([a * 1000 for a in acks]),
            "problems": self.floor.problems + [p for report in self.reports for p in report["problems"]],
            "finished": time.time(),
        }
        if self.out is not None:
            self.out.parent.mkdir(parents=True, exist_ok=True)
            self.out.write_text(json.dumps(raw, ensure_ascii=False))
        log.info("replay finished: %d conversations, lateness p99 %.1f ms", len(customers), raw["lateness"]["p99"] * 1000)

    # -- worker (or the single process) ------------------------------------------------------

    def dispatch(self, user: ChatCustomers) -> None:
        runner = self.environment.runner
        try:
            # The master sends the plan within moments of this worker's start; waiting as long
            # as the run's own limit would let the master give up first and lose the reason.
            plan: dict[str, Any] = self.plan.get(timeout=min(60.0, float(self.options.replay_limit) / 2))
        except gevent.Timeout:
            runner.send_message("records", {"customers": [], "acks": [], "problems": ["no plan came from the master"]})  # type: ignore[union-attr]
            return
        worker = runner.worker_index if self.is_worker else 0  # type: ignore[union-attr]
        mine = releases(self.trace, worker, int(plan["workers"]))
        t0 = float(plan["t0"])
        acks: list[float] = []
        problems: list[str] = []
        poller = FastHttpSession(self.environment.host, request_event=EventHook(), user=None, concurrency=2000, network_timeout=60.0, connection_timeout=5.0)

        def post(hook: Webhook, name: str) -> float | None:
            start = time.time()
            try:
                response = user.client.post(hook.path, data=hook.body.decode(), headers=hook.headers, name=name)
            except Exception as error:  # the connection itself failed
                problems.append(f"{name}: {error}")
                return None
            if not 200 <= response.status_code < 300:
                problems.append(f"{name}: HTTP {response.status_code} {response.text[:200] if response.text else ''}")
                return None
            latency = time.time() - start
            acks.append(latency)
            return latency

        def poll_webchat(session: str, after: int, deadline: float) -> tuple[int, float] | None:
            while True:
                remaining = deadline - time.time()
                if remaining <= 0:
                    return None
                wait = min(remaining, 5.0)
                try:
                    response = poller.get(f"/webchat/{session}/messages?after={after}&timeout={wait:.3f}")
                    messages = response.json() if response.status_code == 200 else []
                except Exception:
                    gevent.sleep(0.05)
                    continue
                if messages:
                    return max(int(m["index"]) for m in messages), time.time()

        def notify_left(key: str) -> None:
            runner.send_message("left", key)  # type: ignore[union-attr]

        def report(channel: str, kind: str, delay: float | None) -> None:
            fire = self.environment.events.request.fire
            if delay is None:
                fire(request_type="KPI", name=f"{kind}/{channel}", response_time=0, response_length=0, exception=MissedChat("customer gave up before the first reply"), context={})
            else:
                fire(request_type="KPI", name=f"{kind}/{channel}", response_time=delay * 1000.0, response_length=0, exception=None, context={})

        context = CustomerContext(
            config=self.config,
            protocols=self.protocols,
            silent=self.silent,
            speedup=self.speedup,
            post=post,
            poll_webchat=poll_webchat,
            mailbox=self.mailbox,
            notify_left=notify_left,
            report=report,
            deadline=self.started + float(self.options.replay_limit),
        )
        records: list[CustomerRecord] = []
        greenlets = []
        for release in mine:
            due = wall_time(t0, release.at, self.speedup)
            delay = due - time.time()
            if delay > 0:
                gevent.sleep(delay)
            conversation = release.conversation
            assert conversation.customer is not None
            record = CustomerRecord(release.index, conversation.id, conversation.channel, customer_key(self.protocols[conversation.channel], conversation.customer.id))
            record.lateness = max(0.0, time.time() - due)
            records.append(record)
            greenlets.append(gevent.spawn(play, release, context, record))
        gevent.joinall(greenlets)
        for greenlet in greenlets:
            if greenlet.exception is not None:
                problems.append(f"customer crashed: {greenlet.exception!r}")
        runner.send_message("records", {"customers": [r.to_dict() for r in records], "acks": acks, "problems": problems})  # type: ignore[union-attr]


REPLAY: Replay | None = None


def _caller(actions: FastHttpSession, polls: FastHttpSession) -> Any:
    def call(method: str, path: str, body: dict[str, Any] | None, name: str) -> tuple[int, Any]:
        try:
            if method == "GET":
                response = polls.get(path)
            else:
                with actions.request(method, path, json=body, name=name, catch_response=True) as response:
                    if response.status_code == 409:
                        response.success()  # the customer left meanwhile: expected, not an error
            payload = response.json() if response.text else None
            return response.status_code, payload
        except Exception:
            return 0, None

    return call


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
        if state.dispatching:
            gevent.sleep(3600)
            return
        state.dispatching = True
        state.dispatch(self)
        raise StopUser()


@events.init_command_line_parser.add_listener
def _arguments(parser: Any) -> None:
    group = parser
    group.add_argument("--scenario", type=str, default="", help="chatsim scenario YAML")
    group.add_argument("--trace", type=str, default="", help="chatsim trace (JSON Lines) to replay")
    group.add_argument("--speedup", type=float, default=60.0, help="time compression: scenario seconds per wall second")
    group.add_argument("--emulator-host", type=str, default="127.0.0.1", include_in_web_ui=False, help="where the provider emulator listens")
    group.add_argument("--emulator-port", type=int, default=8081, include_in_web_ui=False, help="port of the provider emulator (the gateway's outbound base URL)")
    group.add_argument("--replay-out", type=str, default="", include_in_web_ui=False, help="write the raw measurements (JSON) here")
    group.add_argument("--replay-limit", type=float, default=3600.0, include_in_web_ui=False, help="safety limit of the whole run, wall seconds")


@events.init.add_listener
def _init(environment: Environment, **_: Any) -> None:
    global REPLAY
    REPLAY = Replay(environment)
    runner = environment.runner
    if not REPLAY.is_worker:
        REPLAY.start_master()
        runner.register_message("left", lambda environment, msg, **kw: REPLAY.on_left(msg.data))  # type: ignore[union-attr]
        runner.register_message("records", lambda environment, msg, **kw: REPLAY.on_records(msg.data))  # type: ignore[union-attr]
        runner.register_message("ready", lambda environment, msg, **kw: REPLAY.on_ready(msg.node_id))  # type: ignore[union-attr]
    if not REPLAY.is_master:
        runner.register_message("plan", lambda environment, msg, **kw: REPLAY.plan.set(msg.data))  # type: ignore[union-attr]
        runner.register_message("reply", lambda environment, msg, **kw: REPLAY.mailbox.put(Outbound(**msg.data)))  # type: ignore[union-attr]
    if REPLAY.is_worker:
        runner.send_message("ready")  # type: ignore[union-attr]


@events.test_start.add_listener
def _test_start(environment: Environment, **_: Any) -> None:
    if REPLAY is not None and not REPLAY.is_worker:
        REPLAY.on_test_start()
