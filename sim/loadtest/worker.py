"""The worker role of a replay: its share of the trace, played as customers.

A worker waits for the master's :class:`~sim.loadtest.messages.Plan` of the next run, then
releases each of its conversations (``schedule.owner``) on time as a customer greenlet, hands
the replies the master forwards to the customers waiting for them, tells the master when a
messenger customer gave up silently, and reports its customers' records once all of them have
ended. What the customers see as they see it goes to the live KPI tally
(:mod:`sim.loadtest.live`), not to Locust's request statistics. A later run (the web UI's "New")
plays the trace again from the start as new customers (:mod:`sim.loadtest.runs`). In a
single-process run the same process is the master too.
"""

from __future__ import annotations

import itertools
import random
import time
from typing import Any, Protocol

import gevent
import gevent.event
from locust.contrib.fasthttp import FastHttpSession
from locust.env import Environment
from locust.event import EventHook

from sim.loadtest.customers import CustomerContext, Mailbox, play
from sim.loadtest.live import LiveKpis
from sim.loadtest.messages import Halt, Left, Plan, Records, ToMaster, ToWorker
from sim.loadtest.payloads import Webhook, customer_key
from sim.loadtest.raw import CustomerRecord
from sim.loadtest.runs import for_run
from sim.loadtest.schedule import releases, wall_time
from sim.loadtest.settings import RETRIED, ReplaySettings
from sim.protocols import WEBCHAT_SECRET_HEADER as WEBCHAT_SECRET


class MasterLink(Protocol):
    """How a worker reaches the master: Locust's messages, or a plain call in one process."""

    def send(self, message: ToMaster) -> None: ...


