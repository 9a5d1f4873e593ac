"""Bounded memory: ended conversations, gone agents, unknown long-poll keys and long ids leave
no lasting state; an agent that stops polling loses its chats to the front of the queue.

Memory is measured by counting what the gateway holds (store caches, agents, cursors, signals,
router entries), not by RSS, which is noisy.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_helpers import CONFIG, Client, FakeClock, Platform, wa_message

from sim.gateway import GatewayConfig, create_app
from sim.gateway.conversations import MAX_ID_LENGTH, ConversationService


@asynccontextmanager
async def gateway(config: GatewayConfig, clock: FakeClock | None = None) -> AsyncIterator[Client]:
    """An in-process gateway; ``clock`` drives both its routing and its wall clock."""
    kwargs: dict[str, Any] = {"transport": httpx.MockTransport(Platform().handler)}
    if clock is not None:
        kwargs.update(monotonic=clock, wall=clock)
    app = create_app(config, **kwargs)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway") as http:
            yield Client(http, config, app)


def held(service: ConversationService) -> dict[str, int]:
    """Everything the gateway keeps in memory that could grow with traffic."""
    router = service.router
    return {
        **service.store.resident(),
        "service_agents": len(service.agents),
        "cursors": len(service._cursors),
        "agent_signals": len(service.agent_signals),
        "webchat_signals": len(service.webchat_signals),
        "router_tickets": len(router._tickets),
        "router_queue_entries": sum(len(queue) for queue in router._queues.values()),
    }


def pool_entries(service: ConversationService) -> int:
    """Entries in the router's agent pools: shed in batches, so bounded but not constant."""
    return sum(len(pool) for pool in service.router._pools.values())


async def serve_customers(client: Client, first: int, count: int) -> None:
    """``count`` customers, half WhatsApp and half webchat, each served to the end: assigned,
    answered, closed (webchat customers read the answer)."""
    for n in range(first, first + count):
        if n % 2:
            response = await client.whatsapp(wa_message(wa_id=f"7900{n:07d}", msg_id=f"wamid.{n}"))
        else:
            response = await client.webchat(f"session-{n}", "hello", id=f"m{n}")
        (cid,) = response.json()["conversation_ids"]
        assert cid in await client.assigned("a1")
        assert (await client.reply(cid, "a1")).status_code == 202
        if n % 2 == 0:
            poll = await client.http.get(f"/webchat/session-{n}/messages")
            assert [m["conversation_id"] for m in poll.json()] == [cid]
        assert (await client.close(cid, "a1")).status_code == 200


@pytest.mark.anyio
@pytest.mark.parametrize("store", ["file", ":memory:"])
async def test_ended_conversations_do_not_stay_in_memory(store: str, tmp_path: Path):
    path = str(tmp_path / "gateway.db") if store == "file" else store
    config = GatewayConfig(outbound_backoff=0.0, shutdown_grace=1.0, store=path, retain_ended=50)
    async with gateway(config) as client:
        # max_chats 2 with one chat at a time: the agent always has a free slot (and an entry
        # in the router's pools that goes stale at each assignment).
        await client.login("a1", ["whatsapp", "webchat"], max_chats=2)
        await serve_customers(client, 0, 100)
        after_100 = held(client.service)
        await serve_customers(client, 100, 200)
        after_300 = held(client.service)
        assert after_300 == after_100
        assert pool_entries(client.service) < 200
        kept = after_300["conversations"]
        assert kept == (0 if store == "file" else 50)
        # The durable store still answers for the oldest ones, from the file.
        first = await client.http.get("/conversations/cv-000001")
        if store == "file":
            assert first.status_code == 200
            assert [m["sender"] for m in first.json()["messages"]] == ["customer", "agent"]
        else:
            assert first.status_code == 404  # beyond the memory store's retention
            assert (await client.http.get("/conversations/cv-000300")).status_code == 200


@pytest.mark.anyio
async def test_polls_on_unknown_sessions_leave_nothing_behind():
    async with gateway(CONFIG) as client:
        before = held(client.service)

        async def poll(n: int) -> httpx.Response:
            # With its secret (derived, never stored), a poll on a session the gateway never
            # saw waits; without one, it is refused before it waits.
            session = f"unknown-{n:04d}"
            secret = client.gateway.sessions.webchat_secret(session)
            return await client.http.get(
                f"/webchat/{session}/messages",
                params={"timeout": 0.3},
                headers={"X-Webchat-Secret": secret},
            )

        refused = await client.http.get("/webchat/nobody/messages", params={"timeout": 0.3})
        assert refused.status_code == 403 and len(client.service.webchat_signals) == 0
        polls = [asyncio.ensure_future(poll(n)) for n in range(300)]
        await asyncio.sleep(0.1)
        assert len(client.service.webchat_signals) == 300  # waiting, each on its own key
        responses = await asyncio.gather(*polls)
        assert all(r.status_code == 200 and r.json() == [] for r in responses)
        assert held(client.service) == before


