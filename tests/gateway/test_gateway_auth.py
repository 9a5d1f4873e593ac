"""Who may call what (sim.gateway.auth): the desk key logs agents in, each agent acts with its
own session token on its own conversations and events only, a webchat session's secret guards
its later messages, its close and its long-poll, the ops key guards metrics and docs. A refused
call is 401/403 and changes nothing."""

from __future__ import annotations

import pytest
from gateway_helpers import CONFIG, gateway, wa_message
from hypothesis import given
from hypothesis import strategies as st

from sim.gateway import GatewayConfig
from sim.gateway.auth import Sessions

pytestmark = pytest.mark.anyio
CHANNELS = {"whatsapp": ("whatsapp", 0), "webchat": ("webchat", 0)}


def bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def test_only_the_desk_key_logs_agents_in():
    async with gateway(channels=CHANNELS) as client:
        body = {"agent_id": "a1", "skills": ["whatsapp"], "max_chats": 1}
        missing = await client.http.post("/agents/login", json=body, headers=bearer(""))
        wrong = await client.http.post("/agents/login", json=body, headers=bearer("guess"))
        assert (missing.status_code, wrong.status_code) == (401, 403)
        await client.login("a2", ["whatsapp"])
        as_agent = await client.http.post("/agents/login", json=body, headers=client.as_agent("a2"))
        assert as_agent.status_code == 403 and as_agent.json()["error"] == "desk_key_required"
        assert "a1" not in client.service.agents


async def test_an_agent_touches_only_its_own_conversations_and_events():
    async with gateway(channels=CHANNELS) as client:
        await client.login("a", ["whatsapp"])
        await client.login("b", ["whatsapp"])
        await client.whatsapp(wa_message(msg_id="m1", wa_id="1"))
        await client.whatsapp(wa_message(msg_id="m2", wa_id="2"))
        owner = {cid: name for name in "ab" for cid in client.service.agents[name].conversations}
        (b_cid,) = [cid for cid, name in owner.items() if name == "b"]
        before = await client.conversation(b_cid)
        # No credentials, another agent's token, the token with B's name in the body.
        anonymous = await client.http.get(f"/conversations/{b_cid}", headers=bearer(""))
        peek = await client.http.get(f"/conversations/{b_cid}", headers=client.as_agent("a"))
        as_b = await client.http.post(
            f"/conversations/{b_cid}/reply",
            json={"agent_id": "b", "text": "not mine"},
            headers=client.as_agent("a"),
        )
        hijack = await client.http.post(
            f"/conversations/{b_cid}/reply", json={"text": "mine?"}, headers=client.as_agent("a")
        )
        close = await client.http.post(
            f"/conversations/{b_cid}/close", headers=client.as_agent("a")
        )
        assert anonymous.status_code == 401
        assert [r.status_code for r in (peek, as_b, hijack, close)] == [403] * 4
        assert as_b.json()["error"] == "not_this_agent"
        assert hijack.json()["error"] == "not_your_conversation"
        # B's pending events cannot be read (nor acknowledged away) by A.
        stolen = await client.http.get(
            "/agents/b/events", params={"after": 10**15}, headers=client.as_agent("a")
        )
        assert stolen.status_code == 403
        assert await client.assigned("b") == [b_cid]
        assert await client.conversation(b_cid) == before
        own = await client.http.get(f"/conversations/{b_cid}", headers=client.as_agent("b"))
        assert own.status_code == 200
        reply = await client.http.post(
            f"/conversations/{b_cid}/reply", json={"text": "hi"}, headers=client.as_agent("b")
        )
        assert reply.status_code == 202  # agent_id may be left out: the token says who


async def test_logging_in_again_retires_the_old_token():
    async with gateway(channels=CHANNELS) as client:
        await client.login("a", ["whatsapp"])
        old = client.tokens["a"]
        await client.login("a", ["whatsapp"])
        stale = await client.http.get("/agents/a", headers=bearer(old))
        assert stale.status_code == 403
        assert (await client.http.get("/agents/a", headers=client.as_agent("a"))).status_code == 200


async def test_a_webchat_session_is_guarded_by_its_secret():
    async with gateway(channels=CHANNELS) as client:
        await client.login("a", ["webchat"])
        first = await client.webchat("s1", "hello")
        secret = first.json()["session_secret"]
        cid = first.json()["conversation_ids"][0]
        assert secret and client.secrets["s1"] == secret
        await client.reply(cid, "a", "answer")
        post = {"session": "s1", "text": "I am s1"}
        missing = await client.http.post(
            "/webhooks/webchat", json=post, headers={"X-Webchat-Secret": ""}
        )
        no_header = await client.http.post("/webhooks/webchat", json=post, auth=None)
        wrong = await client.http.post(
            "/webhooks/webchat", json=post, headers={"X-Webchat-Secret": "guess"}
        )
        assert (
            no_header.status_code == 401 and no_header.json()["error"] == "session_secret_required"
        )
        assert missing.status_code == 403 and wrong.status_code == 403
        close = {"session": "s1", "event": "close"}
        refused = await client.http.post(
            "/webhooks/webchat", json=close, headers={"X-Webchat-Secret": "guess"}
        )
        assert refused.status_code == 403
        conversation = await client.conversation(cid)
        assert conversation["state"] == "assigned" and len(conversation["messages"]) == 2
        # The long-poll: secret as a header or a query parameter.
        for headers, params in (({"X-Webchat-Secret": "guess"}, {}), ({}, {"secret": "guess"})):
            poll = await client.http.get(
                "/webchat/s1/messages", headers=headers, params=params, auth=None
            )
            assert poll.status_code == 403
        read = await client.http.get("/webchat/s1/messages", params={"secret": secret}, auth=None)
        assert [m["text"] for m in read.json()] == ["answer"]
        assert (await client.webchat("s1", "thanks")).status_code == 200
        assert (await client.webchat("s1", event="close")).status_code == 200
        assert (await client.conversation(cid))["state"] == "left"


async def test_a_close_cannot_open_a_session():
    async with gateway(channels=CHANNELS) as client:
        close = await client.http.post(
            "/webhooks/webchat", json={"session": "x", "event": "close"}, auth=None
        )
        assert close.status_code == 401
        assert (await client.webchat("x", "hi")).status_code == 200  # its owner can still start


async def test_the_ops_key_guards_metrics_and_docs():
    async with gateway(GatewayConfig(ops_key="ops-secret")) as client:
        for path in ("/metrics", "/docs", "/openapi.json"):
            assert (await client.http.get(path)).status_code == 401
            assert (await client.http.get(path, headers=bearer("nope"))).status_code == 403
            assert (await client.http.get(path, headers=bearer("ops-secret"))).status_code == 200
        assert (await client.http.get("/healthz")).status_code == 200  # liveness stays open
    async with gateway(CONFIG) as client:
        assert (await client.http.get("/metrics")).status_code == 200  # no ops key: open


def test_tokens_verify_after_a_restart_with_the_same_secret_only():
    token = Sessions("s3cret").issue("agent-1")
    assert Sessions("s3cret").agent_of(token) == "agent-1"
    assert Sessions("other").agent_of(token) is None


@given(st.text(max_size=200))
def test_any_string_is_a_token_of_nobody(text):
    assert Sessions("s3cret").agent_of(text) is None
