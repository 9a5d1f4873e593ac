"""Outbound: each platform's send format, retries, ordering, and the webchat long-poll."""

from __future__ import annotations

import asyncio
import json
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
