"""Soak of the reference gateway: steady webhooks, emulated agents answering, for minutes.

Starts, on 127.0.0.1, a platform stub (``tests/gateway/platform_stub.py``, its own process) and
``chatsim gateway`` (a real uvicorn process) sending to it. Then, for ``--duration`` seconds:

* **customers**: signed WhatsApp webhooks at ``--rate`` per second on an absolute schedule (an
  open workload: a slow gateway does not slow arrivals), each a new customer and so a new
  conversation, over ``--webhook-connections`` keep-alive connections (``gateway_load.py``'s
  minimal client: httpx would cost the soak more CPU than the gateway spends); a webhook
  finding no free connection is counted as ``client_backlog`` (the soak's own limit, not the
  gateway's);
* **agents**: ``--agents`` agents log in (``--max-chats`` each), long-poll their events, and per
  conversation assigned wait ``--think`` seconds, post ``--replies`` replies and close it. A
  reply refused with 503 ``outbox_full`` is posted again after its ``Retry-After``.

Every ``--every`` seconds it prints webhooks acknowledged per second, their p99 latency, replies
accepted and sent per second, the gateway's reply delivery p99 (from its own histogram
``chatsim_gateway_outbound_delivery_seconds``: reply accepted to platform acknowledgement), the
outbox depth, the gateway's RSS (``VmRSS`` of ``/proc/<pid>/status``) and CPU, and errors by
kind. At the end, after the outbox drains: a summary, and whether every accepted reply was sent.

    .venv/bin/python scripts/soak.py --rate 200 --duration 120          # steady
    .venv/bin/python scripts/soak.py --rate 900 --duration 60 \\
        --gateway-option=--limit-concurrency=300                          # past saturation

Past saturation the gateway should shed, not collapse: acknowledged webhooks per second stay
near their peak, and what it cannot take is refused at once (503 from ``--limit-concurrency``,
``outbox_full`` 503s on replies) instead of piling up as latency and memory.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
STUB = ROOT / "tests" / "gateway" / "platform_stub.py"
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from gateway_load import RawConnection, Request  # noqa: E402

from sim.loadtest.run import free_port, gateway_command, wait_healthy  # noqa: E402
from sim.protocols import PlatformCredentials, whatsapp_signature  # noqa: E402

CREDENTIALS = PlatformCredentials()
SECRET = CREDENTIALS.whatsapp_app_secret
TICKS = os.sysconf("SC_CLK_TCK")
SSL_CONTEXT = httpx.create_ssl_context()  # shared: loading the CA bundle per client is slow


def webhook(n: int, run: int) -> bytes:
    """The ``n``-th customer's first message, as a WhatsApp Cloud API notification."""
    wa_id = f"7{run % 100:02d}{n:09d}"
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": "106540352242922"},
        "contacts": [{"profile": {"name": "Soak"}, "wa_id": wa_id}],
        "messages": [
            {
                "from": wa_id,
                "id": f"wamid.soak{run}.{n}",
                "timestamp": "1700000000",
                "type": "text",
                "text": {"body": f"hello {n}"},
            }
        ],
    }
    change = {"field": "messages", "value": value}
    entry = {"object": "whatsapp_business_account", "entry": [{"id": "1", "changes": [change]}]}
    return json.dumps(entry).encode()


@dataclass
class Window:
    """What happened in one reporting interval."""

    acked: int = 0
    ack_latency: list[float] = field(default_factory=list)
    replies: int = 0
    errors: Counter[str] = field(default_factory=Counter)


@dataclass
class Soak:
    url: str
    window: Window = field(default_factory=Window)
    total: Window = field(default_factory=Window)
    stopping: bool = False
    open_chats: int = 0

    def error(self, kind: str) -> None:
        self.window.errors[kind] += 1
        self.total.errors[kind] += 1


def p99(values: list[float]) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


def kind_of(error: Exception) -> str:
    return type(error).__name__


