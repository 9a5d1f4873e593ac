"""Inbound webhooks: each platform's format and signature, idempotency, and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from gateway_helpers import (
    CONFIG,
    Client,
    dumps,
    gateway,
    tg_update,
    vb_event,
    vb_message,
    wa_message,
    wa_status,
)

from sim.protocols import viber_signature, whatsapp_signature

pytestmark = pytest.mark.anyio


async def snapshot(client: Client) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    service = client.service
    return {
        "queued": service.router.waiting(),
        "conversations": len(service.store._conversations),
        "events": {a: len(service.store.events_after(a, 0)) for a in service.agents},
        "keys": len(service.store._keys),
        "statuses": len(service.store.statuses()),
    }


async def history(client: Client, agent: str) -> list[dict[str, Any]]:
    (event,) = await client.events(agent)
    assert event["type"] == "assigned"
    return list(event["messages"])


# -- WhatsApp ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected_kind", "text", "media"),
    [
        ("text", "text", "Здравствуйте", None),
        ("image", "image", "фото роутера", "1479537139650973"),
        ("sticker", "sticker", "", "2345432345"),
    ],
)
async def test_whatsapp_messages_of_each_type(kind, expected_kind, text, media):
    async with gateway() as client:
        await client.login("a1", ["whatsapp"])
        response = await client.whatsapp(wa_message(kind=kind, text=text))
        assert response.status_code == 200, response.text
        assert response.json()["messages"] == 1
        (event,) = await client.events("a1")
        assert event["customer"] == {"id": "79161234567", "name": "Анна Смирнова"}
        assert event["channel"] == "whatsapp"
        (message,) = event["messages"]
        assert (message["kind"], message["native_type"]) == (expected_kind, kind)
        assert (message["text"], message["media"]) == (text, media)


async def test_whatsapp_statuses_are_recorded_not_messages():
    async with gateway() as client:
        response = await client.whatsapp(wa_status(status="read"))
        assert response.status_code == 200
        assert response.json()["statuses"] == 1 and response.json()["messages"] == 0
        assert client.service.router.waiting() == 0
        (status,) = client.service.store.statuses()
        assert (status.protocol, status.message_id, status.status) == (
            "whatsapp",
            "wamid.out",
            "read",
        )
        retried = await client.whatsapp(wa_status(status="read"))  # the platform's retry
        assert retried.json()["statuses"] == 0 and retried.json()["duplicates"] == 1
        await client.whatsapp(wa_status(status="delivered"))  # a new status of that message
        assert len(client.service.store.statuses()) == 2


async def test_whatsapp_reactions_and_other_fields_are_ignored():
    async with gateway() as client:
        response = await client.whatsapp(wa_message(kind="reaction"))
        assert response.json()["ignored"] == 1
        other = {
            "object": "whatsapp_business_account",
            "entry": [
                {
                    "id": "1",
                    "changes": [{"field": "account_update", "value": {"event": "VERIFIED"}}],
                }
            ],
        }
        response = await client.whatsapp(other)
        assert response.status_code == 200 and response.json()["ignored"] == 1
        assert client.service.router.waiting() == 0


async def test_whatsapp_signature_missing_or_wrong():
    async with gateway() as client:
        before = await snapshot(client)
        assert (await client.whatsapp(wa_message(), signature=None)).status_code == 401
        wrong = whatsapp_signature("not-the-secret", dumps(wa_message()))
        response = await client.whatsapp(wa_message(), signature=wrong)
        assert response.status_code == 403
        assert response.json()["error"] == "bad_signature"
        assert await snapshot(client) == before


async def test_whatsapp_subscription_handshake():
    async with gateway() as client:
        params = {
            "hub.mode": "subscribe",
            "hub.verify_token": CONFIG.whatsapp_verify_token,
            "hub.challenge": "1158201444",
        }
        response = await client.http.get("/webhooks/whatsapp", params=params)
        assert response.status_code == 200
        assert response.text == "1158201444"
        assert response.headers["content-type"].startswith("text/plain")
        bad = await client.http.get(
            "/webhooks/whatsapp", params={**params, "hub.verify_token": "x"}
        )
        assert bad.status_code == 403
        bad = await client.http.get("/webhooks/whatsapp", params={**params, "hub.mode": "x"})
        assert bad.status_code == 400
        assert (await client.http.get("/webhooks/telegram")).status_code == 405


# -- Telegram ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected", "text", "media"),
    [
        ("text", ("text", "text"), "Привет", None),
        ("photo", ("image", "photo"), "вот скриншот", "AgAD-large"),
        ("sticker", ("sticker", "sticker"), "😀", "CAACAgIAAxk"),
    ],
)
async def test_telegram_messages_of_each_type(kind, expected, text, media):
    async with gateway() as client:
        await client.login("a1", ["telegram"])
        response = await client.telegram(tg_update(kind=kind, text=text))
        assert response.status_code == 200, response.text
        (event,) = await client.events("a1")
        assert event["customer"] == {"id": "1111111", "name": "Иван Петров"}
        (message,) = event["messages"]
        assert (message["kind"], message["native_type"]) == expected
        assert (message["text"], message["media"]) == (text, media)


async def test_telegram_edits_without_a_conversation_and_other_updates_are_ignored():
    async with gateway() as client:
        for update in (
            tg_update(update_id=1, edited=True),
            {"update_id": 3, "my_chat_member": {"chat": {"id": 1, "type": "private"}}},
        ):
            response = await client.telegram(update)
            assert response.status_code == 200, response.text
            assert response.json()["ignored"] == 1
        assert client.service.router.waiting() == 0


async def test_telegram_secret_token_missing_or_wrong():
    async with gateway() as client:
        before = await snapshot(client)
        assert (await client.telegram(tg_update(), token=None)).status_code == 401
        assert (await client.telegram(tg_update(), token="guess")).status_code == 403
        assert await snapshot(client) == before


# -- Viber -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected_kind", "media"),
    [
        ("text", "text", None),
        ("picture", "image", "http://www.images.com/img.jpg"),
        ("sticker", "sticker", "46105"),
    ],
)
async def test_viber_messages_of_each_type(kind, expected_kind, media):
    async with gateway() as client:
        await client.login("a1", ["viber"])
        response = await client.viber(vb_message(kind=kind))
        assert response.status_code == 200, response.text
        (event,) = await client.events("a1")
        assert event["customer"] == {"id": "01234567890A=", "name": "John McClane"}
        (message,) = event["messages"]
        assert (message["kind"], message["native_type"], message["media"]) == (
            expected_kind,
            kind,
            media,
        )


async def test_viber_service_events():
    async with gateway() as client:
        for name in ("webhook", "conversation_started", "subscribed", "unsubscribed"):
            response = await client.viber(vb_event(name))
            assert response.status_code == 200 and response.json()["ignored"] == 1, name
        for name in ("delivered", "seen"):
            response = await client.viber(vb_event(name))
            assert response.status_code == 200 and response.json()["statuses"] == 1, name
        assert [s.status for s in client.service.store.statuses()] == ["delivered", "seen"]
        assert client.service.router.waiting() == 0


async def test_viber_signature_missing_or_wrong():
    async with gateway() as client:
        before = await snapshot(client)
        assert (await client.viber(vb_message(), signature=None)).status_code == 401
        wrong = viber_signature("other-token", dumps(vb_message()))
        assert (await client.viber(vb_message(), signature=wrong)).status_code == 403
        assert await snapshot(client) == before


# -- webchat -----------------------------------------------------------------------------------


async def test_webchat_channels_share_the_protocol():
    channels = {"webchat": ("webchat", 0), "app": ("webchat", 1), "retail": ("webchat", 0)}
    async with gateway(channels=channels) as client:
        await client.login("a1", ["app"])
        await client.login("a2", ["retail"])
        await client.login("a3", ["webchat"])
        assert (await client.webchat("s1", "из приложения", channel="app")).status_code == 200
        assert (await client.webchat("s2", "из салона", channel="retail")).status_code == 200
        assert (await client.webchat("s3", "с сайта")).status_code == 200
        # the route by path works too
        assert (
            await client.http.post("/webhooks/retail", json={"session": "s4", "text": "x"})
        ).status_code == 200
        assert [e["channel"] for e in await client.events("a1")] == ["app"]
        assert [e["channel"] for e in await client.events("a2")] == ["retail"]
        assert [e["channel"] for e in await client.events("a3")] == ["webchat"]
        assert client.service.router.waiting("retail") == 1


async def test_webchat_image_and_sticker():
    async with gateway() as client:
        await client.login("a1", ["webchat"], max_chats=2)
        await client.webchat("s1", type="image", media="https://example.org/p.png")
        await client.webchat("s2", type="sticker", media="sticker-1")
        kinds = [e["messages"][0]["kind"] for e in await client.events("a1")]
        assert kinds == ["image", "sticker"]


# -- idempotency --------------------------------------------------------------------------------


async def test_platform_retries_are_not_second_messages():
    async with gateway() as client:
        await client.login("a1", ["whatsapp", "telegram", "viber", "webchat"], max_chats=4)
        for _ in range(2):
            assert (await client.whatsapp(wa_message(msg_id="wamid.same"))).status_code == 200
            assert (await client.telegram(tg_update(update_id=42))).status_code == 200
            assert (await client.viber(vb_message(token=77))).status_code == 200
            assert (await client.webchat("s1", "hi", id="m-1")).status_code == 200
        events = await client.events("a1")
        assert len(events) == 4
        assert all(len(event["messages"]) == 1 for event in events)
        # without an id, a repeated webchat text is a new message
        await client.webchat("s1", "hi")
        (event,) = await client.events("a1")
        assert event["type"] == "message"


async def test_duplicate_is_reported_in_the_answer():
    async with gateway() as client:
        first = await client.whatsapp(wa_message(msg_id="wamid.dup"))
        second = await client.whatsapp(wa_message(msg_id="wamid.dup"))
        assert first.json()["messages"] == 1 and first.json()["duplicates"] == 0
        assert second.json()["messages"] == 0 and second.json()["duplicates"] == 1
        assert client.service.router.waiting() == 1


# -- bad input ----------------------------------------------------------------------------------


async def test_malformed_json_is_400_and_changes_nothing():
    async with gateway() as client:
        await client.login("a1", ["whatsapp", "viber", "telegram", "webchat"], max_chats=4)
        before = await snapshot(client)
        body = b'{"object": "whatsapp_business_account", "entry": ['
        response = await client.http.post(
            "/webhooks/whatsapp",
            content=body,
            headers={"X-Hub-Signature-256": whatsapp_signature(CONFIG.whatsapp_app_secret, body)},
        )
        assert response.status_code == 400
        assert response.json() == {
            "error": "malformed_json",
            "detail": "request body is not valid JSON",
        }
        response = await client.http.post(
            "/webhooks/viber",
            content=b"not json",
            headers={
                "X-Viber-Content-Signature": viber_signature(CONFIG.viber_auth_token, b"not json")
            },
        )
        assert response.status_code == 400
        response = await client.http.post("/webhooks/webchat", content=b"{'session': 1}")
        assert response.status_code == 400
        assert await snapshot(client) == before


@pytest.mark.parametrize(
    "payload",
    [
        {"object": "whatsapp_business_account"},
        {
            "object": "x",
            "entry": [{"changes": [{"field": "messages", "value": {"messages": [{"id": "m"}]}}]}],
        },
        wa_message() | {"entry": "nope"},
    ],
)
async def test_whatsapp_wrong_shape_is_400(payload):
    async with gateway() as client:
        before = await snapshot(client)
        response = await client.whatsapp(payload)
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_payload"
        assert response.json()["detail"]
        assert await snapshot(client) == before


async def test_webchat_wrong_shape_is_4xx():
    async with gateway() as client:
        before = await snapshot(client)
        for payload in (
            {"text": "no session"},
            {"session": "s1"},
            {"session": "s1", "text": ""},
            {"session": "s1", "text": "x", "event": "close"},
            {"session": "s1", "event": "explode"},
            [1, 2],
        ):
            response = await client.http.post("/webhooks/webchat", json=payload)
            assert 400 <= response.status_code < 500, payload
            assert set(response.json()) >= {"error", "detail"}
        assert await snapshot(client) == before


async def test_unknown_channel_is_404():
    channels = {"whatsapp": ("whatsapp", 0), "app": ("webchat", 0)}
    async with gateway(channels=channels) as client:
        before = await snapshot(client)
        assert (await client.http.post("/webhooks/line", json={})).status_code == 404
        assert (await client.telegram(tg_update())).status_code == 404  # no telegram channel
        response = await client.webchat("s1", "hi", channel="retail")
        assert response.status_code == 404
        assert response.json()["error"] == "unknown_channel"
        # whatsapp is a channel but not a webchat one
        assert (await client.webchat("s1", "hi", channel="whatsapp")).status_code == 404
        assert await snapshot(client) == before
        # webchat without a channel field goes to the first webchat-protocol channel
        assert (await client.webchat("s1", "hi")).status_code == 200
        assert client.service.router.waiting("app") == 1


async def test_oversized_body_is_413():
    config = CONFIG.__class__(max_body_bytes=2048, store=":memory:")
    async with gateway(config=config) as client:
        before = await snapshot(client)
        big = wa_message(text="x" * 4096)
        response = await client.whatsapp(big)
        assert response.status_code == 413
        assert response.json()["error"] == "body_too_large"

        async def chunks():  # no Content-Length: the limit applies while reading
            for _ in range(10):
                yield b"x" * 512

        response = await client.http.post("/webhooks/webchat", content=chunks())
        assert response.status_code == 413
        assert await snapshot(client) == before
        assert (await client.whatsapp(wa_message(text="small"))).status_code == 200
