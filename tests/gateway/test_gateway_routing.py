"""Conversations and routing through the gateway: DESIGN.md's model semantics over HTTP."""

from __future__ import annotations

import asyncio

import pytest
from gateway_helpers import FakeClock, gateway, wa_message

pytestmark = pytest.mark.anyio

CHANNELS = {"whatsapp": ("whatsapp", 0), "webchat": ("webchat", 0), "vip": ("webchat", 5)}


async def test_priority_then_fifo():
    async with gateway(channels=CHANNELS) as client:
        await client.webchat("w1", "first", channel="webchat")
        await client.webchat("w2", "second", channel="webchat")
        await client.webchat("v1", "vip", channel="vip")
        ids = {c.customer_id: c.id for c in client.service.store._conversations.values()}
        await client.login("a1", ["webchat", "vip"], max_chats=1)
        assert await client.assigned("a1") == [ids["v1"]]
        await client.close(ids["v1"], "a1")
        assert await client.assigned("a1") == [ids["w1"]]
        await client.close(ids["w1"], "a1")
        assert await client.assigned("a1") == [ids["w2"]]


async def test_fewest_active_chats_wins():
    clock = FakeClock()
    async with gateway(channels=CHANNELS, clock=clock) as client:
        await client.login("a1", ["webchat"], max_chats=3)
        clock.tick()
        await client.login("a2", ["webchat"], max_chats=3)
        clock.tick()
        owners = []
        for n in range(4):
            cid = (await client.webchat(f"s{n}", "hi")).json()["conversation_ids"][0]
            owners.append(client.service.store.conversation(cid).agent_id)
            clock.tick()
        # a1 idle longest takes the first, a2 (fewer chats) the second, then a1, a2 again
        assert owners == ["a1", "a2", "a1", "a2"]


async def test_longest_idle_then_lowest_id_break_ties():
    clock = FakeClock()
    async with gateway(channels=CHANNELS, clock=clock) as client:
        await client.login("b", ["webchat"], max_chats=2)
        await client.login("a", ["webchat"], max_chats=2)  # same login time as b
        clock.tick()
        await client.login("c", ["webchat"], max_chats=2)  # logged in later: idle shorter
        clock.tick()
        cid = (await client.webchat("s1", "hi")).json()["conversation_ids"][0]
        assert client.service.store.conversation(cid).agent_id == "a"  # lowest id among a, b
        clock.tick()
        cid = (await client.webchat("s2", "hi")).json()["conversation_ids"][0]
        assert client.service.store.conversation(cid).agent_id == "b"  # b idle longer than c
        clock.tick()
        cid = (await client.webchat("s3", "hi")).json()["conversation_ids"][0]
        assert client.service.store.conversation(cid).agent_id == "c"


async def test_concurrency_limit_and_skills():
    async with gateway(channels=CHANNELS) as client:
        await client.login("a1", ["webchat"], max_chats=2)
        for n in range(3):
            await client.webchat(f"s{n}", "hi")
        await client.whatsapp(wa_message())
        assert len(await client.assigned("a1")) == 2
        assert client.service.router.waiting("webchat") == 1
        assert client.service.router.waiting("whatsapp") == 1  # a1 lacks the skill
        status = (await client.http.get("/agents/a1")).json()
        assert status["active"] == 2 and len(status["conversations"]) == 2


async def test_close_frees_the_slot_for_the_next_in_queue():
    async with gateway(channels=CHANNELS) as client:
        await client.login("a1", ["webchat"], max_chats=1)
        first = (await client.webchat("s1", "hi")).json()["conversation_ids"][0]
        second = (await client.webchat("s2", "hi")).json()["conversation_ids"][0]
        assert await client.assigned("a1") == [first]
        assert (await client.reply(first, "a1")).status_code == 202
        response = await client.close(first, "a1")
        assert response.status_code == 200 and response.json()["state"] == "closed"
        assert await client.assigned("a1") == [second]
        assert (await client.conversation(first))["state"] == "closed"


async def test_message_after_close_opens_a_new_conversation():
    async with gateway(channels=CHANNELS) as client:
        await client.login("a1", ["webchat"], max_chats=2)
        first = (await client.webchat("s1", "hi")).json()["conversation_ids"][0]
        again = (await client.webchat("s1", "are you there?")).json()["conversation_ids"][0]
        assert again == first
        events = await client.events("a1")
        assert [e["type"] for e in events] == ["assigned", "message"]
        assert events[1]["message"]["text"] == "are you there?"
        assert events[1]["message"]["index"] == 2
        await client.close(first, "a1")
        new = (await client.webchat("s1", "one more thing")).json()["conversation_ids"][0]
        assert new != first
        (event,) = await client.events("a1")
        assert event["type"] == "assigned" and event["conversation_id"] == new
        assert [m["text"] for m in event["messages"]] == ["one more thing"]


