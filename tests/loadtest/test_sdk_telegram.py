"""python-telegram-bot reads every update the replay sends (through its own webhook server,
which checks the secret token), and its bot talks to the provider emulator as to Telegram."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from livekit import free_port, serve_emulator
from sdk_support import CREDENTIALS, replayed
from telegram import Bot, Update
from telegram.error import InvalidToken
from telegram.ext import Updater

from sim.loadtest.emulator import BOT_USERNAME
from sim.loadtest.payloads import customer_key


def bot(url: str, token: str = CREDENTIALS.telegram_bot_token) -> Bot:
    return Bot(token, base_url=f"{url}/bot")


async def through_ptb_webhook(url: str, hooks: list[dict[str, object]]) -> tuple[list[Update], int]:
    """Start PTB's webhook server (which calls getMe and setWebhook on the emulator), post each
    hook to it, and collect the updates it queues; also the status of a wrong secret token."""
    port = free_port()
    updater = Updater(bot(url), asyncio.Queue())
    async with updater:
        await updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="telegram",
            webhook_url=f"http://127.0.0.1:{port}/telegram",
            secret_token=CREDENTIALS.telegram_secret_token,
        )
        updates = []
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=5) as client:
            for hook in hooks:
                response = await client.post(
                    "/telegram", content=hook["body"], headers=hook["headers"]
                )
                assert response.status_code == 200, response.text
                updates.append(await asyncio.wait_for(updater.update_queue.get(), 5))
            first = hooks[0]
            wrong = dict(first["headers"]) | {"X-Telegram-Bot-Api-Secret-Token": "wrong"}
            refused = (
                await client.post("/telegram", content=first["body"], headers=wrong)
            ).status_code
        await updater.stop()
    return updates, refused


def test_ptb_reads_every_replayed_update_through_its_webhook_server():
    sent = replayed("telegram")
    hooks = [{"body": s.hook.body, "headers": s.hook.headers} for s in sent]
    with serve_emulator() as (url, emulator, _):
        updates, refused = asyncio.run(through_ptb_webhook(url, hooks))
        assert emulator.telegram_webhook.endswith("/telegram")  # PTB's setWebhook reached it
    assert refused == 403
    assert len(updates) == len(sent)
    for item, update in zip(sent, updates, strict=True):
        message = update.message
        assert message is not None and update.effective_user is not None
        assert (message.text, message.message_id) == (item.text, item.serial + 1)
        assert update.effective_user.id == message.chat.id == int(item.customer.id)
        assert update.effective_user.full_name == item.customer.name
        assert update.update_id == json.loads(item.hook.body)["update_id"]
    ids = [update.update_id for update in updates]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)  # in send order, across workers


async def bot_session(url: str, chat_id: int) -> tuple[object, ...]:
    async with bot(url) as telegram:  # initialize() calls getMe
        me = await telegram.get_me()
        webhook_set = await telegram.set_webhook("https://gateway.example/telegram")
        sent = await telegram.send_message(chat_id=chat_id, text="Здравствуйте")
        deleted = await telegram.delete_webhook()
    with pytest.raises(InvalidToken):
        await bot(url, token="123:wrong").get_me()
    return me.username, webhook_set, sent.text, sent.chat.id, sent.from_user.is_bot, deleted


def test_ptb_bot_calls_the_emulator_and_it_delivers_to_the_customer():
    customer = replayed("telegram", conversations=1, turns=1)[0].customer
    with serve_emulator() as (url, _, delivered):
        answers = asyncio.run(bot_session(url, int(customer.id)))
    assert answers == (BOT_USERNAME, True, "Здравствуйте", int(customer.id), True, True)
    assert [(d.key, d.text) for d in delivered] == [
        (customer_key("telegram", customer.id), "Здравствуйте")
    ]