async def customers(soak: Soak, url: str, rate: float, duration: float, connections: int) -> None:
    loop = asyncio.get_running_loop()
    start = loop.time()
    run = random.randrange(100)
    tasks: set[asyncio.Task[None]] = set()
    pool: list[RawConnection | None] = [None] * connections

    async def send(n: int, connection: RawConnection | None) -> None:
        body = webhook(n, run)
        headers = {
            "content-type": "application/json",
            "X-Hub-Signature-256": whatsapp_signature(SECRET, body),
        }
        t0 = time.perf_counter()
        try:
            if connection is None:
                connection = await RawConnection.open(url)
            status, _ = await asyncio.wait_for(
                connection.post(Request("/webhooks/whatsapp", body, headers)), 30
            )
        except (OSError, ValueError, IndexError, TimeoutError, asyncio.IncompleteReadError) as e:
            soak.error(f"webhook_{kind_of(e)}")
            connection = None  # broken: a new one next time
        else:
            if status == 200:
                latency = time.perf_counter() - t0
                for w in (soak.window, soak.total):
                    w.acked += 1
                    w.ack_latency.append(latency)
            else:
                soak.error(f"webhook_{status}")
                if status == 503:
                    connection = None  # uvicorn closes the connection it sheds
        finally:
            pool.append(connection)

    n = 0
    while True:
        due = start + n / rate
        if due - start >= duration:
            break
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        if not pool:
            soak.error("client_backlog")
        else:
            task = loop.create_task(send(n, pool.pop()))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        n += 1
    await asyncio.gather(*tasks)
    for connection in pool:
        if connection is not None:
            await connection.close()


async def post(
    soak: Soak, http: httpx.AsyncClient, path: str, body: dict[str, str]
) -> httpx.Response | None:
    """POST until it is not refused for overload; the answer, or None on any other failure."""
    for _ in range(60):
        try:
            response = await http.post(path, json=body)
        except httpx.HTTPError as error:
            soak.error(f"agent_{kind_of(error)}")
            return None
        if response.status_code == 503:
            kind = "outbox_full" if "outbox_full" in response.text else "503"
            soak.error(f"{path.rsplit('/', 1)[1]}_{kind}")
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            continue
        if response.status_code >= 300:
            soak.error(f"{path.rsplit('/', 1)[1]}_{response.status_code}")
            return None
        return response
    return None


async def agent(soak: Soak, name: str, max_chats: int, think: float, replies: int) -> None:
    # A small client per agent: httpcore's cost per request grows with its pool's size.
    limits = httpx.Limits(max_connections=max_chats + 1)
    async with httpx.AsyncClient(
        base_url=soak.url, timeout=30, limits=limits, verify=SSL_CONTEXT
    ) as http:
        await agent_loop(soak, http, name, max_chats, think, replies)


async def agent_loop(
    soak: Soak, http: httpx.AsyncClient, name: str, max_chats: int, think: float, replies: int
) -> None:
    login = {"agent_id": name, "skills": ["whatsapp"], "max_chats": max_chats}
    http.headers["Authorization"] = f"Bearer {CREDENTIALS.desk_key}"
    answer = await post(soak, http, "/agents/login", login)
    if answer is None:
        return
    http.headers["Authorization"] = f"Bearer {answer.json()['token']}"  # the agent's own
    tasks: set[asyncio.Task[None]] = set()

    async def handle(cid: str) -> None:
        soak.open_chats += 1
        try:
            await asyncio.sleep(think * random.uniform(0.5, 1.5))
            for r in range(replies):
                body = {"agent_id": name, "text": f"reply {r + 1}"}
                if await post(soak, http, f"/conversations/{cid}/reply", body) is not None:
                    soak.window.replies += 1
                    soak.total.replies += 1
            await post(soak, http, f"/conversations/{cid}/close", {"agent_id": name})
        finally:
            soak.open_chats -= 1

    seq = 0
    while not soak.stopping or tasks:
        try:
            response = await http.get(
                f"/agents/{name}/events", params={"timeout": 2, "after": seq}, timeout=10
            )
        except httpx.HTTPError as error:
            soak.error(f"poll_{kind_of(error)}")
            await asyncio.sleep(0.5)
            continue
        if response.status_code != 200:
            soak.error(f"poll_{response.status_code}")
            await asyncio.sleep(0.5)
            continue
        for event in response.json():
            seq = max(seq, event["seq"])
            if event["type"] == "assigned":
                task = asyncio.get_running_loop().create_task(handle(event["conversation_id"]))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            elif event["type"] == "delivery":
                soak.error(f"delivery_failed_{event['reason']}")
    await post(soak, http, f"/agents/{name}/logout", {})


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


