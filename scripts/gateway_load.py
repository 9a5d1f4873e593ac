"""Load check of the reference gateway: signed inbound webhooks at increasing concurrency.

Starts ``chatsim gateway`` on a free loopback port (or uses ``--gateway URL``), logs in a few
agents so that conversations are routed and assigned as in a replay, then, for each concurrency
level, sends a bounded number of signed webhooks (WhatsApp, Telegram, Viber and webchat in turn,
one new customer each) and prints acknowledged messages per second, p50/p99 latency and the
gateway's CPU use. The answer is the highest rate whose p99 stays under ``--p99-ms``.

    .venv/bin/python scripts/gateway_load.py                 # httpx.AsyncClient, 5,000 requests
    .venv/bin/python scripts/gateway_load.py --client raw    # a minimal HTTP/1.1 client
    .venv/bin/python scripts/gateway_load.py --client raw --store compare

``--store`` picks the started gateway's store: ``sqlite`` (the default store, a fresh file in a
temporary directory, ``synchronous=NORMAL``), ``sqlite-full`` (``synchronous=FULL``), ``memory``,
or ``compare``: the same run against each in turn, then the rates as ratios to the memory
store's (the cost of durability).

The default client is one shared ``httpx.AsyncClient``. On a small machine it costs more CPU per
request than the gateway does, so it is usually the limit (see the server CPU column);
``--client raw`` (``rawhttp.py``: keep-alive HTTP/1.1 over asyncio streams, one connection per
worker) shows what the gateway itself sustains. Everything stays on 127.0.0.1; counts and times
are bounded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

sys.path.insert(0, str(ROOT / "scripts"))

from rawhttp import ERRORS, RawConnection, Request  # noqa: E402

from sim.loadtest.payloads import whatsapp_message  # noqa: E402
from sim.loadtest.run import free_port, gateway_command  # noqa: E402
from sim.protocols import PROTOCOLS, PlatformCredentials, viber_signature, whatsapp_signature  # noqa: E402
from sim.texts import Customer  # noqa: E402


def whatsapp_body(n: int) -> bytes:
    """The ``n``-th customer's message as a WhatsApp Cloud API notification (the replay's own
    builder; the signature is made by the caller)."""
    customer = Customer(f"7900{n:07d}", "Load Test")
    return whatsapp_message(
        PlatformCredentials(), customer, f"message {n}", f"wamid.load{n}", 0
    ).body


def build_request(credentials: PlatformCredentials, n: int) -> Request:
    """The ``n``-th signed webhook: protocols in turn, a new customer each."""
    protocol = PROTOCOLS[n % len(PROTOCOLS)]
    headers = {"content-type": "application/json"}
    if protocol == "whatsapp":
        body = whatsapp_body(n)
        headers["X-Hub-Signature-256"] = whatsapp_signature(credentials.whatsapp_app_secret, body)
    elif protocol == "telegram":
        user = {"id": 10_000_000 + n, "is_bot": False, "first_name": "Load"}
        chat = {"id": 10_000_000 + n, "type": "private", "first_name": "Load"}
        message = {
            "message_id": n,
            "date": 1700000000,
            "from": user,
            "chat": chat,
            "text": f"message {n}",
        }
        body = json.dumps({"update_id": n, "message": message}).encode()
        headers["X-Telegram-Bot-Api-Secret-Token"] = credentials.telegram_secret_token
    elif protocol == "viber":
        body = json.dumps(
            {
                "event": "message",
                "timestamp": 1700000000000,
                "message_token": 5_000_000_000 + n,
                "sender": {"id": f"vb{n}==", "name": "Load"},
                "message": {"type": "text", "text": f"message {n}"},
            }
        ).encode()
        headers["X-Viber-Content-Signature"] = viber_signature(credentials.viber_auth_token, body)
    else:
        body = json.dumps({"session": f"load-{n}", "text": f"message {n}", "id": f"m{n}"}).encode()
    return Request(f"/webhooks/{protocol}", body, headers)


@dataclass
class Level:
    concurrency: int
    acked: int = 0
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    server_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.acked / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_per_message(self) -> float:
        """Server CPU seconds per acknowledged message (0 when not measured)."""
        return self.server_cpu * self.seconds / self.acked if self.acked else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


async def run_level(
    url: str, client: httpx.AsyncClient | None, requests: list[Request], concurrency: int
) -> Level:
    """Send ``requests`` with ``concurrency`` in flight; ``client`` None means raw connections."""
    level = Level(concurrency)
    queue: Iterator[Request] = iter(requests)

    async def worker() -> None:
        raw = await RawConnection.open(url) if client is None else None
        try:
            for request in queue:
                started = time.perf_counter()
                try:
                    if raw is not None:
                        answer = await raw.request(request)
                        status, body = answer.status, answer.body
                    else:
                        assert client is not None
                        response = await client.post(
                            request.path, content=request.body, headers=request.headers
                        )
                        status, body = response.status_code, response.content
                    ok = status == 200 and json.loads(body).get("messages") == 1
                except (httpx.HTTPError, *ERRORS):
                    ok = False
                if ok:
                    level.latencies.append(time.perf_counter() - started)
                else:
                    level.errors += 1
        finally:
            if raw is not None:
                await raw.close()

    started = time.perf_counter()
    await asyncio.wait_for(asyncio.gather(*(worker() for _ in range(concurrency))), 300)
    level.seconds = time.perf_counter() - started
    level.acked = len(level.latencies)
    return level


def cpu_seconds(pid: int | None) -> float:
    """User + system CPU seconds of a process (Linux /proc), 0 where unknown."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return 0.0


