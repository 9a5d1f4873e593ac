"""The replay's webhooks are what the platforms send: the gateway's parsers and signature
checks (written from the platforms' documentation, independently) accept them as such."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.gateway.config import GatewayConfig
from sim.gateway.inbound import telegram, viber, webchat, whatsapp
from sim.gateway.inbound.common import SignatureError
from sim.gateway.inbound.signatures import check_telegram, check_viber, check_whatsapp
from sim.loadtest.payloads import customer_key, customer_message, webchat_close
from sim.texts import Customer

CONFIG = GatewayConfig()
CREDENTIALS = CONFIG.credentials  # what the replay signs with: the gateway's own secrets
PARSERS = {
    "whatsapp": whatsapp.parse,
    "telegram": telegram.parse,
    "viber": viber.parse,
    "webchat": webchat.parse,
}
IDS = {
    "whatsapp": "79161234567",
    "telegram": "123456789",
    "viber": "gHgt0wr4WAr5CQJ2tAqeKg==",
    "webchat": "8f9c1d1e-5b7e-4f3a-9a57-0c2b1e2a3d4f",
}

texts = st.text(st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=200).filter(
    lambda t: t.strip()
)
names = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=40).filter(
    lambda t: t.strip()
)


def check_signature(protocol: str, body: bytes, headers: dict[str, str]) -> None:
    if protocol == "whatsapp":
        check_whatsapp(headers.get("X-Hub-Signature-256"), CONFIG.whatsapp_app_secret, body)
    elif protocol == "viber":
        check_viber(headers.get("X-Viber-Content-Signature"), CONFIG.viber_auth_token, body)
    elif protocol == "telegram":
        check_telegram(headers.get("X-Telegram-Bot-Api-Secret-Token"), CONFIG.telegram_secret_token)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(sorted(PARSERS)), texts, names, st.integers(0, 10**6), st.integers(0, 60))
def test_gateway_reads_what_the_replay_sends(protocol, text, name, index, turn):
    customer = Customer(IDS[protocol], name)
    hook = customer_message(
        CREDENTIALS, protocol, "app", customer, text, index, turn, 1_700_000_000.0
    )
    assert hook.path == f"/webhooks/{protocol}"
    check_signature(protocol, hook.body, hook.headers)
    inbound = PARSERS[protocol](hook.body)
    [message] = inbound.messages
    assert message.customer_id == customer.id and message.text == text and message.kind == "text"
    assert message.key  # an idempotency key the gateway can deduplicate on
    if protocol == "webchat":
        assert inbound.channel == "app"


def test_message_ids_differ_per_turn_and_conversation_but_not_on_retry():
    customer = Customer(IDS["whatsapp"], "Анна")
    keys = {
        whatsapp.parse(
            customer_message(CREDENTIALS, "whatsapp", "whatsapp", customer, "x", i, turn, 0.0).body
        )
        .messages[0]
        .key
        for i in range(3)
        for turn in range(3)
    }
    assert len(keys) == 9
    again = [
        customer_message(CREDENTIALS, "whatsapp", "whatsapp", customer, "x", 1, 1, t).body
        for t in (0.0, 0.0)
    ]
    assert again[0] == again[1]


@pytest.mark.parametrize("protocol", ["whatsapp", "viber"])
def test_a_tampered_body_fails_the_signature(protocol):
    hook = customer_message(
        CREDENTIALS, protocol, protocol, Customer(IDS[protocol], "Ivan"), "hello", 0, 0, 0.0
    )
    with pytest.raises(SignatureError):
        check_signature(protocol, hook.body.replace(b"hello", b"hullo"), hook.headers)


def test_webchat_close_and_keys():
    hook = webchat_close(Customer(IDS["webchat"], "x"), "retail")
    inbound = webchat.parse(hook.body)
    assert inbound.closes == [IDS["webchat"]] and inbound.channel == "retail"
    assert json.loads(hook.body)["event"] == "close"
    assert customer_key("viber", "abc") == "viber:abc"
    with pytest.raises(ValueError):
        customer_message(CREDENTIALS, "icq", "x", Customer("1", "x"), "t", 0, 0, 0.0)