async def test_assignment_carries_the_history_so_far():
    async with gateway(channels=CHANNELS) as client:
        await client.webchat("s1", "hello")
        await client.webchat("s1", "anyone?")
        await client.login("a1", ["webchat"])
        (event,) = await client.events("a1")
        assert [m["text"] for m in event["messages"]] == ["hello", "anyone?"]
        assert event["queued_at"] <= event["ts"]


async def test_drain_on_logout():
    async with gateway(channels=CHANNELS) as client:
        await client.login("a1", ["webchat"], max_chats=2)
        cid = (await client.webchat("s1", "hi")).json()["conversation_ids"][0]
        await client.events("a1")
        status = (await client.http.post("/agents/a1/logout")).json()
        assert status["state"] == "draining" and status["active"] == 1
        await client.webchat("s2", "hi")  # queued: a draining agent takes no new chats
        assert client.service.router.waiting("webchat") == 1
        assert await client.events("a1") == []
        # the active conversation goes on
        assert (await client.reply(cid, "a1")).status_code == 202
        await client.webchat("s1", "thanks")
        assert [e["type"] for e in await client.events("a1")] == ["message"]
        await client.close(cid, "a1")
        assert (await client.http.get("/agents/a1")).json()["state"] == "gone"
        assert client.service.router.waiting("webchat") == 1
        # a new login is a fresh agent, and takes the waiting chat
        assert (await client.login("a1", ["webchat"]))["active"] == 1


async def test_logout_without_chats_is_gone_at_once_and_relogin_resumes_draining():
    async with gateway(channels=CHANNELS) as client:
        await client.login("a1", ["webchat"])
        assert (await client.http.post("/agents/a1/logout")).json()["state"] == "gone"
        await client.login("a2", ["webchat"], max_chats=2)
        await client.webchat("s1", "hi")
        assert (await client.http.post("/agents/a2/logout")).json()["state"] == "draining"
        assert (await client.login("a2", ["webchat"], max_chats=2))["state"] == "active"
        await client.webchat("s2", "hi")
        assert len(await client.assigned("a2")) == 2


async def test_reply_or_close_of_someone_elses_conversation_is_refused():
    async with gateway(channels=CHANNELS) as client:
        await client.login("a1", ["webchat"])
        await client.login("a2", ["webchat"])
        mine = (await client.webchat("s1", "hi")).json()["conversation_ids"][0]
        theirs = (await client.webchat("s2", "hi")).json()["conversation_ids"][0]
        queued = (await client.webchat("s3", "hi")).json()["conversation_ids"][0]
        owner = client.service.store.conversation(mine).agent_id
        other = "a2" if owner == "a1" else "a1"
        before = await client.conversation(mine)
        for response in (
            await client.reply(mine, other),
            await client.close(mine, other),
            await client.reply(queued, owner),
        ):
            assert response.status_code == 403
            assert response.json()["error"] == "not_your_conversation"
        assert (await client.reply("cv-999999", owner)).status_code == 404
        assert await client.conversation(mine) == before
        assert (await client.conversation(queued))["state"] == "queued"
        assert client.service.agents[owner].active == 1
        # after its close, its own agent cannot write into it either
        await client.close(mine, owner)
        response = await client.reply(mine, owner)
        assert response.status_code == 409 and response.json()["error"] == "conversation_ended"
        assert theirs


async def test_webchat_close_while_queued_removes_it():
    async with gateway(channels=CHANNELS) as client:
        cid = (await client.webchat("s1", "hi")).json()["conversation_ids"][0]
        await client.webchat("s2", "hi")
        response = await client.webchat("s1", event="close")
        assert response.status_code == 200 and response.json()["closed"] == 1
        assert client.service.router.waiting("webchat") == 1
        assert (await client.conversation(cid))["state"] == "left"
        await client.login("a1", ["webchat"], max_chats=2)
        (event,) = await client.events("a1")
        assert event["customer"]["id"] == "s2"
        # closing again, or a session that never wrote, is harmless
        assert (await client.webchat("s1", event="close")).json()["closed"] == 0