STORES = ("sqlite", "sqlite-full", "memory")


def start_gateway(port: int, store: str, state_dir: Path) -> subprocess.Popen[bytes]:
    """``chatsim gateway`` with ``store`` (one of :data:`STORES`); a file store starts empty."""
    options = ["--log-level", "warning"]
    if store == "memory":
        options += ["--store", ":memory:"]
    else:
        options += ["--store", str(state_dir / f"{store}.db")]
        options += ["--store-sync", "full" if store == "sqlite-full" else "normal"]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen(
        gateway_command(port, *options), cwd=ROOT, env=env, stdout=subprocess.DEVNULL
    )


async def wait_ready(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    async with httpx.AsyncClient(base_url=url, timeout=1) as client:
        while True:
            try:
                if (await client.get("/healthz")).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit(f"gateway at {url} did not answer /healthz")
            await asyncio.sleep(0.1)


def best_rate(results: list[Level], p99_ms: float) -> float:
    """The highest acknowledged rate of an error-free level with p99 under ``p99_ms``."""
    good = [level for level in results if level.errors == 0 and level.percentile(0.99) < p99_ms]
    return max((level.rate for level in good), default=0.0)


def report(results: list[Level], p99_ms: float) -> int:
    good = [level for level in results if level.errors == 0 and level.percentile(0.99) < p99_ms]
    errors = sum(level.errors for level in results)
    measured = [level.cpu_per_message for level in results if level.cpu_per_message > 0]
    if measured:
        cost = statistics.median(measured)
        print(
            f"gateway CPU per message: {cost * 1000:.2f} ms (median), about "
            f"{1 / cost:.0f} msg/s per core"
        )
    if errors:
        print(f"errors: {errors}")
    if not good:
        print(f"no level kept p99 under {p99_ms:g} ms")
        return 1
    best = max(good, key=lambda level: level.rate)
    print(
        f"highest rate with p99 < {p99_ms:g} ms: {best.rate:.0f} msg/s acknowledged "
        f"(concurrency {best.concurrency}, p50 {best.percentile(0.5):.1f} ms, "
        f"p99 {best.percentile(0.99):.1f} ms)"
    )
    return 0 if errors == 0 else 1


async def main_async(args: argparse.Namespace) -> int:
    if args.store != "compare":
        with tempfile.TemporaryDirectory(prefix="chatsim-load-") as state_dir:
            return report(await measure(args, args.store, Path(state_dir)), args.p99_ms)
    rates: dict[str, float] = {}
    costs: dict[str, float] = {}
    failed = 0
    for store in STORES:
        print(f"\n== store {store}")
        with tempfile.TemporaryDirectory(prefix="chatsim-load-") as state_dir:
            results = await measure(args, store, Path(state_dir))
        failed |= report(results, args.p99_ms)
        rates[store] = best_rate(results, args.p99_ms)
        measured = [level.cpu_per_message for level in results if level.cpu_per_message > 0]
        costs[store] = statistics.median(measured) if measured else float("nan")
    print(
        f"\nagainst the memory store: highest rate with p99 < {args.p99_ms:g} ms (ratio), "
        "gateway CPU per message (ratio)"
    )
    for store in STORES:
        rate = rates[store] / rates["memory"] if rates["memory"] else float("nan")
        cpu = costs[store] / costs["memory"]
        print(
            f"  {store:<12} {rates[store]:>6.0f} msg/s ({rate:.2f})  "
            f"{costs[store] * 1000:.2f} ms ({cpu:.2f})"
        )
    return failed


async def measure(args: argparse.Namespace, store: str, state_dir: Path) -> list[Level]:
    """One run: warm-up, then each concurrency level; a table row per level."""
    credentials = PlatformCredentials.from_env()
    levels = [int(level) for level in args.levels.split(",")]
    per_level = max(1, args.requests // len(levels))
    process = None
    url = args.gateway
    if url is None:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        process = start_gateway(port, store, state_dir)
    pid = process.pid if process is not None else None
    results: list[Level] = []
    try:
        await wait_ready(url)
        limits = httpx.Limits(max_connections=max(levels), max_keepalive_connections=max(levels))
        async with httpx.AsyncClient(base_url=url, timeout=10, limits=limits) as http:
            skills = list(PROTOCOLS)
            for n in range(args.agents):
                agent = {"agent_id": f"load-{n:03d}", "skills": skills, "max_chats": args.max_chats}
                desk = {"Authorization": f"Bearer {credentials.desk_key}"}
                (await http.post("/agents/login", json=agent, headers=desk)).raise_for_status()
            client = http if args.client == "httpx" else None
            n = 0
            warmup = [build_request(credentials, n + i) for i in range(200)]
            n += len(warmup)
            await run_level(url, client, warmup, 8)
            print(
                f"gateway {url} (store {store}); client {args.client}; "
                f"{per_level} requests per level; {args.agents} agents x {args.max_chats} chats"
            )
            print(
                f"{'concurrency':>11} {'acked':>6} {'errors':>6} {'msg/s':>7} {'p50 ms':>7} "
                f"{'p99 ms':>7} {'gateway CPU':>11}"
            )
            for concurrency in levels:
                requests = [build_request(credentials, n + i) for i in range(per_level)]
                n += per_level
                cpu = cpu_seconds(pid)
                level = await run_level(url, client, requests, concurrency)
                level.server_cpu = (cpu_seconds(pid) - cpu) / level.seconds
                results.append(level)
                print(
                    f"{concurrency:>11} {level.acked:>6} {level.errors:>6} {level.rate:>7.0f} "
                    f"{level.percentile(0.5):>7.1f} {level.percentile(0.99):>7.1f} "
                    f"{level.server_cpu:>11.0%}"
                )
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--requests", type=int, default=5000, help="in all, split over levels")
    parser.add_argument("--levels", default="1,2,4,8,16,32,64", help="concurrency levels")
    parser.add_argument("--client", choices=("httpx", "raw"), default="httpx")
    parser.add_argument("--agents", type=int, default=20, help="agents logged in during the run")
    parser.add_argument("--max-chats", type=int, default=500, help="max_chats of each agent")
    parser.add_argument("--p99-ms", type=float, default=50.0, help="latency bound of the answer")
    parser.add_argument("--gateway", default=None, help="a running gateway (default: start one)")
    parser.add_argument(
        "--store",
        choices=(*STORES, "compare"),
        default="sqlite",
        help="store of the started gateway; compare: each in turn, rates as ratios",
    )
    args = parser.parse_args()
    if not 1 <= args.requests <= 100_000:
        parser.error("--requests: between 1 and 100000")
    if args.gateway is not None and args.store == "compare":
        parser.error("--store compare starts its own gateways: drop --gateway")
    if args.gateway is not None and urlsplit(args.gateway).hostname not in (
        "127.0.0.1",
        "localhost",
        "::1",
    ):
        parser.error("--gateway: loopback addresses only")
    sys.exit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
