"""Soak of the reference gateway: steady webhooks, emulated agents answering, for minutes.

Starts, on 127.0.0.1, a platform stub (``tests/gateway/platform_stub.py``, its own process) and
``chatsim gateway`` (a real uvicorn process) sending to it. Then, for ``--duration`` seconds:

* **customers** (this process): signed WhatsApp webhooks at ``--rate`` per second on an absolute
  schedule (an open workload: a slow gateway does not slow arrivals), each a new customer and so
  a new conversation, over at most ``--webhook-connections`` keep-alive connections; a webhook
  finding them all waiting on the gateway is counted as ``client_backlog``, and how late each
  one left against its schedule is measured (``late p99``: the sender's own event loop lag, the
  sign that the soak rather than the gateway is the limit);
* **agents** (``--agent-processes`` processes of their own): ``--agents`` agents log in with the
  desk key (``--max-chats`` each), long-poll their events with their session tokens, and per
  conversation assigned wait ``--think`` seconds, post ``--replies`` replies (each with an
  idempotency key, so one whose answer was lost is posted again safely) and close it. A request
  refused with 503 (``outbox_full``, or shed by ``--limit-concurrency``) is posted again after
  its ``Retry-After``, one whose answer was lost after half a second.

Both sides use ``rawhttp.py``'s minimal HTTP/1.1 client on uvloop: with httpx, 80 agents in the
sender's process spent a whole core at 75 webhooks/s and the figure measured the soak, not the
gateway.

Every ``--every`` seconds it prints webhooks acknowledged per second, their p99 latency, how late
the sender was (p99), replies accepted and sent per second, the gateway's reply delivery p99
(its own histogram ``chatsim_gateway_outbound_delivery_seconds``: reply accepted to platform
acknowledgement), the outbox depth, the gateway's RSS (``VmRSS`` of ``/proc/<pid>/status``), the
CPU of the gateway, of the soak's own processes (``client``) and of the platform stub, in % of
one core (``/proc/<pid>/stat``), the whole machine's busy share in % of all its cores
(``/proc/stat``), and errors by kind. At the end, after the outbox drains: a summary, and whether
every accepted reply was sent (exit 1 if not).

    .venv/bin/python scripts/soak.py --rate 200 --duration 300          # steady
    .venv/bin/python scripts/soak.py --rate 600 --duration 60 \\
        --gateway-option=--limit-concurrency=300 \\
        --gateway-option=--outbound-queue-limit=200                       # past saturation

Past saturation the gateway should shed, not collapse: acknowledged webhooks per second stay
near their peak, and what it cannot take is refused at once (503 from ``--limit-concurrency``,
``outbox_full`` 503s on replies) instead of piling up as latency and memory.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import multiprocessing
import os
import queue
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any, TypeVar

ROOT = Path(__file__).resolve().parents[1]
STUB = ROOT / "tests" / "gateway" / "platform_stub.py"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from rawhttp import ERRORS, RawPool, Request, Response  # noqa: E402

from sim.loadtest.payloads import whatsapp_message  # noqa: E402
from sim.loadtest.run import free_port, gateway_command, wait_healthy  # noqa: E402
from sim.protocols import PlatformCredentials, whatsapp_signature  # noqa: E402
from sim.texts import Customer  # noqa: E402

CREDENTIALS = PlatformCredentials()
SECRET = CREDENTIALS.whatsapp_app_secret
TICKS = os.sysconf("SC_CLK_TCK")
FAILURES = (*ERRORS, TimeoutError)
"""What a request raises when the connection breaks or the answer is late."""
GIVE_UP = 300.0
"""Seconds an agent keeps posting a request that is refused for overload or not answered."""
T = TypeVar("T")


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop when it is installed (uvicorn runs the gateway on it too): its
    streams cost the client about half of asyncio's CPU per request."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main)


def webhook(n: int, run: int) -> bytes:
    """The ``n``-th customer's first message, as a WhatsApp Cloud API notification (the
    replay's own builder; the signature is made by the caller)."""
    customer = Customer(f"7{run % 100:02d}{n:09d}", "Soak")
    return whatsapp_message(CREDENTIALS, customer, f"hello {n}", f"wamid.soak{run}.{n}", 0).body


