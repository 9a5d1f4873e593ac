"""Edits, deletions and interactive replies follow one rule on every protocol.

* An interactive reply (a WhatsApp button or list reply or template quick reply, a Telegram
  inline-keyboard callback) is a customer message whose text is the title the customer tapped.
* An edit or a deletion (WhatsApp ``edit``/``revoke``, Telegram ``edited_message``) is recorded
  in the customer's open conversation as such (kind ``edited``/``deleted``, naming the changed
  message), never as a new customer message: no conversation opens, no agent is sent a message,
  and without an open conversation it is ignored.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from gateway_helpers import Client, gateway, tg_update, wa_message

pytestmark = pytest.mark.anyio

WA_ID, TG_CHAT = "79161234567", 1111111


def wa_variant(msg_id: str, kind: str, part: dict[str, Any]) -> dict[str, Any]:
    """A WhatsApp notification of one message of type ``kind`` with content ``part``."""
    payload = wa_message(wa_id=WA_ID, msg_id=msg_id)
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    del message["text"]
    message.update({"type": kind, kind: part})
    return payload


def tg_callback(update_id: int, data: str) -> dict[str, Any]:
    keyboard = [
        [{"text": "Да, помогло", "callback_data": "yes"}, {"text": "Нет", "callback_data": "no"}]
    ]
    shown = tg_update(update_id=update_id, chat_id=TG_CHAT, text="Помогло?")["message"]
    shown["reply_markup"] = {"inline_keyboard": keyboard}
    return {
        "update_id": update_id,
        "callback_query": {
            "id": f"cb{update_id}",
            "from": shown["from"],
            "message": shown,
            "chat_instance": "42",
            "data": data,
        },
    }


async def send(client: Client, protocol: str, payload: dict[str, Any]) -> dict[str, Any]:
    post = client.whatsapp if protocol == "whatsapp" else client.telegram
    response = await post(payload)
    assert response.status_code == 200, response.text
    return dict(response.json())


FIRST = {
    "whatsapp": (
        wa_message(wa_id=WA_ID, msg_id="wamid.first", text="Не работает интернет"),
        "wamid.first",
    ),
    "telegram": (tg_update(update_id=10, chat_id=TG_CHAT, text="Не работает интернет"), "1365"),
}


def edit_of(protocol: str, text: str) -> dict[str, Any]:
    if protocol == "whatsapp":
        return wa_variant(
            "wamid.edit1",
            "edit",
            {
                "original_message_id": "wamid.first",
                "message": {"type": "text", "text": {"body": text}},
            },
        )
    edited = copy.deepcopy(tg_update(update_id=11, chat_id=TG_CHAT, text=text, edited=True))
    edited["edited_message"]["edit_date"] = 1441645600
    return edited


@pytest.mark.parametrize("protocol", ["whatsapp", "telegram"])
async def test_an_edit_is_recorded_on_the_conversation_not_a_new_message(protocol):
    first, _ = FIRST[protocol]
    async with gateway() as client:
        await client.login("a1", [protocol])
        [cid] = (await send(client, protocol, first))["conversation_ids"]
        assert len(await client.events("a1")) == 1  # assigned, with the first message
        ack = await send(client, protocol, edit_of(protocol, "Не работает интернет дома"))
        assert (ack["messages"], ack["ignored"], ack["conversation_ids"]) == (0, 0, [])
        again = await send(client, protocol, edit_of(protocol, "Не работает интернет дома"))
        assert again["duplicates"] == 1
        assert await client.events("a1", after=1) == []  # nothing for the agent to answer
        messages = (await client.conversation(cid))["messages"]
        assert [(m["sender"], m["kind"], m["text"]) for m in messages] == [
            ("customer", "text", "Не работает интернет"),
            ("customer", "edited", "Не работает интернет дома"),
        ]
        assert client.service.router.waiting() == 0


@pytest.mark.parametrize("protocol", ["whatsapp", "telegram"])
async def test_an_edit_without_an_open_conversation_is_ignored(protocol):
    async with gateway() as client:
        ack = await send(client, protocol, edit_of(protocol, "x"))
        assert (ack["messages"], ack["ignored"]) == (0, 1)
        assert client.service.router.waiting() == 0


async def test_a_whatsapp_deletion_is_recorded_as_such():
    first, _ = FIRST["whatsapp"]
    async with gateway() as client:
        [cid] = (await send(client, "whatsapp", first))["conversation_ids"]
        revoke = wa_variant("wamid.revoke1", "revoke", {"original_message_id": "wamid.first"})
        assert (await send(client, "whatsapp", revoke))["messages"] == 0
        messages = (await client.conversation(cid))["messages"]
        assert [(m["kind"], m["native_type"], m["text"]) for m in messages][1:] == [
            ("deleted", "revoke", "")
        ]


INTERACTIVE = [
    (
        "whatsapp",
        wa_variant(
            "wamid.b1",
            "interactive",
            {"type": "button_reply", "button_reply": {"id": "yes", "title": "Да, помогло"}},
        ),
        "interactive",
    ),
    (
        "whatsapp",
        wa_variant(
            "wamid.l1",
            "interactive",
            {
                "type": "list_reply",
                "list_reply": {"id": "r2", "title": "Да, помогло", "description": "…"},
            },
        ),
        "interactive",
    ),
    (
        "whatsapp",
        wa_variant("wamid.t1", "button", {"payload": "yes", "text": "Да, помогло"}),
        "button",
    ),
    ("telegram", tg_callback(20, "yes"), "callback_query"),
]


@pytest.mark.parametrize(("protocol", "payload", "native"), INTERACTIVE)
async def test_an_interactive_reply_is_a_message_with_the_tapped_title(protocol, payload, native):
    async with gateway() as client:
        await client.login("a1", [protocol])
        assert (await send(client, protocol, payload))["messages"] == 1
        (event,) = await client.events("a1")
        (message,) = event["messages"]
        assert (message["kind"], message["native_type"], message["text"]) == (
            "text",
            native,
            "Да, помогло",
        )


async def test_a_callback_without_its_keyboard_reads_as_its_data():
    payload = tg_callback(21, "no")
    del payload["callback_query"]["message"]
    async with gateway() as client:
        await client.login("a1", ["telegram"])
        await send(client, "telegram", payload)
        (event,) = await client.events("a1")
        assert event["messages"][0]["text"] == "no"
        assert event["customer"]["id"] == str(TG_CHAT)
