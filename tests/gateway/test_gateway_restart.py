"""Durability across SIGKILL: a real ``chatsim gateway`` process on loopback, killed with
SIGKILL mid-work and started again on the same SQLite store.

Everything it acknowledged must come back: every customer message, the queue in its order, the
agent's slots, the agent's unacknowledged events (resumed with its last ``after``), a reply the
platform had not confirmed (sent again), and the id counters (no conversation id reused, so a
reply to an old id reaches that conversation's customer and nobody else).
"""

from __future__ import annotations

import itertools
import signal
from collections.abc import Iterator
from contextlib import AbstractContextManager
from pathlib import Path

import httpx
import pytest
from gateway_helpers import CallerAuth, dumps, tg_update, vb_message, wa_message
from livekit import LiveProcess, StubPlatform, chatsim_gateway, serve

from sim.protocols import PlatformCredentials, viber_signature, whatsapp_signature

CREDENTIALS = PlatformCredentials()
N = 60  # customers, 15 per protocol
MESSAGE_IDS = itertools.count(1)


@pytest.fixture
def platform() -> Iterator[tuple[StubPlatform, str]]:
    """The three send APIs on loopback, down (503) until ``up`` is set, recording every call."""
    stub = StubPlatform(up=False)
    with serve(stub) as base:
        yield stub, base


def gateway(store: Path, base: str, log: Path) -> AbstractContextManager[LiveProcess]:
    """``chatsim gateway`` on ``store``, sending to ``base``, its log appended to ``log``."""
    env = {
        "CHATSIM_GATEWAY_STORE": str(store),
        # Keep failing sends pending (retrying) until the kill.
        "CHATSIM_OUTBOUND_ATTEMPTS": "1000",
        "CHATSIM_OUTBOUND_BACKOFF": "0.05",
    }
    return chatsim_gateway(log, env=env, platform=base, log_level="info", append=True)


def webhook(http: httpx.Client, n: int, text: str) -> httpx.Response:
    """Customer ``n`` writes ``text``: the protocols in turn, signed as the platforms do."""
    protocol = ("whatsapp", "telegram", "viber", "webchat")[n % 4]
    unique = next(MESSAGE_IDS)
    key = f"{n}-{unique}"
    if protocol == "whatsapp":
        body = dumps(wa_message(wa_id=f"7916{n:07d}", msg_id=f"wamid.{key}", text=text))
        headers = {"X-Hub-Signature-256": whatsapp_signature(CREDENTIALS.whatsapp_app_secret, body)}
    elif protocol == "telegram":
        update = tg_update(update_id=unique, chat_id=5_000_000 + n, text=text)
        body = dumps(update)
        headers = {"X-Telegram-Bot-Api-Secret-Token": CREDENTIALS.telegram_secret_token}
    elif protocol == "viber":
        body = dumps(vb_message(token=unique, sender=f"vb{n}==", text=text))
        headers = {"X-Viber-Content-Signature": viber_signature(CREDENTIALS.viber_auth_token, body)}
    else:
        body = dumps({"session": f"web-{n}", "text": text, "id": key})
        headers = {}
    headers["content-type"] = "application/json"
    return http.post(f"/webhooks/{protocol}", content=body, headers=headers)


