"""Outbound: each platform's send format, retries, ordering, and the webchat long-poll."""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from typing import Any

import httpx
import pytest
from gateway_helpers import (
    CONFIG,
    Client,
    Platform,
    gateway,
    tg_update,
    vb_message,
    wa_message,
)

from sim.gateway import GatewayConfig
from sim.gateway.outbound import retry_after_seconds

pytestmark = pytest.mark.anyio


async def settle(client: Client, timeout: float = 3.0) -> None:
    """Wait until the outbox is empty."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while client.gateway.outbox.pending() and loop.time() < deadline:
        await asyncio.sleep(0.005)
    assert client.gateway.outbox.pending() == 0


async def converse(client: Client, send: Any, skills: list[str], text: str) -> str:
    await client.login("a1", skills)
    response = await send
    assert response.status_code == 200, response.text
    (cid,) = response.json()["conversation_ids"]
    assert (await client.reply(cid, "a1", text)).status_code == 202
    await settle(client)
    return str(cid)


async def test_whatsapp_send_format():
    platform = Platform(
        responses=[
            httpx.Response(
                200,
                json={
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": "79161234567"}],
                    "messages": [{"id": "wamid.OUT1"}],
                },
            )
        ]
    )
    async with gateway(platform=platform) as client:
        cid = await converse(
            client,
            client.whatsapp(wa_message(phone_number_id="PNID-7")),
            ["whatsapp"],
            "Здравствуйте, Анна!",
        )
        (call,) = platform.calls
        assert call.method == "POST"
        assert str(call.url) == "http://127.0.0.1:8081/v21.0/PNID-7/messages"
        assert call.headers["authorization"] == f"Bearer {CONFIG.whatsapp_token}"
        assert call.headers["content-type"] == "application/json"
        assert json.loads(call.content) == {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "79161234567",
            "type": "text",
            "text": {"body": "Здравствуйте, Анна!"},
        }
        reply = (await client.conversation(cid))["messages"][-1]
        assert reply["sender"] == "agent"
        stored = client.service.store.messages(cid)[-1]
        assert (stored.delivery, stored.platform_id) == ("sent", "wamid.OUT1")


async def test_telegram_send_format():
    platform = Platform()
    config = GatewayConfig(telegram_api_base="http://tg.test/", telegram_bot_token="123:ABC")
    async with gateway(config=config, platform=platform) as client:
        await converse(client, client.telegram(tg_update(chat_id=555)), ["telegram"], "Ответ")
        (call,) = platform.calls
        assert str(call.url) == "http://tg.test/bot123:ABC/sendMessage"
        assert json.loads(call.content) == {"chat_id": 555, "text": "Ответ"}


async def test_viber_send_format():
    platform = Platform()
    config = GatewayConfig(
        viber_api_base="http://viber.test", viber_auth_token="vb-token", viber_sender_name="Tele2"
    )
    async with gateway(config=config, platform=platform) as client:
        await converse(client, client.viber(vb_message(sender="XyZ==")), ["viber"], "Hi John")
        (call,) = platform.calls
        assert str(call.url) == "http://viber.test/pa/send_message"
        assert call.headers["x-viber-auth-token"] == "vb-token"
        assert json.loads(call.content) == {
            "receiver": "XyZ==",
            "type": "text",
            "text": "Hi John",
            "sender": {"name": "Tele2"},
        }


async def test_webchat_reply_reaches_the_long_poll():
    async with gateway() as client:
        await client.login("a1", ["webchat"])
        cid = (await client.webchat("sess-1", "hi")).json()["conversation_ids"][0]

        async def poll() -> list[Any]:
            response = await client.http.get(
                "/webchat/sess-1/messages", params={"after": 0, "timeout": 5}
            )
            return list(response.json())

        async def answer() -> None:
            await asyncio.sleep(0.05)
            await client.reply(cid, "a1", "first")
            await client.reply(cid, "a1", "second")

        messages, _ = await asyncio.gather(poll(), answer())
        assert messages and messages[0]["text"] == "first"  # the poll woke on the first reply
        assert messages[0]["index"] == 1 and messages[0]["conversation_id"] == cid
        seen = messages[-1]["index"]
        rest = (await client.http.get("/webchat/sess-1/messages", params={"after": seen})).json()
        both = [(m["index"], m["text"]) for m in messages + rest]
        assert both == [(1, "first"), (2, "second")]
        tail = (await client.http.get("/webchat/sess-1/messages", params={"after": 1})).json()
        assert [m["text"] for m in tail] == ["second"]
        empty = await client.http.get(
            "/webchat/sess-1/messages", params={"after": 2, "timeout": 0.05}
        )
        assert empty.json() == []


async def test_retries_on_5xx_and_connection_errors_then_succeeds():
    platform = Platform(
        responses=[
            httpx.Response(503),
            httpx.ConnectError("refused"),
            httpx.Response(502),
        ]
    )
    async with gateway(platform=platform) as client:
        cid = await converse(client, client.whatsapp(wa_message()), ["whatsapp"], "x")
        assert len(platform.calls) == 4
        assert len({call.content for call in platform.calls}) == 1
        assert client.service.store.messages(cid)[-1].delivery == "sent"
        metrics = (await client.http.get("/metrics")).text
        assert 'chatsim_gateway_outbound_retries_total{channel="whatsapp"} 3.0' in metrics
        assert "chatsim_gateway_outbound_failures_total{" not in metrics


async def test_gives_up_after_bounded_attempts_and_counts_the_failure():
    platform = Platform(responses=[httpx.Response(500)] * 10)
    config = GatewayConfig(outbound_attempts=3, outbound_backoff=0.01)
    async with gateway(config=config, platform=platform) as client:
        cid = await converse(client, client.whatsapp(wa_message()), ["whatsapp"], "x")
        assert len(platform.calls) == 3
        assert client.service.store.messages(cid)[-1].delivery == "failed"
        metrics = (await client.http.get("/metrics")).text
        assert (
            'chatsim_gateway_outbound_failures_total{channel="whatsapp",reason="http_500"} 1.0'
            in metrics
        )
        # the gateway goes on: the next reply is delivered
        assert (await client.reply(cid, "a1", "y")).status_code == 202
        await settle(client)
        assert json.loads(platform.calls[-1].content)["text"]["body"] == "y"


async def test_client_errors_are_not_retried():
    platform = Platform(
        responses=[
            httpx.Response(400, json={"error": {"code": 131030}}),
            httpx.Response(200, json={"status": 6, "status_message": "notSubscribed"}),
        ]
    )
    async with gateway(platform=platform) as client:
        await client.login("a1", ["whatsapp", "viber"], max_chats=2)
        wa = (await client.whatsapp(wa_message())).json()["conversation_ids"][0]
        vb = (await client.viber(vb_message())).json()["conversation_ids"][0]
        await client.reply(wa, "a1")
        await settle(client)
        await client.reply(vb, "a1")
        await settle(client)
        assert len(platform.calls) == 2
        assert client.service.store.messages(wa)[-1].delivery == "failed"
        assert client.service.store.messages(vb)[-1].delivery == "failed"
        metrics = (await client.http.get("/metrics")).text
        assert 'reason="http_400"' in metrics and 'reason="viber_status_6"' in metrics


async def test_order_is_kept_per_conversation_and_reply_returns_quickly():
    release = asyncio.Event()
    seen: list[tuple[str, str]] = []

    async def slow_platform(request: httpx.Request) -> httpx.Response:
        body = json.loads(await request.aread())
        if body["text"]["body"] == "1" and not release.is_set():
            await release.wait()  # the first reply of conversation A is slow
        seen.append((body["to"], body["text"]["body"]))
        return httpx.Response(200, json={})

    config = GatewayConfig(outbound_backoff=0.0)
    from sim.gateway import create_app

    app = create_app(config, transport=httpx.MockTransport(slow_platform))
    async with app.router.lifespan_context(app):
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
        async with http:
            client = Client(http, config, app)
            await client.login("a1", ["whatsapp"], max_chats=2)
            a = (await client.whatsapp(wa_message(wa_id="A", msg_id="m1"))).json()
            b = (await client.whatsapp(wa_message(wa_id="B", msg_id="m2"))).json()
            cid_a, cid_b = a["conversation_ids"][0], b["conversation_ids"][0]
            for text in ("1", "2", "3"):
                response = await asyncio.wait_for(client.reply(cid_a, "a1", text), 1.0)
                assert response.status_code == 202
            await client.reply(cid_b, "a1", "b1")
            await asyncio.sleep(0.05)
            assert seen == [("B", "b1")]  # B is not held up by A's slow first reply
            release.set()
            await settle(client)
            assert seen == [("B", "b1"), ("A", "1"), ("A", "2"), ("A", "3")]


# -- bounded outbox: back-pressure, Retry-After, order after a failure, delivery states -------


async def test_a_full_outbox_answers_503_with_retry_after_and_stores_nothing():
    release = asyncio.Event()

    async def held(request: httpx.Request) -> httpx.Response:
        await release.wait()
        return httpx.Response(200, json={})

    config = GatewayConfig(outbound_queue_limit=2, outbound_backoff=0.0)
    from sim.gateway import create_app

    app = create_app(config, transport=httpx.MockTransport(held))
    async with app.router.lifespan_context(app):
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
        async with http:
            client = Client(http, config, app)
            await client.login("a1", ["whatsapp"])
            cid = (await client.whatsapp(wa_message())).json()["conversation_ids"][0]
            assert (await client.reply(cid, "a1", "1")).status_code == 202
            assert (await client.reply(cid, "a1", "2")).status_code == 202
            refused = await http.post(
                f"/conversations/{cid}/reply", json={"agent_id": "a1", "text": "3", "id": "k3"}
            )
            assert refused.status_code == 503
            assert refused.headers["retry-after"] == "1"
            assert refused.json()["error"] == "outbox_full"
            assert "limit 2" in refused.json()["detail"]
            assert len((await client.conversation(cid))["messages"]) == 3  # 1 customer + 2
            metrics = (await http.get("/metrics")).text
            assert 'chatsim_gateway_outbound_rejected_total{channel="whatsapp"} 1.0' in metrics
            assert "chatsim_gateway_outbound_depth 2.0" in metrics
            release.set()
            await settle(client)
            # the refused reply's idempotency key was not claimed: its retry is a new reply
            again = await http.post(
                f"/conversations/{cid}/reply", json={"agent_id": "a1", "text": "3", "id": "k3"}
            )
            assert (again.status_code, again.json()["status"]) == (202, "queued")
            await settle(client)
            states = [m["delivery"] for m in (await client.conversation(cid))["messages"]]
            assert states == [None, "sent", "sent", "sent"]


async def test_retry_after_seconds_is_honoured():
    """A 429 with ``Retry-After: 1``: the retry comes no sooner than 1 s later (asyncio timers
    may fire up to the clock resolution early, hence 0.99), and not much later (< 1.5 s)."""
    platform = Platform(responses=[httpx.Response(429, headers={"Retry-After": "1"})])
    times: list[float] = []

    def timed(request: httpx.Request) -> httpx.Response:
        times.append(time.monotonic())
        return platform.handler(request)

    config = GatewayConfig(outbound_backoff=0.0)
    from sim.gateway import create_app

    app = create_app(config, transport=httpx.MockTransport(timed))
    async with app.router.lifespan_context(app):
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
        async with http:
            client = Client(http, config, app)
            await client.login("a1", ["whatsapp"])
            cid = (await client.whatsapp(wa_message())).json()["conversation_ids"][0]
            await client.reply(cid, "a1", "x")
            await settle(client, timeout=5)
            assert len(times) == 2
            assert 0.99 <= times[1] - times[0] < 1.5
            message = (await http.get(f"/conversations/{cid}/messages/2")).json()
            assert (message["delivery"], message["attempts"]) == ("sent", 2)


def test_retry_after_reads_seconds_and_http_dates():
    now = 1_700_000_000.0
    assert retry_after_seconds("3", now) == 3.0
    assert retry_after_seconds(" 0 ", now) == 0.0
    date = email.utils.formatdate(now + 7, usegmt=True)
    assert retry_after_seconds(date, now) == pytest.approx(7.0)
    assert retry_after_seconds(email.utils.formatdate(now - 60, usegmt=True), now) == 0.0
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


async def test_a_retry_after_over_a_minute_gives_the_reply_up():
    platform = Platform(responses=[httpx.Response(503, headers={"Retry-After": "3600"})])
    async with gateway(platform=platform) as client:
        cid = await converse(client, client.whatsapp(wa_message()), ["whatsapp"], "x")
        reply = (await client.conversation(cid))["messages"][-1]
        assert (reply["delivery"], reply["delivery_error"]) == ("failed", "retry_after_too_long")
        assert len(platform.calls) == 1


async def test_waiting_for_a_pool_connection_is_not_an_attempt():
    platform = Platform(responses=[httpx.PoolTimeout("no connection"), httpx.PoolTimeout("no")])
    config = GatewayConfig(outbound_attempts=1, outbound_backoff=0.0)
    async with gateway(config=config, platform=platform) as client:
        cid = await converse(client, client.whatsapp(wa_message()), ["whatsapp"], "x")
        reply = (await client.conversation(cid))["messages"][-1]
        assert (reply["delivery"], reply["attempts"]) == ("sent", 1)
        assert len(platform.calls) == 3  # two waits, then the one attempt allowed


async def test_the_client_pool_matches_the_workers_and_has_no_pool_timeout():
    from sim.gateway.metrics import GatewayMetrics
    from sim.gateway.outbound import Outbox
    from sim.gateway.store import MemoryStore

    config = GatewayConfig(outbound_concurrency=19, outbound_timeout=2.5)
    outbox = Outbox(config, GatewayMetrics(), MemoryStore())  # httpx's own transport
    sizes = []
    for http in outbox.clients:  # SHARD (8) workers per client
        assert http.timeout.pool is None
        assert (http.timeout.connect, http.timeout.read, http.timeout.write) == (2.5, 2.5, 2.5)
        pool = http._transport._pool  # type: ignore[attr-defined]
        assert pool._max_connections == pool._max_keepalive_connections
        sizes.append(pool._max_connections)
    assert sizes == [8, 8, 3]
    await outbox.aclose()


async def test_replies_behind_a_failed_one_fail_with_it_and_the_agent_is_told():
    """Reply 1 is refused (400) while 2 and 3 wait behind it: 2 and 3 fail as
    ``earlier_failed`` and never reach the platform; reply 4, accepted after the failure was
    decided, is sent. The agent gets one ``delivery`` event per failed reply."""
    release = asyncio.Event()
    seen: list[str] = []

    async def refuse_first(request: httpx.Request) -> httpx.Response:
        text = json.loads(await request.aread())["text"]["body"]
        seen.append(text)
        if text == "1":
            await release.wait()
            return httpx.Response(400, json={"error": {"code": 131026}})
        return httpx.Response(200, json={"messages": [{"id": f"wamid.{text}"}]})

    config = GatewayConfig(outbound_backoff=0.0)
    from sim.gateway import create_app

    app = create_app(config, transport=httpx.MockTransport(refuse_first))
    async with app.router.lifespan_context(app):
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
        async with http:
            client = Client(http, config, app)
            await client.login("a1", ["whatsapp"])
            cid = (await client.whatsapp(wa_message())).json()["conversation_ids"][0]
            seq = (await client.events("a1"))[-1]["seq"]
            for text in ("1", "2", "3"):
                await client.reply(cid, "a1", text)
            await asyncio.sleep(0.02)
            queued = (await http.get(f"/conversations/{cid}/messages/3")).json()
            assert (queued["delivery"], queued["delivery_error"]) == ("queued", None)
            release.set()
            await settle(client)
            await client.reply(cid, "a1", "4")
            await settle(client)
            assert seen == ["1", "4"]
            replies = (await client.conversation(cid))["messages"][1:]
            assert [(m["delivery"], m["delivery_error"]) for m in replies] == [
                ("failed", "http_400"),
                ("failed", "earlier_failed"),
                ("failed", "earlier_failed"),
                ("sent", None),
            ]
            events = await client.events("a1", after=seq)
            assert [(e["type"], e["index"], e["reason"]) for e in events] == [
                ("delivery", 2, "http_400"),
                ("delivery", 3, "earlier_failed"),
                ("delivery", 4, "earlier_failed"),
            ]
            missing = await http.get(f"/conversations/{cid}/messages/9")
            assert (missing.status_code, missing.json()["error"]) == (404, "unknown_message")


def test_backoff_is_exponential_with_full_jitter():
    from sim.gateway.metrics import GatewayMetrics
    from sim.gateway.outbound import MAX_BACKOFF, Outbox
    from sim.gateway.store import MemoryStore

    outbox = Outbox(
        GatewayConfig(outbound_backoff=0.1), GatewayMetrics(), MemoryStore(), rng=random.Random(3)
    )
    for retry, ceiling in ((1, 0.1), (2, 0.2), (3, 0.4), (10, MAX_BACKOFF)):
        draws = [outbox._backoff(retry) for _ in range(2000)]
        assert min(draws) >= 0.0 and max(draws) <= ceiling
        # uniform on [0, ceiling]: the mean within 5% of ceiling/2 (sd of the mean ~0.65%)
        assert abs(sum(draws) / len(draws) - ceiling / 2) < 0.05 * ceiling
