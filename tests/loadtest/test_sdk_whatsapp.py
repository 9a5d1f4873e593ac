"""pywa (the WhatsApp Cloud API SDK) reads every notification the replay sends and replies
through the provider emulator, which delivers the reply to the right customer."""

from __future__ import annotations

import httpx
import pytest
from livekit import serve_emulator
from pywa import WhatsApp, types
from pywa.errors import WhatsAppError
from sdk_support import CREDENTIALS, replayed

from sim.loadtest.payloads import (
    PHONE_NUMBER_ID,
    WABA_ID,
    business_scoped_user_id,
    customer_key,
    wa_id_of_bsuid,
)

API_VERSION = "25.0"


def client(url: str | None = None, token: str = CREDENTIALS.whatsapp_token) -> WhatsApp:
    """A pywa client of the replay's business number; with ``url``, calling the emulator there."""
    session = httpx.Client(timeout=5)
    wa = WhatsApp(
        phone_id=PHONE_NUMBER_ID,
        business_account_id=None,
        token=token,
        session=session,
        server=None,
        verify_token=CREDENTIALS.whatsapp_verify_token,
        app_secret=CREDENTIALS.whatsapp_app_secret,
        api_version=API_VERSION,
    )
    if url is not None:
        session.base_url = f"{url}/v{API_VERSION}"  # pywa set graph.facebook.com's
    return wa


def test_pywa_reads_every_replayed_message_with_its_signature():
    wa = client()
    received: list[types.Message] = []
    wa.on_message()(lambda _, message: received.append(message))
    sent = replayed("whatsapp")
    for item in sent:
        signature = item.hook.headers["X-Hub-Signature-256"]
        assert wa.webhook_update_validator(item.hook.body, signature) is None
        assert wa.webhook_update_handler(item.hook.body) == ("ok", 200)
    assert len(received) == len(sent)
    for item, message in zip(sent, received, strict=True):
        user = message.from_user
        assert (message.text, message.id) == (item.text, f"wamid.chatsim.{item.serial:012d}")
        assert (user.wa_id, user.name) == (item.customer.id, item.customer.name)
        assert user.bsuid == business_scoped_user_id(item.customer.id)
        assert (message.metadata.phone_number_id, message.waba_id) == (PHONE_NUMBER_ID, WABA_ID)


def test_pywa_refuses_a_tampered_notification():
    hook = replayed("whatsapp", conversations=1, turns=1)[0].hook
    tampered = hook.body.replace(b'"type":"text"', b'"type":"text" ')
    assert client().webhook_update_validator(tampered, hook.headers["X-Hub-Signature-256"]) == (
        "Forbidden",
        403,
    )


def test_business_scoped_ids_are_distinct_and_lead_back_to_the_number():
    numbers = [item.customer.id for item in replayed("whatsapp")]
    ids = {business_scoped_user_id(number) for number in numbers}
    assert len(ids) == len(set(numbers))
    assert all(wa_id_of_bsuid(business_scoped_user_id(n)) == n for n in numbers)
    assert wa_id_of_bsuid("RU.12345") is None and wa_id_of_bsuid("RU.x") is None
    with pytest.raises(ValueError):
        business_scoped_user_id("not-a-number")


def test_pywa_replies_through_the_emulator_to_the_right_customer():
    """pywa answers a message by its business-scoped id (``recipient``), and a number (``to``)."""
    sent = replayed("whatsapp", conversations=2, turns=1)
    with serve_emulator() as (url, emulator, delivered):
        wa = client(url)
        chats: list[str] = []

        def answer(_: WhatsApp, message: types.Message) -> None:
            chats.append(message.chat.id)
            message.reply_text(f"re: {message.text}")

        wa.on_message()(answer)
        assert wa.webhook_update_handler(sent[0].hook.body) == ("ok", 200)
        assert chats == [business_scoped_user_id(sent[0].customer.id)]  # so: ``recipient``
        reply = wa.send_message(to=sent[1].customer.id, text="Здравствуйте")
        assert reply.id.startswith("wamid.") and reply.chat.id == sent[1].customer.id
        with pytest.raises(WhatsAppError):
            client(url, token="wrong").send_message(to=sent[1].customer.id, text="x")
    assert [(d.key, d.text) for d in delivered] == [
        (customer_key("whatsapp", sent[0].customer.id), f"re: {sent[0].text}"),
        (customer_key("whatsapp", sent[1].customer.id), "Здравствуйте"),
    ]
    assert emulator.rejected == 1