class Worker:
    """One process's customers: the plan they wait for, and the replies they wait for."""

    def __init__(
        self,
        settings: ReplaySettings,
        environment: Environment,
        master: MasterLink,
        live: LiveKpis | None = None,
    ) -> None:
        self.settings = settings
        self.environment = environment
        self.master = master
        self.live = live if live is not None else LiveKpis()
        """The KPIs its customers saw (the master's own tally in a single process)."""
        self.plan: Plan | None = None
        """The plan of the latest run."""
        self.played = 0
        """The last run this worker dispatched."""
        self._planned = gevent.event.Event()
        self._halted = gevent.event.Event()
        """Set when the master ends the current run early."""
        self.mailbox = Mailbox()
        self.customers: list[gevent.Greenlet] = []
        self.dispatching = False
        """Whether a dispatcher runs already (Locust may start more users than one)."""

    def receive(self, message: ToWorker) -> None:
        if isinstance(message, Plan):
            if self.plan is not None and message.run <= self.plan.run:
                return  # the same plan again (a worker that said ready twice)
            # A run stopped halfway leaves customers behind: they must not play into this one.
            gevent.killall(self.customers, block=False)
            self.customers = []
            self.mailbox = Mailbox()
            self.live.clear()
            self._halted.clear()
            self.plan = message
            self._planned.set()
        elif isinstance(message, Halt):
            if self.plan is not None and message.run == self.plan.run:
                self._halted.set()
                gevent.killall(self.customers, block=False)
        else:
            self.mailbox.put(message.message)

    def next_plan(self, timeout: float) -> Plan | None:
        """The plan of a run this worker has not played yet, once it comes (None: timeout)."""
        deadline = time.time() + timeout
        while self.plan is None or self.plan.run <= self.played:
            self._planned.clear()
            remaining = deadline - time.time()
            if remaining <= 0 or not self._planned.wait(timeout=remaining):
                return None
        return self.plan

    def dispatch(self, client: FastHttpSession, worker: int) -> None:
        """Play worker number ``worker``'s share of the trace through ``client``, then report."""
        settings = self.settings
        # The master sends the plan within moments of this worker's start; waiting as long
        # as the run's own limit would let the master give up first and lose the reason.
        plan = self.next_plan(timeout=min(60.0, settings.limit / 2))
        if plan is None:
            run = self.plan.run if self.plan is not None else 1
            self.master.send(Records(problems=["no plan came from the master"], run=run))
            return
        self.played = plan.run
        trace = for_run(settings.played, settings.protocols, plan.run)
        mine = releases(trace, worker, plan.workers)
        problems: list[str] = []
        jitter = random.Random()  # spreads redeliveries; never part of what is measured
        unrecorded = EventHook()  # type: ignore[no-untyped-call]
        poller = FastHttpSession(
            self.environment.host,
            request_event=unrecorded,
            user=None,
            concurrency=2000,
            network_timeout=60.0,
            connection_timeout=5.0,
        )

        session_secrets: dict[str, str] = {}
        """Per webchat customer key, its session's secret (from the answer to its first
        message; a gateway without session secrets gives none)."""

        def remember_secret(key: str, response: Any) -> None:
            if not key.startswith("webchat:") or key in session_secrets:
                return
            try:
                secret = response.json().get("session_secret")
            except Exception:  # not JSON: a gateway that says nothing more than 2xx
                return
            if isinstance(secret, str):
                session_secrets[key] = secret

        def post(hook: Webhook, name: str, record: CustomerRecord) -> float | None:
            """Send a webhook until the gateway acknowledges it, as the platforms redeliver:
            a connection error, 408, 429 or 5xx is retried with backoff for up to the outage
            limit; another refusal is final. Returns the acknowledging attempt's latency."""
            give_up = min(plan.deadline, time.time() + settings.outage_limit)
            headers = dict(hook.headers)
            if record.key in session_secrets:
                headers[WEBCHAT_SECRET] = session_secrets[record.key]
            for attempt in itertools.count():
                start = time.time()
                try:
                    response = client.post(
                        hook.path, data=hook.body.decode(), headers=headers, name=name
                    )
                    status, error = response.status_code, ""
                except Exception as failure:  # the connection itself failed
                    status, error = 0, str(failure)
                if 200 <= status < 300:
                    latency = time.time() - start
                    remember_secret(record.key, response)
                    return latency
                if status and status not in RETRIED:
                    problems.append(
                        f"{name}: HTTP {status} {response.text[:200] if response.text else ''}"
                    )
                    return None
                pause = min(2.0, 0.25 * 2**attempt) * jitter.uniform(0.5, 1.0)
                if time.time() + pause > give_up or self._halted.is_set():
                    problems.append(f"{name}: {error or f'HTTP {status}'} (gave up retrying)")
                    return None
                record.retries += 1
                gevent.sleep(pause)
            raise AssertionError("unreachable")

        def poll_webchat(session: str, after: int, deadline: float) -> tuple[int, float] | None:
            while True:
                remaining = deadline - time.time()
                if remaining <= 0:
                    return None
                wait = min(remaining, 5.0)
                secret = session_secrets.get(customer_key("webchat", session), "")
                try:
                    response = poller.get(
                        f"/webchat/{session}/messages?after={after}&timeout={wait:.3f}",
                        headers={WEBCHAT_SECRET: secret},
                    )
                    messages = response.json() if response.status_code == 200 else []
                except Exception:
                    gevent.sleep(0.05)
                    continue
                if messages:
                    return max(int(m["index"]) for m in messages), time.time()

        def notify_left(key: str) -> None:
            self.master.send(Left(key))

        context = CustomerContext(
            credentials=settings.credentials,
            protocols=settings.protocols,
            silent=settings.silent,
            speedup=settings.speedup,
            post=post,
            poll_webchat=poll_webchat,
            mailbox=self.mailbox,
            notify_left=notify_left,
            report=self.live.record,
            deadline=plan.deadline,
            run=plan.run,
            worker=worker,
        )
        records: list[CustomerRecord] = []
        greenlets = self.customers = []
        for release in mine:
            due = wall_time(plan.t0, release.at, settings.speedup)
            delay = due - time.time()
            if delay > 0 and self._halted.wait(timeout=delay):
                break
            if self._halted.is_set():
                break
            conversation = release.conversation
            assert conversation.customer is not None
            record = CustomerRecord(
                release.index,
                conversation.id,
                conversation.channel,
                customer_key(settings.protocols[conversation.channel], conversation.customer.id),
            )
            record.lateness = max(0.0, time.time() - due)
            records.append(record)
            greenlets.append(gevent.spawn(play, release, context, record))
        gevent.joinall(greenlets)
        for greenlet in greenlets:
            if greenlet.exception is not None:
                problems.append(f"customer crashed: {greenlet.exception!r}")
        self.master.send(Records(records, problems, plan.run))