def p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def kind_of(error: BaseException) -> str:
    return type(error).__name__


# -- the agents' processes ----------------------------------------------------------------------


@dataclass
class Tally:
    """What one agents' process did so far. It sends copies of it, cumulative, so that the
    reporter's windows are differences and a late copy loses nothing."""

    replies: int = 0
    unanswered: int = 0
    """Replies whose answers never came: the gateway may or may not have taken them."""
    open_chats: int = 0
    errors: Counter[str] = field(default_factory=Counter)

    def copy(self) -> Tally:
        return Tally(self.replies, self.unanswered, self.open_chats, Counter(self.errors))


@dataclass(frozen=True)
class AgentPlan:
    """One agents' process's share of the agents and how they behave."""

    url: str
    names: list[str]
    max_chats: int
    think: float
    replies: int


class Desk:
    """The agents of one process: one connection pool, one tally, one stop flag."""

    def __init__(self, plan: AgentPlan) -> None:
        self.plan = plan
        self.pool = RawPool(plan.url)
        self.tally = Tally()
        self.stopping = False

    def error(self, kind: str) -> None:
        self.tally.errors[kind] += 1

    async def post(self, path: str, body: dict[str, Any], token: str) -> Response | None:
        """POST until answered, waiting out overload (503, after its ``Retry-After``) and lost
        answers (a broken connection or a timeout), for up to :data:`GIVE_UP` seconds; the
        answer, or None if it was refused or never came.

        Every POST the agents make is safe to repeat: a reply carries an idempotency key (the
        gateway answers a repeat ``duplicate``), a login starts a new session, and a 409 to a
        close or logout repeated after a lost answer means the lost one did it. A reply given
        up on after a lost answer is counted as ``unanswered``: the gateway may have taken it.
        """
        action = path.rsplit("/", 1)[1]
        headers = {"authorization": f"Bearer {token}"}
        lost = False
        deadline = time.monotonic() + GIVE_UP
        while time.monotonic() < deadline:
            try:
                response = await self.pool.request("POST", path, body, headers)
            except FAILURES as error:
                self.error(f"{action}_{kind_of(error)}")
                lost = True
                await asyncio.sleep(0.5)
                continue
            if response.status == 503:
                kind = "outbox_full" if b"outbox_full" in response.body else "503"
                self.error(f"{action}_{kind}")
                await asyncio.sleep(float(response.headers.get("retry-after", "1")))
                continue
            if response.status == 409 and lost and action in ("close", "logout"):
                return response
            if response.status >= 300:
                self.error(f"{action}_{response.status}")
                return None
            return response
        self.error(f"{action}_gave_up")
        if lost and action == "reply":
            self.tally.unanswered += 1
        return None

    async def login(self, name: str) -> str | None:
        """The agent's session token (logged in with the desk key), None if refused."""
        login = {"agent_id": name, "skills": ["whatsapp"], "max_chats": self.plan.max_chats}
        answer = await self.post("/agents/login", login, CREDENTIALS.desk_key)
        return None if answer is None else str(answer.json()["token"])

    async def agent(self, name: str, token: str) -> None:
        """Long-poll the agent's events and handle each conversation assigned, until the soak
        stops and its chats are closed; then log out."""
        tasks: set[asyncio.Task[None]] = set()
        headers = {"authorization": f"Bearer {token}"}
        seq = 0
        while not self.stopping or tasks:
            path = f"/agents/{name}/events?timeout=2&after={seq}"
            try:
                response = await self.pool.request("GET", path, headers=headers, timeout=10)
            except FAILURES as error:
                self.error(f"poll_{kind_of(error)}")
                await asyncio.sleep(0.5)
                continue
            if response.status != 200:
                self.error(f"poll_{response.status}")
                await asyncio.sleep(float(response.headers.get("retry-after", "0.5")))
                continue
            for event in response.json():
                seq = max(seq, event["seq"])
                if event["type"] == "assigned":
                    chat = self.chat(name, token, event["conversation_id"])
                    task = asyncio.get_running_loop().create_task(chat)
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                elif event["type"] == "delivery":
                    self.error(f"delivery_failed_{event['reason']}")
        await self.post(f"/agents/{name}/logout", {}, token)

    async def chat(self, name: str, token: str, cid: str) -> None:
        """Think, reply, close."""
        self.tally.open_chats += 1
        try:
            await asyncio.sleep(self.plan.think * random.uniform(0.5, 1.5))
            for r in range(1, self.plan.replies + 1):
                body = {"agent_id": name, "text": f"reply {r}", "id": f"{cid}.{r}"}
                path = f"/conversations/{cid}/reply"
                if await self.post(path, body, token) is not None:
                    self.tally.replies += 1
            close = {"agent_id": name}
            await self.post(f"/conversations/{cid}/close", close, token)
        finally:
            self.tally.open_chats -= 1