def number(cid: str) -> int:
    return int(cid.rsplit("-", 1)[1])


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_sigkill_loses_nothing_acknowledged(tmp_path, platform):
    stub, base = platform
    store, log = tmp_path / "gateway.db", tmp_path / "gateway.log"
    texts: dict[str, list[str]] = {}
    # One caller across the restart: the agent's token (signed, never stored) stays valid.
    auth = CallerAuth(CREDENTIALS.desk_key)
    with (
        gateway(store, base, log) as first,
        httpx.Client(base_url=first.url, timeout=10, auth=auth) as http,
    ):
        login = {"agent_id": "a1", "skills": ["whatsapp", "telegram"], "max_chats": 3}
        assert http.post("/agents/login", json=login).status_code == 200
        customer_of: dict[str, int] = {}
        for n in range(N):
            response = webhook(http, n, f"hello {n}")
            assert response.status_code == 200, response.text
            (cid,) = response.json()["conversation_ids"]
            texts[cid] = [f"hello {n}"]
            customer_of[cid] = n
        events = http.get("/agents/a1/events", params={"after": 0}).json()
        held = [event["conversation_id"] for event in events]
        assert [event["type"] for event in events] == ["assigned"] * 3
        wa_held = next(cid for cid in held if customer_of[cid] % 4 == 0)
        # A reply the platform does not confirm (503, retried): still pending at the kill.
        reply = {"agent_id": "a1", "text": "pending reply"}
        assert http.post(f"/conversations/{wa_held}/reply", json=reply).status_code == 202
        texts[wa_held].append("pending reply")
        # Acknowledge the assignments, then a customer writes again: one unacknowledged event.
        last = events[-1]["seq"]
        assert http.get("/agents/a1/events", params={"after": last}).json() == []
        response = webhook(http, customer_of[held[0]], "are you there?")
        texts[held[0]].append("are you there?")
        queued_before = http.get("/healthz").json()["queued"]
        # The last acknowledgements right before the kill.
        for n in range(N, N + 8):
            response = webhook(http, n, f"late {n}")
            assert response.status_code == 200
            (cid,) = response.json()["conversation_ids"]
            texts[cid] = [f"late {n}"]
            customer_of[cid] = n
        first.process.send_signal(signal.SIGKILL)
        first.process.wait(timeout=10)
    assert stub.acknowledged() == [] and stub.calls, "the reply must have been tried and refused"

    stub.up = True
    with (
        gateway(store, base, log) as second,
        httpx.Client(base_url=second.url, timeout=10, auth=auth) as http,
    ):
        # Every acknowledged message is there.
        for cid, sent in texts.items():
            view = http.get(f"/conversations/{cid}").json()
            assert [m["text"] for m in view["messages"]] == sent, cid
        # The slots: the agent still holds its three chats, and nothing else moved.
        status = http.get("/agents/a1").json()
        assert status["state"] == "active" and status["conversations"] == held
        assert http.get("/healthz").json()["queued"] == queued_before + 8
        # The event stream resumes after the last acknowledged event.
        resumed = http.get("/agents/a1/events", params={"after": last}).json()
        assert [(e["type"], e["conversation_id"], e["seq"]) for e in resumed] == [
            ("message", held[0], last + 1)
        ]
        # The unconfirmed reply goes out again, to its own customer.
        (delivered,) = stub.acknowledged(1, timeout=15)
        assert delivered.body["text"]["body"] == "pending reply"
        assert delivered.body["to"] == f"7916{customer_of[wa_held]:07d}"
        # A reply to an old id reaches that conversation's customer, not a new one.
        reply = {"agent_id": "a1", "text": "after the restart"}
        assert http.post(f"/conversations/{wa_held}/reply", json=reply).status_code == 202
        second_delivery = stub.acknowledged(2, timeout=15)[1]
        assert second_delivery.body["to"] == f"7916{customer_of[wa_held]:07d}"
        # New conversations continue past the old ids.
        response = webhook(http, N + 100, "new after restart")
        (new_cid,) = response.json()["conversation_ids"]
        assert number(new_cid) == max(number(cid) for cid in texts) + 1
        # The queue kept its order: a new agent takes the waiting chats of its channels first
        # come, first served (all channels share one priority), the new one last.
        expected = sorted(
            [cid for cid, n in customer_of.items() if n % 4 < 2 and cid not in held] + [new_cid],
            key=number,
        )
        login = {"agent_id": "a2", "skills": ["whatsapp", "telegram"], "max_chats": 1000}
        assert http.post("/agents/login", json=login).status_code == 200
        taken = [e["conversation_id"] for e in http.get("/agents/a2/events").json()]
        assert taken == expected
