"""The provider emulator answers like WhatsApp, Telegram and Viber and delivers each message."""

from __future__ import annotations

import httpx
import pytest

from sim.gateway.config import GatewayConfig
from sim.gateway.outbound import build_request
from sim.loadtest.emulator import Outbound, ProviderEmulator

CONFIG = GatewayConfig()


@pytest.fixture
def emulator():
    delivered: list[Outbound] = []
    app = ProviderEmulator(CONFIG.credentials, delivered.append, clock=lambda: 123.5)
    client = httpx.Client(transport=httpx.WSGITransport(app=app), base_url="http://emulator")
    return app, client, delivered


def test_whatsapp_send(emulator):
    app, client, delivered = emulator
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": "79161234567",
        "type": "text",
        "text": {"body": "Здравствуйте"},
    }
    response = client.post(
        "/v21.0/106540352242922/messages",
        json=body,
        headers={"Authorization": f"Bearer {CONFIG.whatsapp_token}"},
    )
    assert response.status_code == 200
    assert response.json()["messages"][0]["id"].startswith("wamid.")
    assert delivered == [Outbound("whatsapp:79161234567", "Здравствуйте", 123.5)]
    assert (
        client.post(
            "/v21.0/1/messages", json=body, headers={"Authorization": "Bearer wrong"}
        ).status_code
        == 401
    )
    assert len(delivered) == 1 and app.rejected == 1


def test_telegram_send(emulator):
    _, client, delivered = emulator
    response = client.post(
        f"/bot{CONFIG.telegram_bot_token}/sendMessage", json={"chat_id": 123456789, "text": "hi"}
    )
    assert response.status_code == 200 and response.json()["ok"] is True
    assert response.json()["result"]["chat"]["id"] == 123456789
    assert delivered[0].key == "telegram:123456789"
    assert client.post("/botWRONG/sendMessage", json={"chat_id": 1, "text": "x"}).status_code == 401


def test_viber_send(emulator):
    _, client, delivered = emulator
    body = {
        "receiver": "gHgt0wr4WAr5CQJ2tAqeKg==",
        "type": "text",
        "text": "hi",
        "sender": {"name": "chatsim"},
    }
    response = client.post(
        "/pa/send_message", json=body, headers={"X-Viber-Auth-Token": CONFIG.viber_auth_token}
    )
    assert response.json()["status"] == 0 and delivered[0].key == "viber:gHgt0wr4WAr5CQJ2tAqeKg=="
    assert (
        client.post("/pa/send_message", json=body, headers={"X-Viber-Auth-Token": "no"}).json()[
            "status"
        ]
        == 2
    )


def test_bad_requests_deliver_nothing(emulator):
    app, client, delivered = emulator
    assert (
        client.post(
            "/pa/send_message",
            content=b"{not json",
            headers={"X-Viber-Auth-Token": CONFIG.viber_auth_token},
        ).status_code
        == 400
    )
    assert client.post("/nowhere", json={}).status_code == 404
    assert client.get("/pa/send_message").status_code == 405
    assert delivered == [] and app.received == 0


@pytest.mark.parametrize(
    "protocol, address",
    [
        ("whatsapp", {"wa_id": "79160000000", "phone_number_id": "42"}),
        ("telegram", {"chat_id": 77}),
        ("viber", {"receiver": "abc=="}),
    ],
)
def test_accepts_what_the_gateway_sends(emulator, protocol, address):
    """The gateway's own outbound requests (sim.gateway.outbound) land on the right customer."""
    _, client, delivered = emulator
    config = GatewayConfig(
        whatsapp_api_base="http://emulator",
        telegram_api_base="http://emulator",
        viber_api_base="http://emulator",
    )
    url, headers, body = build_request(config, protocol, address, "Ответ")
    response = client.post(url, headers=headers, json=body)
    assert response.status_code == 200
    assert delivered[0].text == "Ответ"