def agents_process(plan: AgentPlan, index: int, updates: Queue[Any], stop: Event) -> None:
    """Entry point of an agents' process (``multiprocessing``, spawned)."""
    run(agents_main(plan, index, updates, stop))


async def agents_main(plan: AgentPlan, index: int, updates: Queue[Any], stop: Event) -> None:
    """Log the plan's agents in, tell the main process, run them until ``stop``, sending a copy
    of the tally four times a second; the last one is sent as ``done``."""
    desk = Desk(plan)
    tokens = await asyncio.gather(*(desk.login(name) for name in plan.names))
    updates.put((index, "ready", desk.tally.copy()))
    agents = [
        asyncio.create_task(desk.agent(name, token))
        for name, token in zip(plan.names, tokens, strict=True)
        if token is not None
    ]
    while not stop.is_set():
        await asyncio.sleep(0.25)
        updates.put((index, "tally", desk.tally.copy()))
    desk.stopping = True
    try:
        await asyncio.wait_for(asyncio.gather(*agents), GIVE_UP * 2)
    except TimeoutError:
        desk.error("agents_not_done")
        # Their replies in flight are cancelled unanswered: at most one per open chat.
        desk.tally.unanswered += desk.tally.open_chats
    await desk.pool.close()
    updates.put((index, "done", desk.tally.copy()))


# -- the main process: customers, reports --------------------------------------------------------


@dataclass
class Window:
    """What the sender saw in one reporting interval (or the whole run)."""

    acked: int = 0
    ack_latency: list[float] = field(default_factory=list)
    late: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)


@dataclass
class Soak:
    """The main process's state: the sender's windows and the agents' processes' tallies."""

    window: Window = field(default_factory=Window)
    total: Window = field(default_factory=Window)
    stopping: bool = False
    started: float = field(default_factory=time.monotonic)
    tallies: dict[int, Tally] = field(default_factory=dict)
    finished: set[int] = field(default_factory=set)

    def error(self, kind: str) -> None:
        self.window.errors[kind] += 1
        self.total.errors[kind] += 1

    def drain(self, updates: Queue[Any]) -> set[int]:
        """Take the agents' processes' latest tallies; the indexes of the ``ready`` ones."""
        ready = set()
        while True:
            try:
                index, kind, tally = updates.get_nowait()
            except queue.Empty:
                return ready
            self.tallies[index] = tally
            if kind == "ready":
                ready.add(index)
            elif kind == "done":
                self.finished.add(index)

    def agents_tally(self) -> Tally:
        """The agents' processes' tallies, summed."""
        total = Tally()
        for tally in self.tallies.values():
            total.replies += tally.replies
            total.unanswered += tally.unanswered
            total.open_chats += tally.open_chats
            total.errors.update(tally.errors)
        return total


async def customers(soak: Soak, url: str, rate: float, duration: float, connections: int) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    run = random.randrange(100)
    tasks: set[asyncio.Task[None]] = set()
    pool = RawPool(url)

    async def send(n: int) -> None:
        body = webhook(n, run)
        headers = {
            "content-type": "application/json",
            "X-Hub-Signature-256": whatsapp_signature(SECRET, body),
        }
        t0 = time.perf_counter()
        try:
            response = await pool.send(Request("/webhooks/whatsapp", body, headers))
        except FAILURES as e:
            soak.error(f"webhook_{kind_of(e)}")
            return
        if response.status == 200:
            latency = time.perf_counter() - t0
            for w in (soak.window, soak.total):
                w.acked += 1
                w.ack_latency.append(latency)
        else:
            soak.error(f"webhook_{response.status}")

    n = 0
    while True:
        due = start + n / rate
        if due - start >= duration:
            break
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late = loop.time() - due
        soak.window.late.append(late)
        soak.total.late.append(late)
        if len(tasks) >= connections:
            soak.error("client_backlog")
        else:
            task = loop.create_task(send(n))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        n += 1
    await asyncio.gather(*tasks)
    await pool.close()