def proc_stats(pid: int) -> tuple[float, float]:
    """(RSS in MiB, CPU seconds) of a process, from /proc."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / TICKS
    return rss, cpu


async def report(soak: Soak, http: httpx.AsyncClient, pid: int, every: float) -> list[float]:
    """Print a line per interval until the soak stops; returns the RSS samples."""
    before = scrape((await http.get("/metrics")).text)
    _, cpu_before = proc_stats(pid)
    started = time.monotonic()
    rss_samples: list[float] = []
    print(
        f"{'t':>5} {'ack/s':>7} {'ack p99':>8} {'reply/s':>8} {'sent/s':>7} {'deliv p99':>9} "
        f"{'outbox':>6} {'RSS MiB':>8} {'CPU%':>5}  errors"
    )
    while not soak.stopping:
        await asyncio.sleep(every)
        try:
            response = await http.get("/metrics", timeout=10)
        except httpx.HTTPError as error:
            soak.error(f"metrics_{kind_of(error)}")
            continue
        if response.status_code != 200:  # shed too: this interval merges into the next
            soak.error(f"metrics_{response.status_code}")
            continue
        now = scrape(response.text)
        rss, cpu = proc_stats(pid)
        rss_samples.append(rss)
        window, soak.window = soak.window, Window()
        sent = now["chatsim_gateway_outbound_sent_total"] - before.get(
            "chatsim_gateway_outbound_sent_total", 0.0
        )
        errors = ", ".join(f"{k} {v}" for k, v in window.errors.most_common()) or "-"
        print(
            f"{time.monotonic() - started:5.0f} {window.acked / every:7.1f} "
            f"{p99(window.ack_latency) * 1000:6.1f}ms {window.replies / every:8.1f} "
            f"{sent / every:7.1f} {histogram_p99(now, before) * 1000:7.0f}ms "
            f"{now['chatsim_gateway_outbound_depth']:6.0f} {rss:8.1f} "
            f"{(cpu - cpu_before) / every * 100:5.0f}  {errors}",
            flush=True,
        )
        before, cpu_before = now, cpu
    return rss_samples


async def main_async(args: argparse.Namespace, url: str, pid: int, stub: str) -> int:
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        soak = Soak(url)
        agents = [
            asyncio.create_task(agent(soak, f"soak-{k}", args.max_chats, args.think, args.replies))
            for k in range(args.agents)
        ]
        reporter = asyncio.create_task(report(soak, http, pid, args.every))
        await asyncio.sleep(1.0)  # logged in before the first customer
        t0 = time.monotonic()
        await customers(soak, url, args.rate, args.duration, args.webhook_connections)
        elapsed = time.monotonic() - t0
        soak.stopping = True
        rss = await reporter
        await asyncio.wait_for(asyncio.gather(*agents), 120)
        deadline = time.monotonic() + 60
        while (await http.get("/healthz")).json()["outbound_pending"] and (
            time.monotonic() < deadline
        ):
            await asyncio.sleep(0.2)
        final = scrape((await http.get("/metrics")).text)
        stats = (await http.get(f"{stub}/stats")).json()
    total = soak.total
    sent = final["chatsim_gateway_outbound_sent_total"]
    failed = final["chatsim_gateway_outbound_failures_total"]
    warm = rss[len(rss) // 4 :] or rss
    print("\nsummary")
    print(f"  offered: {args.rate:g} webhooks/s for {args.duration:g} s ({elapsed:.1f} s)")
    print(
        f"  webhooks acknowledged: {total.acked} ({total.acked / elapsed:.1f}/s), "
        f"p99 {p99(total.ack_latency) * 1000:.1f} ms"
    )
    print(
        f"  replies accepted: {total.replies}; sent {sent:.0f}, failed {failed:.0f}; "
        f"platform calls {stats['count']} {stats['outcomes']}; "
        f"still queued {final['chatsim_gateway_outbound_depth']:.0f}"
    )
    if rss:
        print(
            f"  gateway RSS: {rss[0]:.1f} MiB first interval, {min(warm):.1f}-{max(warm):.1f} "
            f"MiB after warm-up (last 3/4), {rss[-1]:.1f} MiB at the end"
        )
    errors = ", ".join(f"{k} {v}" for k, v in total.errors.most_common()) or "none"
    print(f"  errors: {errors}")
    every_reply = sent == total.replies and failed == 0
    print(f"  every accepted reply sent: {'yes' if every_reply else 'NO'}")
    return 0 if every_reply else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=200.0, help="Webhooks per second.")
    parser.add_argument("--duration", type=float, default=300.0, help="Seconds of load.")
    parser.add_argument("--agents", type=int, default=80)
    parser.add_argument("--max-chats", type=int, default=8)
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
        wait_healthy_stub(stub_url)
        print(f"gateway {url} (pid {gateway.pid}) -> platform stub {stub_url}", flush=True)
        return asyncio.run(main_async(args, url, gateway.pid, stub_url))
    finally:
        for process in (gateway, stub):
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)


def wait_healthy_stub(url: str) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/stats", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"platform stub {url} did not start")


if __name__ == "__main__":
    sys.exit(main())