async def test_webchat_close_when_assigned_frees_the_slot_and_tells_the_agent():
    async with gateway(channels=CHANNELS) as client:
        await client.login("a1", ["webchat"], max_chats=1)
        cid = (await client.webchat("s1", "hi")).json()["conversation_ids"][0]
        nxt = (await client.webchat("s2", "hi")).json()["conversation_ids"][0]
        await client.events("a1")
        await client.webchat("s1", event="close")
        events = await client.events("a1")
        assert [(e["type"], e["conversation_id"]) for e in events] == [
            ("left", cid),
            ("assigned", nxt),
        ]
        assert events[0]["reason"] == "customer left"
        response = await client.reply(cid, "a1")
        assert response.status_code == 409 and "left" in response.json()["detail"]
        assert (await client.close(cid, "a1")).status_code == 409


async def test_events_long_poll_waits_and_wakes():
    async with gateway(channels=CHANNELS) as client:
        await client.login("a1", ["webchat"])
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await client.events("a1", timeout=0.2) == []
        assert loop.time() - started >= 0.18

        async def later() -> None:
            await asyncio.sleep(0.1)
            await client.webchat("s1", "hi")

        started = loop.time()
        events, _ = await asyncio.gather(client.events("a1", timeout=5), later())
        assert [e["type"] for e in events] == ["assigned"]
        assert loop.time() - started < 2


async def test_event_sequence_and_acknowledgement():
    async with gateway(channels=CHANNELS) as client:
        await client.login("a1", ["webchat"], max_chats=3)
        for n in range(3):
            await client.webchat(f"s{n}", "hi")
        events = await client.events("a1", after=0)
        seqs = [e["seq"] for e in events]
        assert seqs == sorted(seqs) and len(set(seqs)) == 3
        # the same `after` gives the same answer (a lost response can be fetched again)
        assert await client.events("a1", after=0) == events
        assert [e["seq"] for e in await client.events("a1", after=seqs[0])] == seqs[1:]
        assert await client.events("a1", after=seqs[-1]) == []
        # without `after`, each poll acknowledges the previous one's
        await client.webchat("s0", "more")
        assert len(await client.events("a1")) == 1
        assert await client.events("a1") == []
        assert all(e["ts"] > 0 for e in events)


async def test_agent_api_errors():
    async with gateway(channels=CHANNELS) as client:
        response = await client.http.get("/agents/nobody/events")  # the desk reads no events
        assert response.status_code == 403 and response.json()["error"] == "not_this_agent"
        response = await client.http.get("/agents/nobody")
        assert response.status_code == 404 and response.json()["error"] == "unknown_agent"
        response = await client.http.post(
            "/agents/login", json={"agent_id": "a1", "skills": ["telegram"], "max_chats": 1}
        )
        assert response.status_code == 422 and response.json()["error"] == "unknown_channel"
        response = await client.http.post(
            "/agents/login", json={"agent_id": "a1", "skills": ["webchat"], "max_chats": 0}
        )
        assert response.status_code == 422 and response.json()["error"] == "invalid_request"
        response = await client.http.post(
            "/agents/login", content=b"{bad json", headers={"content-type": "application/json"}
        )
        assert response.status_code == 400 and response.json()["error"] == "malformed_json"
        assert (await client.http.post("/agents/ghost/logout")).status_code == 404
        assert client.service.agents == {}


async def test_reply_idempotency_key():
    async with gateway(channels=CHANNELS) as client:
        await client.login("a1", ["webchat"])
        cid = (await client.webchat("s1", "hi")).json()["conversation_ids"][0]
        body = {"agent_id": "a1", "text": "hello", "id": "r-1"}
        first = await client.http.post(f"/conversations/{cid}/reply", json=body)
        second = await client.http.post(f"/conversations/{cid}/reply", json=body)
        assert first.json()["status"] == "queued"
        assert second.json() == {
            "conversation_id": cid,
            "index": first.json()["index"],
            "status": "duplicate",
        }
        assert len((await client.http.get("/webchat/s1/messages")).json()) == 1


async def test_login_again_after_gone_at_the_same_instant():
    """Regression: a second session of an agent id must not confuse the router's heaps."""
    clock = FakeClock()
    async with gateway(channels=CHANNELS, clock=clock) as client:
        for _ in range(3):
            await client.login("c", ["webchat"])
            assert (await client.http.post("/agents/c/logout")).json()["state"] == "gone"
        status = await client.login("c", ["webchat", "vip"], max_chats=2)
        assert status["state"] == "active" and status["skills"] == ["webchat", "vip"]
        cid = (await client.webchat("s1", "hi")).json()["conversation_ids"][0]
        assert await client.assigned("c") == [cid]
