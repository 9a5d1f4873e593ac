"""viberbot (Viber's own Python SDK) verifies and reads every callback the replay sends, and
its API client (token in the body, no Content-Type) works against the provider emulator."""

from __future__ import annotations

import pytest
from livekit import serve_emulator
from sdk_support import CREDENTIALS, replayed
from viberbot import Api
from viberbot.api.bot_configuration import BotConfiguration
from viberbot.api.messages import TextMessage
from viberbot.api.viber_requests import ViberMessageRequest

from sim.loadtest.payloads import customer_key


def api(token: str = CREDENTIALS.viber_auth_token) -> Api:
    return Api(BotConfiguration(name="chatsim", avatar="", auth_token=token))


def test_viberbot_verifies_and_reads_every_replayed_callback():
    viber = api()
    sent = replayed("viber")
    for item in sent:
        assert viber.verify_signature(
            item.hook.body, item.hook.headers["X-Viber-Content-Signature"]
        )
        request = viber.parse_request(item.hook.body)
        assert isinstance(request, ViberMessageRequest)
        assert isinstance(request.message, TextMessage) and request.message.text == item.text
        assert (request.sender.id, request.sender.name) == (item.customer.id, item.customer.name)
        assert request.message_token == 5_000_000_000_000_000_000 + item.serial
    tampered = sent[0].hook.body.replace(b'"silent":false', b'"silent":true')
    assert not viber.verify_signature(tampered, sent[0].hook.headers["X-Viber-Content-Signature"])


def test_viberbot_sends_through_the_emulator_to_the_customer(monkeypatch):
    receiver = replayed("viber", conversations=1, turns=1)[0].customer.id
    with serve_emulator() as (url, emulator, delivered):
        # viberbot has no setting for its base URL: it reads this module constant.
        monkeypatch.setattr("viberbot.api.api.VIBER_BOT_API_URL", f"{url}/pa")
        viber = api()
        assert viber.set_webhook("https://gateway.example/viber") == [
            "delivered",
            "seen",
            "failed",
            "subscribed",
            "unsubscribed",
            "conversation_started",
        ]
        assert viber.get_account_info()["webhook"] == "https://gateway.example/viber"
        [token] = viber.send_messages(receiver, [TextMessage(text="Здравствуйте")])
        with pytest.raises(Exception, match="invalidAuthToken"):
            api("wrong").send_messages(receiver, [TextMessage(text="x")])
    assert isinstance(token, int)
    assert [(d.key, d.text) for d in delivered] == [
        (customer_key("viber", receiver), "Здравствуйте")
    ]
    assert emulator.viber_webhook == "https://gateway.example/viber"
