"""Outbound under load and faults: a real ``chatsim gateway`` process, a stub platform on
127.0.0.1 (``livekit.StubPlatform``), replies posted through the agent API by concurrent clients.

Bounded: at most 3,000 replies and 1,000 conversations per test, each test under its timeout.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections import defaultdict
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_helpers import CallerAuth, dumps, wa_message
from livekit import Call, LiveProcess, StubPlatform, chatsim_gateway, serve

from sim.protocols import PlatformCredentials, whatsapp_signature

DESK_KEY = PlatformCredentials().desk_key

SECRET = PlatformCredentials().whatsapp_app_secret
pytestmark = pytest.mark.slow


def live_gateway(
    tmp_path: Path, platform: str, *options: str
) -> AbstractContextManager[LiveProcess]:
    """``chatsim gateway OPTIONS`` sending to the stub platform at ``platform``."""
    return chatsim_gateway(tmp_path / "gateway.log", *options, platform=platform, log_level="error")


def metric_sum(text: str, name: str, **labels: str) -> float:
    """Sum of the samples of ``name`` whose labels include ``labels``."""
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def open_conversations(http: httpx.AsyncClient, count: int, clients: int = 16) -> list[str]:
    """``count`` WhatsApp customers write once each; the logged-in agent gets them all."""
    cids: list[str] = [""] * count

    async def customer(n: int) -> None:
        body = dumps(wa_message(wa_id=f"7900{n:07d}", msg_id=f"wamid.live{n}", text=f"hi {n}"))
        headers = {"X-Hub-Signature-256": whatsapp_signature(SECRET, body)}
        response = await http.post("/webhooks/whatsapp", content=body, headers=headers)
        assert response.status_code == 200, response.text
        cids[n] = response.json()["conversation_ids"][0]

    for start in range(0, count, clients):
        await asyncio.gather(*(customer(n) for n in range(start, min(start + clients, count))))
    return cids


async def post_replies(
    http: httpx.AsyncClient, cids: list[str], per_conversation: int, clients: int = 16
) -> list[int]:
    """Each client answers its share of conversations, replies ``1..n`` in order; statuses."""
    statuses: list[int] = []

    async def agent_client(k: int) -> None:
        for cid in cids[k::clients]:
            for r in range(1, per_conversation + 1):
                response = await http.post(
                    f"/conversations/{cid}/reply", json={"agent_id": "a1", "text": f"{cid}#{r}"}
                )
                statuses.append(response.status_code)

    await asyncio.gather(*(agent_client(k) for k in range(clients)))
    return statuses


async def wait_drained(http: httpx.AsyncClient, timeout: float) -> float:
    """Seconds until the outbox is empty; fails the test after ``timeout``."""
    start = time.monotonic()
    while (await http.get("/healthz")).json()["outbound_pending"]:
        assert time.monotonic() - start < timeout, "the outbox did not drain in time"
        await asyncio.sleep(0.05)
    return time.monotonic() - start


def by_conversation(calls: list[Call]) -> dict[str, list[tuple[int, str]]]:
    """Per conversation, (reply number, outcome) of each call in arrival order."""
    seen: dict[str, list[tuple[int, str]]] = defaultdict(list)
    for call in sorted(calls, key=lambda c: c.at):
        cid, number = call.text.split("#")
        seen[cid].append((int(number), call.outcome))
    return seen


@pytest.mark.timeout(120)
def test_a_burst_of_3000_replies_is_all_sent_and_healthz_stays_fast(tmp_path):
    """The issue's probe: 3,000 replies from 16 clients to an instant platform. All are sent,
    each in one attempt, and ``/healthz`` answers in under 0.5 s at the 99th percentile while
    the burst lasts (probed every 20 ms; before, it took 0.4-3.7 s). The 0.5 s bound is loose on
    purpose: the gateway shares 2 cores with the stub and the clients."""
    platform = StubPlatform()
    with serve(platform) as base, live_gateway(tmp_path, base) as gw:

        async def run() -> tuple[list[int], list[float]]:
            limits = httpx.Limits(max_connections=32)
            async with httpx.AsyncClient(
                base_url=gw.url, timeout=30, limits=limits, auth=CallerAuth(DESK_KEY)
            ) as http:
                login = {"agent_id": "a1", "skills": ["whatsapp"], "max_chats": 1000}
                assert (await http.post("/agents/login", json=login)).status_code == 200
                cids = await open_conversations(http, 1000)
                health: list[float] = []
                done = asyncio.Event()

                async def probe() -> None:
                    async with httpx.AsyncClient(
                        base_url=gw.url, timeout=10, auth=http.auth
                    ) as own:
                        while not done.is_set():
                            t0 = time.perf_counter()
                            assert (await own.get("/healthz")).status_code == 200
                            health.append(time.perf_counter() - t0)
                            await asyncio.sleep(0.02)

                prober = asyncio.create_task(probe())
                statuses = await post_replies(http, cids, 3)
                await wait_drained(http, 60)
                done.set()
                await prober
                metrics = (await http.get("/metrics")).text
                assert metric_sum(metrics, "chatsim_gateway_outbound_sent_total") == 3000
                assert metric_sum(metrics, "chatsim_gateway_outbound_failures_total") == 0
                attempts = metric_sum(metrics, "chatsim_gateway_outbound_attempts_total")
                assert attempts == 3000  # one each: nothing waited itself into a retry
                return statuses, health

        statuses, health = asyncio.run(run())
        assert statuses == [202] * 3000
        assert len(platform.calls) == 3000
        assert {c.outcome for c in platform.calls} == {"ok"}
        assert platform.max_in_flight <= 64  # the default outbound_concurrency
        health.sort()
        p99 = health[int(0.99 * (len(health) - 1))]
        assert len(health) >= 20, "the probe ran too briefly to mean anything"
        assert p99 < 0.5, f"healthz p99 {p99:.3f} s over {len(health)} probes"
        for replies in by_conversation(platform.calls).values():
            assert [n for n, _ in replies] == [1, 2, 3]


@pytest.mark.timeout(60)
def test_waiting_for_a_connection_is_not_an_attempt(tmp_path):
    """4 connections, a platform taking 0.1 s per call, 80 replies at once and a 0.5 s timeout
    with a single attempt allowed: the last replies wait about 2 s for a connection, four times
    the timeout, and still all go out, one call each, never more than 4 at a time."""
    platform = StubPlatform(delay=0.1)
    options = ("--outbound-concurrency", "4", "--outbound-timeout", "0.5")
    with (
        serve(platform) as base,
        live_gateway(tmp_path, base, *options, "--outbound-attempts", "1") as gw,
    ):

        async def run() -> str:
            async with httpx.AsyncClient(
                base_url=gw.url, timeout=30, auth=CallerAuth(DESK_KEY)
            ) as http:
                login = {"agent_id": "a1", "skills": ["whatsapp"], "max_chats": 100}
                assert (await http.post("/agents/login", json=login)).status_code == 200
                cids = await open_conversations(http, 80)
                assert set(await post_replies(http, cids, 1)) == {202}
                drained = await wait_drained(http, 30)
                assert drained > 1.0  # the queue really was longer than the timeout
                return (await http.get("/metrics")).text

        metrics = asyncio.run(run())
        assert metric_sum(metrics, "chatsim_gateway_outbound_sent_total") == 80
        assert metric_sum(metrics, "chatsim_gateway_outbound_attempts_total") == 80
        assert len(platform.calls) == 80
        assert platform.max_in_flight <= 4


@pytest.mark.timeout(60)
def test_flaky_platform_every_reply_at_least_once_in_order_duplicates_only_from_lost_acks(tmp_path):
    """200 replies (50 conversations x 4) to a platform answering 25% of calls 500, 10% only
    after 0.2 s, and dropping the connection after reading 10% of them. The guarantee:

    * every reply is taken by the platform, and acknowledged exactly once (``ok``/``slow``);
    * a reply reaches the platform more than once only through calls whose answer was dropped;
    * per conversation, calls arrive in reply order: once reply n+1 arrived, nothing of reply
      n or earlier comes again.

    The fault draws are seeded, so the faults are the same on every run; the test also checks
    that each kind of fault happened, else it would prove nothing."""
    platform = StubPlatform(fail=0.25, slow=0.1, drop=0.1, slow_seconds=0.2, seed=11)
    options = ("--outbound-attempts", "20", "--outbound-backoff", "0.02", "--outbound-timeout", "2")
    with serve(platform) as base, live_gateway(tmp_path, base, *options) as gw:

        async def run() -> tuple[str, list[dict[str, Any]]]:
            async with httpx.AsyncClient(
                base_url=gw.url, timeout=30, auth=CallerAuth(DESK_KEY)
            ) as http:
                login = {"agent_id": "a1", "skills": ["whatsapp"], "max_chats": 100}
                assert (await http.post("/agents/login", json=login)).status_code == 200
                cids = await open_conversations(http, 50)
                assert set(await post_replies(http, cids, 4, clients=8)) == {202}
                await wait_drained(http, 40)
                views = [(await http.get(f"/conversations/{cid}")).json() for cid in cids]
                return (await http.get("/metrics")).text, views

        metrics, views = asyncio.run(run())
    outcomes = {c.outcome for c in platform.calls}
    assert {"ok", "slow", "fail", "drop"} <= outcomes, outcomes
    per_conversation = by_conversation(platform.calls)
    assert len(per_conversation) == 50
    for cid, calls in per_conversation.items():
        numbers = [n for n, _ in calls]
        assert numbers == sorted(numbers), f"{cid} out of order: {calls}"
        for r in range(1, 5):
            mine = [outcome for n, outcome in calls if n == r]
            acknowledged = sum(o in ("ok", "slow") for o in mine)
            assert acknowledged == 1, f"{cid}#{r}: {mine}"
            assert mine[-1] in ("ok", "slow")  # nothing after the acknowledgement
            delivered = sum(o in ("ok", "slow", "drop") for o in mine)
            assert delivered - 1 <= mine.count("drop")  # duplicates: lost acks only
    for view in views:
        replies = [m for m in view["messages"] if m["sender"] == "agent"]
        assert [m["delivery"] for m in replies] == ["sent"] * 4
    assert metric_sum(metrics, "chatsim_gateway_outbound_sent_total") == 200
    # every call the stub saw was counted as an attempt, and no other
    assert metric_sum(metrics, "chatsim_gateway_outbound_attempts_total") == len(platform.calls)
    assert re.search(r'chatsim_gateway_outbound_attempts_total\{[^}]*result="connection"', metrics)