def scrape(text: str) -> dict[str, float]:
    """Sums of the outbound samples the report needs, by name (and histogram bucket)."""
    out: dict[str, float] = Counter()
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        base = name.split("{", 1)[0]
        if base == "chatsim_gateway_outbound_delivery_seconds_bucket" and 'outcome="sent"' in name:
            le = name.split('le="', 1)[1].split('"', 1)[0]
            out[f"bucket:{le}"] += float(value)
        elif base in (
            "chatsim_gateway_outbound_sent_total",
            "chatsim_gateway_outbound_failures_total",
            "chatsim_gateway_outbound_attempts_total",
            "chatsim_gateway_outbound_depth",
            "chatsim_gateway_outbound_rejected_total",
        ):
            out[base] += float(value)
    return out


def histogram_p99(now: dict[str, float], before: dict[str, float]) -> float:
    """p99 of the sends observed between two scrapes: the upper bound of its bucket."""
    bounds = sorted(
        (float(key[7:]), now[key] - before.get(key, 0.0))
        for key in now
        if key.startswith("bucket:")
    )
    if not bounds or bounds[-1][1] <= 0:
        return float("nan")
    total = bounds[-1][1]
    cumulative = [count for _, count in bounds]
    index = bisect.bisect_left(cumulative, 0.99 * total)
    return bounds[min(index, len(bounds) - 1)][0]


async def get_json(url: str, path: str, timeout: float = 10.0) -> Any:
    """One GET on a connection of its own, its answer decoded."""
    pool = RawPool(url)
    try:
        return (await pool.request("GET", path, timeout=timeout)).json()
    finally:
        await pool.close()


def rss_mib(pid: int) -> float:
    """Resident set size of a process (``VmRSS``), MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS


def host_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of all the machine's cores so far (``/proc/stat``)."""
    ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = ticks[3] + ticks[4]  # idle + iowait
    return sum(ticks) - idle, sum(ticks)


@dataclass
class Meters:
    """CPU seconds of the processes watched, and the machine's ticks, at one instant."""

    gateway: float
    client: float
    stub: float
    host: tuple[int, int]
    at: float

    @classmethod
    def read(cls, gateway: int, client: list[int], stub: int) -> Meters:
        return cls(
            cpu_seconds(gateway),
            sum(cpu_seconds(pid) for pid in client),
            cpu_seconds(stub),
            host_ticks(),
            time.monotonic(),
        )

    def shares(self, before: Meters) -> tuple[float, float, float, float]:
        """% of one core used since ``before`` by the gateway, the client and the stub, and the
        machine's busy share in % of all its cores."""
        seconds = max(self.at - before.at, 1e-9)
        busy = self.host[0] - before.host[0]
        total = max(self.host[1] - before.host[1], 1)
        return (
            (self.gateway - before.gateway) / seconds * 100,
            (self.client - before.client) / seconds * 100,
            (self.stub - before.stub) / seconds * 100,
            busy / total * 100,
        )


def others(shares: tuple[float, float, float, float]) -> float:
    """% of one core the machine spent on anything but the gateway, the client and the stub
    (other processes competing for the same cores)."""
    gateway, client, stub, host = shares
    return host * (os.cpu_count() or 1) - gateway - client - stub


@dataclass
class Pids:
    gateway: int
    stub: int
    client: list[int]


@dataclass
class Samples:
    """Per interval: the gateway's RSS, and the CPU shares as :meth:`Meters.shares` gives."""

    rss: list[float] = field(default_factory=list)
    cpu: list[tuple[float, float, float, float]] = field(default_factory=list)


