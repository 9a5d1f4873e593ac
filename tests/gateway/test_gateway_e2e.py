"""End to end: ``chatsim gateway`` as a real uvicorn process on loopback, a fake platform
receiving its outbound calls, one conversation through each protocol, then a clean stop."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_helpers import CallerAuth, dumps, tg_update, vb_message, wa_message

from sim.loadtest.run import gateway_command
from sim.protocols import PlatformCredentials, viber_signature, whatsapp_signature

ROOT = Path(__file__).resolve().parents[2]
DESK_KEY = PlatformCredentials().desk_key
SECRETS = {
    "CHATSIM_WHATSAPP_APP_SECRET": "e2e-wa-app-secret",
    "CHATSIM_WHATSAPP_VERIFY_TOKEN": "e2e-wa-verify",
    "CHATSIM_WHATSAPP_TOKEN": "e2e-wa-token",
    "CHATSIM_TELEGRAM_BOT_TOKEN": "4242:e2e-tg-bot-token",
    "CHATSIM_TELEGRAM_SECRET_TOKEN": "e2e-tg-secret",
    "CHATSIM_VIBER_AUTH_TOKEN": "e2e-viber-token",
}


@dataclass
class FakePlatform:
    """WhatsApp, Telegram and Viber send APIs in one loopback HTTP server."""

    calls: list[dict[str, Any]] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.calls) >= count, timeout)
            return list(self.calls)


def serve_platform(platform: FakePlatform) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers.get("content-length", 0))))
            with platform.arrived:
                platform.calls.append(
                    {"path": self.path, "headers": dict(self.headers), "body": body}
                )
                platform.arrived.notify_all()
            if self.path.endswith("/messages"):
                answer: dict[str, Any] = {"messages": [{"id": "wamid.e2e"}]}
            elif self.path.endswith("/sendMessage"):
                answer = {"ok": True, "result": {"message_id": 7}}
            else:
                answer = {"status": 0, "status_message": "ok", "message_token": 99}
            data = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def platform() -> Iterator[FakePlatform]:
    fake = FakePlatform()
    server = serve_platform(fake)
    fake.base = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def gateway_process(platform: FakePlatform, tmp_path: Path) -> Iterator[tuple[str, Any]]:
    port = free_port()
    base = platform.base  # type: ignore[attr-defined]
    env = {
        **os.environ,
        **SECRETS,
        "CHATSIM_WHATSAPP_API_BASE": base,
        "CHATSIM_TELEGRAM_API_BASE": base,
        "CHATSIM_VIBER_API_BASE": base,
        "PYTHONPATH": str(ROOT),
    }
    stderr = (tmp_path / "gateway.log").open("w+")
    # `chatsim gateway` through the CLI's own entry point (python -m sim).
    command = gateway_command(port, "--log-level", "debug", "--access-log")
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=stderr)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            assert process.poll() is None, "gateway exited early"
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "gateway did not start"
            time.sleep(0.1)
        yield url, (process, stderr)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        stderr.close()


def assigned(http: httpx.Client, after: int) -> dict[str, Any]:
    response = http.get("/agents/e2e/events", params={"timeout": 5, "after": after})
    (event,) = response.json()
    assert event["type"] == "assigned"
    return dict(event)


@pytest.mark.slow
@pytest.mark.timeout(90)
def test_a_conversation_through_each_protocol(gateway_process, platform: FakePlatform):
    url, (process, stderr) = gateway_process
    with httpx.Client(base_url=url, timeout=10, auth=CallerAuth(DESK_KEY)) as http:
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
        (call,) = platform.wait_for(1)
        assert call["path"] == "/v21.0/PN-E2E/messages"
        assert call["headers"]["Authorization"] == "Bearer e2e-wa-token"
        assert call["body"] == {
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
        call = platform.wait_for(2)[1]
        assert call["path"] == "/bot4242:e2e-tg-bot-token/sendMessage"
        assert call["body"] == {"chat_id": 31337, "text": "tg reply"}

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
        call = platform.wait_for(3)[2]
        assert call["path"] == "/pa/send_message"
        assert call["headers"]["X-Viber-Auth-Token"] == "e2e-viber-token"
        assert call["body"] == {
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
        assert len(platform.calls) == 3

    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=15) == 0
    stderr.seek(0)
    log = stderr.read()
    lines = [line for line in log.splitlines() if line.strip()]
    assert lines, "no logs"
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert any(r["msg"] == "gateway started" for r in records)
    assert any(r["msg"] == "gateway stopped" for r in records)
    for secret in SECRETS.values():
        assert secret not in log
