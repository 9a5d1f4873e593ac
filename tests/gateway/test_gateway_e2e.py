"""End to end: ``chatsim gateway`` as a real uvicorn process on loopback, a fake platform
receiving its outbound calls, one conversation through each protocol, then a clean stop."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_helpers import CallerAuth, dumps, tg_update, vb_message, wa_message
from livekit import LiveProcess, StubPlatform, chatsim_gateway, serve

from sim.protocols import PlatformCredentials, viber_signature, whatsapp_signature

DESK_KEY = PlatformCredentials().desk_key
SECRETS = {
    "CHATSIM_WHATSAPP_APP_SECRET": "e2e-wa-app-secret",
    "CHATSIM_WHATSAPP_VERIFY_TOKEN": "e2e-wa-verify",
    "CHATSIM_WHATSAPP_TOKEN": "e2e-wa-token",
    "CHATSIM_TELEGRAM_BOT_TOKEN": "4242:e2e-tg-bot-token",
    "CHATSIM_TELEGRAM_SECRET_TOKEN": "e2e-tg-secret",
    "CHATSIM_VIBER_AUTH_TOKEN": "e2e-viber-token",
}


@pytest.fixture
def platform() -> Iterator[tuple[StubPlatform, str]]:
    """The platforms' send APIs on loopback, recording every call: (stub, base URL)."""
    stub = StubPlatform()
    with serve(stub) as base:
        yield stub, base


@pytest.fixture
def gateway_process(platform: tuple[StubPlatform, str], tmp_path: Path) -> Iterator[LiveProcess]:
    """``chatsim gateway`` through the CLI's own entry point (python -m sim), sending to the
    stub, with debug logs and the access log on its stderr."""
    _, base = platform
    log = tmp_path / "gateway.log"
    with chatsim_gateway(log, "--access-log", env=SECRETS, platform=base, log_level="debug") as gw:
        yield gw


def assigned(http: httpx.Client, after: int) -> dict[str, Any]:
    response = http.get("/agents/e2e/events", params={"timeout": 5, "after": after})
    (event,) = response.json()
    assert event["type"] == "assigned"
    return dict(event)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_a_conversation_through_each_protocol(
    gateway_process: LiveProcess, platform: tuple[StubPlatform, str]
):
    stub, _ = platform
    process = gateway_process.process
    with httpx.Client(base_url=gateway_process.url, timeout=10, auth=CallerAuth(DESK_KEY)) as http:
        login = http.post(
            "/agents/login",
            json={
                "agent_id": "e2e",
                "skills": ["whatsapp", "telegram", "viber", "webchat"],
                "max_chats": 4,
            },
        )
        assert login.status_code == 200
        handshake = http.get(
            "/webhooks/whatsapp",
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": SECRETS["CHATSIM_WHATSAPP_VERIFY_TOKEN"],
                "hub.challenge": "ch-1",
            },
        )
        assert handshake.text == "ch-1"
        seq = 0
        conversations = []

        # WhatsApp
        body = dumps(wa_message(wa_id="79990001122", phone_number_id="PN-E2E"))
        sig = whatsapp_signature(SECRETS["CHATSIM_WHATSAPP_APP_SECRET"], body)
        assert (
            http.post(
                "/webhooks/whatsapp", content=body, headers={"X-Hub-Signature-256": sig}
            ).status_code
            == 200
        )
        event = assigned(http, seq)
        seq, cid = event["seq"], event["conversation_id"]
        conversations.append(cid)
        assert (
            http.post(
                f"/conversations/{cid}/reply", json={"agent_id": "e2e", "text": "wa reply"}
            ).status_code
            == 202
        )
        (call,) = stub.wait_for(1)
        assert call.path == "/v21.0/PN-E2E/messages"
        assert call.headers["Authorization"] == "Bearer e2e-wa-token"
        assert call.body == {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": "79990001122",
            "type": "text",
            "text": {"body": "wa reply"},
        }

        # Telegram
        response = http.post(
            "/webhooks/telegram",
            content=dumps(tg_update(chat_id=31337)),
            headers={"X-Telegram-Bot-Api-Secret-Token": "e2e-tg-secret"},
        )
        assert response.status_code == 200
        event = assigned(http, seq)
        seq, cid = event["seq"], event["conversation_id"]
        conversations.append(cid)
        http.post(f"/conversations/{cid}/reply", json={"agent_id": "e2e", "text": "tg reply"})
        call = stub.wait_for(2)[1]
        assert call.path == "/bot4242:e2e-tg-bot-token/sendMessage"
        assert call.body == {"chat_id": 31337, "text": "tg reply"}

        # Viber
        body = dumps(vb_message(sender="vb-user=="))
        sig = viber_signature(SECRETS["CHATSIM_VIBER_AUTH_TOKEN"], body)
        assert (
            http.post(
                "/webhooks/viber", content=body, headers={"X-Viber-Content-Signature": sig}
            ).status_code
            == 200
        )
        event = assigned(http, seq)
        seq, cid = event["seq"], event["conversation_id"]
        conversations.append(cid)
        http.post(f"/conversations/{cid}/reply", json={"agent_id": "e2e", "text": "vb reply"})
        call = stub.wait_for(3)[2]
        assert call.path == "/pa/send_message"
        assert call.headers["X-Viber-Auth-Token"] == "e2e-viber-token"
        assert call.body == {
            "receiver": "vb-user==",
            "type": "text",
            "text": "vb reply",
            "sender": {"name": "chatsim"},
        }

        # webchat, answered through the customer's long-poll
        assert (
            http.post("/webhooks/webchat", json={"session": "web-1", "text": "hello"}).status_code
            == 200
        )
        event = assigned(http, seq)
        seq, cid = event["seq"], event["conversation_id"]
        conversations.append(cid)
        http.post(f"/conversations/{cid}/reply", json={"agent_id": "e2e", "text": "web reply"})
        messages = http.get("/webchat/web-1/messages", params={"after": 0, "timeout": 5}).json()
        assert [(m["index"], m["text"]) for m in messages] == [(1, "web reply")]

        # a bad signature is refused over the wire too
        assert (
            http.post(
                "/webhooks/viber", content=body, headers={"X-Viber-Content-Signature": "00"}
            ).status_code
            == 403
        )

        assert http.post("/agents/e2e/logout").json()["state"] == "draining"
        for cid in conversations:
            assert (
                http.post(f"/conversations/{cid}/close", json={"agent_id": "e2e"}).status_code
                == 200
            )
        assert http.get("/agents/e2e").json()["state"] == "gone"
        metrics = http.get("/metrics").text
        for channel in ("whatsapp", "telegram", "viber"):
            assert f'chatsim_gateway_outbound_sent_total{{channel="{channel}"}} 1.0' in metrics
        assert len(stub.calls) == 3

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
    log = gateway_process.log_text()
    lines = [line for line in log.splitlines() if line.strip()]
    assert lines, "no logs"
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any(r["msg"] == "gateway started" for r in records)
    assert any(r["msg"] == "gateway stopped" for r in records)
    for secret in SECRETS.values():
        assert secret not in log