async def scrape_gateway(soak: Soak, gateway: RawPool, timeout: float) -> dict[str, float] | None:
    """The gateway's outbound metrics, or None if ``/metrics`` was not answered in time (an
    overloaded gateway queues it behind everything else) or was shed."""
    try:
        response = await gateway.request("GET", "/metrics", timeout=timeout)
    except FAILURES as error:
        soak.error(f"metrics_{kind_of(error)}")
        return None
    if response.status != 200:
        soak.error(f"metrics_{response.status}")
        return None
    return scrape(response.body.decode())


async def report(
    soak: Soak, gateway: RawPool, updates: Queue[Any], pids: Pids, every: float
) -> Samples:
    """Print a line per interval until the soak stops. The gateway's own figures (sent/s,
    delivery p99, outbox) read ``-`` when its ``/metrics`` did not answer within half an
    interval; the next answer covers the intervals missed."""
    before = await scrape_gateway(soak, gateway, 10) or {}
    before_at = time.monotonic()
    meters = Meters.read(pids.gateway, pids.client, pids.stub)
    soak.drain(updates)
    agents_before = soak.agents_tally()
    samples = Samples()
    print(
        f"{'t':>5} {'ack/s':>6} {'ack p99':>8} {'late p99':>8} {'reply/s':>7} {'sent/s':>6} "
        f"{'deliv p99':>9} {'outbox':>6} {'RSS MiB':>7} {'gw%':>4} {'client%':>7} {'stub%':>5} "
        f"{'other%':>6} {'host%':>5}  errors"
    )
    due = time.monotonic()
    while not soak.stopping:
        due += every
        await asyncio.sleep(max(0.0, due - time.monotonic()))
        now = await scrape_gateway(soak, gateway, every / 2)
        rss = rss_mib(pids.gateway)
        meters_now = Meters.read(pids.gateway, pids.client, pids.stub)
        shares = meters_now.shares(meters)
        soak.drain(updates)
        agents = soak.agents_tally()
        samples.rss.append(rss)
        samples.cpu.append(shares)
        window, soak.window = soak.window, Window()
        seconds = meters_now.at - meters.at
        gateway_figures = f"{'-':>6} {'-':>9} {'-':>6}"
        if now is not None:
            sent = now["chatsim_gateway_outbound_sent_total"] - before.get(
                "chatsim_gateway_outbound_sent_total", 0.0
            )
            gateway_figures = (
                f"{sent / (time.monotonic() - before_at):6.1f} "
                f"{histogram_p99(now, before) * 1000:7.0f}ms "
                f"{now['chatsim_gateway_outbound_depth']:6.0f}"
            )
            before, before_at = now, time.monotonic()
        errors = window.errors + (agents.errors - agents_before.errors)
        listed = ", ".join(f"{k} {v}" for k, v in errors.most_common()) or "-"
        gw, client, stub, host = shares
        print(
            f"{meters_now.at - soak.started:5.0f} {window.acked / seconds:6.1f} "
            f"{p99(window.ack_latency) * 1000:6.1f}ms {p99(window.late) * 1000:6.1f}ms "
            f"{(agents.replies - agents_before.replies) / seconds:7.1f} {gateway_figures} "
            f"{rss:7.1f} {gw:4.0f} {client:7.0f} {stub:5.0f} {others(shares):6.0f} {host:5.0f}  "
            f"{listed}",
            flush=True,
        )
        meters, agents_before = meters_now, agents
    return samples


async def wait_ready(soak: Soak, updates: Queue[Any], children: list[BaseProcess]) -> None:
    """Until every agents' process has logged its agents in."""
    ready: set[int] = set()
    deadline = time.monotonic() + 60
    while len(ready) < len(children):
        ready |= soak.drain(updates)
        if any(not child.is_alive() for child in children) or time.monotonic() > deadline:
            raise RuntimeError("an agents' process died or did not log its agents in")
        await asyncio.sleep(0.05)


