"""The provider emulator answers like WhatsApp, Telegram and Viber and delivers each message."""

from __future__ import annotations

import json

import httpx
import pytest

from sim.gateway.config import GatewayConfig
from sim.gateway.outbound import build_request
from sim.loadtest.emulator import Outbound, ProviderEmulator
from sim.loadtest.payloads import business_scoped_user_id

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


@pytest.mark.parametrize("version", ["v17.0", "v21.0", "v25.0", "v26.0", "v30"])
def test_whatsapp_send_by_business_scoped_id_on_any_graph_version(emulator, version):
    """pywa addresses a customer by ``recipient`` (the business-scoped id): the message is the
    customer's, whose number the id leads back to."""
    _, client, delivered = emulator
    bsuid = business_scoped_user_id("79161234567")
    body = {"messaging_product": "whatsapp", "recipient": bsuid, "type": "text"}
    response = client.post(
        f"/{version}/106540352242922/messages",
        json=body | {"text": {"body": "Ответ"}},
        headers={"Authorization": f"Bearer {CONFIG.whatsapp_token}"},
    )
    assert response.status_code == 200
    assert response.json()["contacts"] == [{"input": bsuid, "user_id": bsuid}]
    assert delivered == [Outbound("whatsapp:79161234567", "Ответ", 123.5)]


def test_whatsapp_refuses_an_unknown_recipient_or_none(emulator):
    app, client, delivered = emulator
    headers = {"Authorization": f"Bearer {CONFIG.whatsapp_token}"}
    base = {"messaging_product": "whatsapp", "type": "text", "text": {"body": "x"}}
    for extra in ({"recipient": "RU.123"}, {}):
        response = client.post("/v25.0/1/messages", json=base | extra, headers=headers)
        assert response.status_code == 400 and response.json()["error"]["code"] == 100
    assert delivered == [] and app.rejected == 2


def telegram_url(method: str) -> str:
    return f"/bot{CONFIG.telegram_bot_token}/{method}"


@pytest.mark.parametrize(
    "send",
    [
        pytest.param(lambda c: c.post(telegram_url("sendMessage"), json=PARAMS), id="json"),
        pytest.param(lambda c: c.post(telegram_url("sendMessage"), data=PARAMS), id="form"),
        pytest.param(lambda c: c.get(telegram_url("sendMessage"), params=PARAMS), id="query"),
        pytest.param(lambda c: c.post(telegram_url("sendmessage"), files=FIELDS), id="multipart"),
    ],
)
def test_telegram_send_message_takes_parameters_however_they_come(emulator, send):
    _, client, delivered = emulator
    response = send(client)
    assert response.status_code == 200, response.text
    message = response.json()["result"]
    assert (message["chat"]["id"], message["text"]) == (123456789, "Здравствуйте")
    assert message["from"]["is_bot"] is True and isinstance(message["message_id"], int)
    assert delivered == [Outbound("telegram:123456789", "Здравствуйте", 123.5)]


PARAMS = {"chat_id": "123456789", "text": "Здравствуйте"}
FIELDS = {name: (None, value) for name, value in PARAMS.items()}


def test_telegram_bot_methods(emulator):
    app, client, delivered = emulator
    me = client.get(telegram_url("getMe")).json()
    assert me["ok"] and me["result"]["is_bot"] and me["result"]["username"]
    assert client.post(telegram_url("setWebhook"), data={"url": "https://gw/tg"}).json() == {
        "ok": True,
        "result": True,
        "description": "Webhook was set",
    }
    assert client.get(telegram_url("getWebhookInfo")).json()["result"]["url"] == "https://gw/tg"
    assert client.post(telegram_url("deleteWebhook")).json()["result"] is True
    assert app.telegram_webhook == ""
    assert client.post(telegram_url("sendPhoto"), json={}).status_code == 404
    assert client.post(telegram_url("sendMessage"), json={"chat_id": 1}).status_code == 400
    assert client.get("/botWRONG/getMe").status_code == 401
    assert delivered == []


def test_viber_token_in_the_body_as_viberbot_sends_it(emulator):
    _, client, delivered = emulator
    body = {
        "receiver": "abc==",
        "type": "text",
        "text": "hi",
        "auth_token": CONFIG.viber_auth_token,
    }
    # viberbot posts a JSON string without a Content-Type
    answer = client.post("/pa/send_message", content=json.dumps(body).encode()).json()
    assert answer["status"] == 0 and delivered[0].key == "viber:abc=="
    wrong = client.post("/pa/send_message", json=body | {"auth_token": "no"}).json()
    assert wrong["status"] == 2 and len(delivered) == 1
    hook = {"url": "https://gw/viber", "auth_token": CONFIG.viber_auth_token}
    assert client.post("/pa/set_webhook", json=hook).json()["status"] == 0
    info = client.post("/pa/get_account_info", json={"auth_token": CONFIG.viber_auth_token})
    assert info.json()["webhook"] == "https://gw/viber"