@pytest.mark.anyio
async def test_ids_over_the_bound_are_refused_and_leave_nothing():
    long_id = "x" * (MAX_ID_LENGTH + 1)
    async with gateway(CONFIG) as client:
        before = held(client.service)
        assert (await client.webchat(long_id[:-1], "fits")).status_code == 200
        responses = [
            await client.webchat(long_id, "hello"),
            await client.webchat("s1", "hello", id=long_id),
            await client.whatsapp(wa_message(wa_id=long_id)),
            await client.http.get(
                f"/webchat/{long_id}/messages",
                headers={"X-Webchat-Secret": client.gateway.sessions.webchat_secret(long_id)},
            ),
            await client.http.post(
                "/agents/login", json={"agent_id": long_id, "skills": ["webchat"], "max_chats": 1}
            ),
        ]
        assert [r.status_code for r in responses] == [422] * 5
        assert {r.json()["error"] for r in responses} == {"id_too_long"}
        after = held(client.service)
        assert after["conversations"] == before["conversations"] + 1  # the one that fits


@pytest.mark.anyio
async def test_an_agent_that_stops_polling_loses_its_chats_to_the_front_of_the_queue(tmp_path):
    clock = FakeClock()
    config = GatewayConfig(
        outbound_backoff=0.0,
        shutdown_grace=1.0,
        store=str(tmp_path / "gateway.db"),
        agent_poll_timeout=30.0,
        agent_forget_after=100.0,
    )
    async with gateway(config, clock) as client:
        service = client.service
        await client.login("a1", ["webchat"], max_chats=2)
        await client.login("busy", ["webchat"], max_chats=1)
        ids = [(await client.webchat(f"s{n}", "hi")).json()["conversation_ids"][0] for n in "1234"]
        # a1 takes s1 and s3 (fewest active first, then longest idle), busy s2; s4 waits.
        a1_events = await client.events("a1")
        assert [e["conversation_id"] for e in a1_events] == [ids[0], ids[2]]
        clock.tick(20)
        await client.events("busy")  # busy polls, a1 does not
        clock.tick(11)
        service.sweep()
        assert service.status("a1").state == "gone"
        assert service.status("busy").state == "active"
        # Back at the front, in their original order, ahead of s4.
        assert service.router.waiting_items("webchat") == [ids[0], ids[2], ids[3]]
        left = await client.events("a1", after=a1_events[-1]["seq"])
        assert [(e["type"], e["conversation_id"]) for e in left] == [
            ("left", ids[0]),
            ("left", ids[2]),
        ]
        assert all("did not poll" in e["reason"] for e in left)
        reply = await client.reply(ids[0], "a1")
        assert reply.status_code == 403
        await client.login("a2", ["webchat"], max_chats=3)
        assert await client.assigned("a2") == [ids[0], ids[2], ids[3]]
        # An open long-poll counts as polling: a2 waits through the timeout and stays. (The poll
        # is open within the 0.05 s below; its 1 s, waited out in full, is ample margin.)
        waiting = asyncio.ensure_future(client.events("a2", timeout=1, after=10**6))
        await asyncio.sleep(0.05)
        clock.tick(31)
        service.sweep()
        assert service.status("a2").state == "active"
        await waiting
        # Gone agents are forgotten after agent_forget_after.
        clock.tick(100)
        await client.events("a2")
        await client.events("busy")
        service.sweep()
        assert "a1" not in service.agents
        assert "a1" not in {a["agent_id"] for a in (await client.http.get("/agents")).json()}
        assert service.store.events_after("a1", 0) == []


@pytest.mark.anyio
async def test_the_sweeper_runs_on_its_own(tmp_path):
    config = GatewayConfig(
        outbound_backoff=0.0, shutdown_grace=1.0, store=":memory:", agent_poll_timeout=0.2
    )
    async with gateway(config) as client:
        await client.login("a1", ["webchat"], max_chats=1)
        cid = (await client.webchat("s1", "hi")).json()["conversation_ids"][0]
        assert client.service.status("a1").conversations == [cid]
        for _ in range(40):
            await asyncio.sleep(0.05)
            if client.service.status("a1").state == "gone":
                break
        assert client.service.status("a1").state == "gone"
        assert client.service.router.waiting_items("webchat") == [cid]