async def main_async(args: argparse.Namespace, url: str, pids: Pids, stub: str) -> int:
    context = multiprocessing.get_context("spawn")
    updates: Queue[Any] = context.Queue()
    stop = context.Event()
    names = [f"soak-{k}" for k in range(args.agents)]
    children = [
        context.Process(
            target=agents_process,
            args=(
                AgentPlan(
                    url, names[i :: args.agent_processes], args.max_chats, args.think, args.replies
                ),
                i,
                updates,
                stop,
            ),
            name=f"soak-agents-{i}",
            daemon=True,
        )
        for i in range(args.agent_processes)
    ]
    for child in children:
        child.start()
    pids.client = [os.getpid(), *(child.pid for child in children if child.pid is not None)]
    gateway = RawPool(url)
    soak = Soak()
    try:
        await wait_ready(soak, updates, children)
        started = Meters.read(pids.gateway, pids.client, pids.stub)
        soak.started = started.at
        reporter = asyncio.create_task(report(soak, gateway, updates, pids, args.every))
        t0 = time.monotonic()
        await customers(soak, url, args.rate, args.duration, args.webhook_connections)
        elapsed = time.monotonic() - t0
        ended = Meters.read(pids.gateway, pids.client, pids.stub)
        soak.stopping = True
        samples = await reporter
        stop.set()
        deadline = time.monotonic() + GIVE_UP * 2 + 30
        while len(soak.finished) < len(children) and time.monotonic() < deadline:
            soak.drain(updates)
            await asyncio.sleep(0.1)
        deadline = time.monotonic() + 60
        while (await gateway.request("GET", "/healthz")).json()["outbound_pending"] and (
            time.monotonic() < deadline
        ):
            await asyncio.sleep(0.2)
        final = scrape((await gateway.request("GET", "/metrics")).body.decode())
        drained = Meters.read(pids.gateway, pids.client, pids.stub)
        stats = await get_json(stub, "/stats")
    finally:
        stop.set()
        for child in children:
            child.join(10)
            if child.is_alive():
                child.terminate()
        await gateway.close()
    summary(args, soak, elapsed, final, stats, samples, (started, ended, drained))
    return 0 if every_reply_sent(soak.agents_tally(), final) else 1


def every_reply_sent(agents: Tally, final: dict[str, float]) -> bool:
    """Whether the gateway sent every reply it accepted and nothing else: as many as the agents
    saw accepted, plus at most those whose answers never came, and none failed."""
    sent = final["chatsim_gateway_outbound_sent_total"]
    failed = final["chatsim_gateway_outbound_failures_total"]
    return agents.replies <= sent <= agents.replies + agents.unanswered and failed == 0


def summary(
    args: argparse.Namespace,
    soak: Soak,
    elapsed: float,
    final: dict[str, float],
    stats: dict[str, Any],
    samples: Samples,
    meters: tuple[Meters, Meters, Meters],
) -> None:
    """The run's figures; ``meters`` were read when the load started, when it ended and when
    the outbox had drained."""
    started, ended, drained = meters
    cpu = ended.shares(started)
    total = soak.total
    agents = soak.agents_tally()
    sent = final["chatsim_gateway_outbound_sent_total"]
    failed = final["chatsim_gateway_outbound_failures_total"]
    print("\nsummary")
    print(f"  offered: {args.rate:g} webhooks/s for {args.duration:g} s ({elapsed:.1f} s)")
    print(
        f"  webhooks acknowledged: {total.acked} ({total.acked / elapsed:.1f}/s), "
        f"p99 {p99(total.ack_latency) * 1000:.1f} ms; sender late p99 "
        f"{p99(total.late) * 1000:.1f} ms"
    )
    print(
        f"  replies accepted: {agents.replies} (and {agents.unanswered} unanswered); "
        f"sent {sent:.0f}, failed {failed:.0f}; "
        f"platform calls {stats['count']} {stats['outcomes']}; "
        f"still queued {final['chatsim_gateway_outbound_depth']:.0f}"
    )
    rss = samples.rss
    if rss:
        warm = len(rss) // 4
        after = rss[warm:]
        minutes = (len(rss) - 1 - warm) * args.every / 60
        slope = (rss[-1] - rss[warm]) / minutes if minutes > 0 else float("nan")
        print(
            f"  gateway RSS: {rss[0]:.1f} MiB first interval, {rss[warm]:.1f} MiB after warm-up "
            f"(first quarter), then {min(after):.1f}-{max(after):.1f} MiB, {rss[-1]:.1f} MiB at "
            f"the end ({slope:+.1f} MiB/min after warm-up)"
        )
    gw, client, stub, host = cpu
    print(
        f"  CPU during the load, % of one core: gateway {gw:.0f}, client {client:.0f} "
        f"(sender and {args.agent_processes} agents' process(es)), platform stub {stub:.0f}, "
        f"anything else {others(cpu):.0f}; machine busy {host:.0f}% of {os.cpu_count()} cores"
    )
    per_conversation(soak, started, drained)
    errors = total.errors + agents.errors
    listed = ", ".join(f"{k} {v}" for k, v in errors.most_common()) or "none"
    print(f"  errors: {listed}")
    print(f"  every accepted reply sent: {'yes' if every_reply_sent(agents, final) else 'NO'}")


def per_conversation(soak: Soak, started: Meters, drained: Meters) -> None:
    """CPU per conversation from the first webhook until the outbox drained: a figure that
    holds however busy the machine was with other work."""
    conversations = soak.total.acked
    if not conversations:
        return
    gateway = (drained.gateway - started.gateway) / conversations * 1000
    client = (drained.client - started.client) / conversations * 1000
    print(
        f"  CPU per acknowledged conversation (webhook, poll, reply, close, platform send): "
        f"gateway {gateway:.2f} ms (about {1000 / gateway:.0f} conversations/s per core), "
        f"client {client:.2f} ms"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="Webhooks per second.")
    parser.add_argument("--duration", type=float, default=300.0, help="Seconds of load.")
    parser.add_argument("--agents", type=int, default=80)
    parser.add_argument("--max-chats", type=int, default=8)
    parser.add_argument(
        "--agent-processes", type=int, default=1, help="Processes the agents are spread over."
    )
    parser.add_argument("--think", type=float, default=0.5, help="Mean seconds before replying.")
    parser.add_argument("--replies", type=int, default=1, help="Replies per conversation.")
    parser.add_argument("--every", type=float, default=10.0, help="Seconds per report line.")
    parser.add_argument("--webhook-connections", type=int, default=256)
    parser.add_argument("--platform-delay", type=float, default=0.02, help="Platform latency.")
    parser.add_argument("--platform-fail", type=float, default=0.0, help="Share of 500s.")
    parser.add_argument(
        "--gateway-option",
        action="append",
        default=[],
        help="A chatsim gateway option, e.g. --gateway-option=--limit-concurrency=300.",
    )
    args = parser.parse_args()
    if not 1 <= args.agent_processes <= args.agents:
        parser.error("--agent-processes: between 1 and --agents")

    stub_port = free_port()
    stub_url = f"http://127.0.0.1:{stub_port}"
    stub = subprocess.Popen(
        [
            sys.executable,
            str(STUB),
            "--port",
            str(stub_port),
            "--delay",
            str(args.platform_delay),
            "--fail",
            str(args.platform_fail),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{STUB.parent}"},
    )
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        **{f"CHATSIM_{p}_API_BASE": stub_url for p in ("WHATSAPP", "TELEGRAM", "VIBER")},
    }
    # The gateway's default durable store, in a directory of its own (never the repository).
    env.setdefault("CHATSIM_GATEWAY_STORE", str(Path(tempfile.mkdtemp()) / "gateway.db"))
    options = [opt for value in args.gateway_option for opt in value.split("=", 1)]
    gateway = subprocess.Popen(
        gateway_command(port, "--log-level", "error", *options), cwd=ROOT, env=env
    )
    try:
        wait_healthy(url, 20, gateway)
        wait_stub(stub_url)
        print(f"gateway {url} (pid {gateway.pid}) -> platform stub {stub_url}", flush=True)
        return run(main_async(args, url, Pids(gateway.pid, stub.pid, []), stub_url))
    finally:
        for process in (gateway, stub):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def wait_stub(url: str) -> None:
    """Until the platform stub answers ``GET /stats``."""

    async def answered() -> bool:
        try:
            await get_json(url, "/stats", timeout=1)
        except FAILURES:
            return False
        return True

    deadline = time.monotonic() + 10
    while not asyncio.run(answered()):
        if time.monotonic() > deadline:
            raise RuntimeError(f"platform stub {url} did not start")
        time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(main())
