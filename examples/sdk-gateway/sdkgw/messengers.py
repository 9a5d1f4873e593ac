"""The messengers' SDKs: one client each, for sending (and, for WhatsApp and Viber, for
checking and parsing webhooks, which :mod:`sdkgw.app` calls).

Each SDK is pointed at the platform base URL it is configured with (the replay's provider
emulator by default), as its own source allows:

* python-telegram-bot: ``Bot(token, base_url=f"{base}/bot")``; the token is appended.
* pywa: :class:`GraphAPIAsync` sets its httpx client's ``base_url`` to
  ``https://graph.facebook.com/v{version}`` when it is built; it is set again afterwards to
  ``{base}/v{version}`` (the client is created with our own ``httpx.AsyncClient``).
* viberbot: :class:`viberbot.Api` builds its ``ApiRequestSender`` with the constant
  ``https://chatapi.viber.com/pa``; the sender's URL is replaced with ``{base}/pa``. viberbot
  is synchronous (requests), so its sends run in a thread pool.

Replies of one chat go out in the order they were accepted: each chat has a lock, and each
send waits for it (asyncio locks are first come, first served). A failed call is tried again
with backoff, up to ``send_attempts`` calls.
"""

from __future__ import annotations

import asyncio
import logging
import random
from concurrent.futures import ThreadPoolExecutor
from contextlib import suppress
from typing import Any

import httpx
from pywa_async.client import WhatsApp
from telegram import Bot
from viberbot import Api as ViberApi  # type: ignore[import-untyped]
from viberbot.api.bot_configuration import BotConfiguration  # type: ignore[import-untyped]
from viberbot.api.messages.text_message import TextMessage  # type: ignore[import-untyped]

from .config import Config
from .floor import Chat

log = logging.getLogger("sdkgw.outbound")


def telegram_bot(config: Config) -> Bot:
    base = config.telegram_api_base.rstrip("/")
    return Bot(config.credentials.telegram_bot_token, base_url=f"{base}/bot")


def whatsapp_client(config: Config) -> WhatsApp:
    """pywa's async client: webhook validation (app secret), parsing, handlers and sends.
    Updates for any business phone number are taken (``filter_updates=False``): a reply goes
    out from the number its chat wrote to."""
    version = config.whatsapp_api_version.lstrip("v")
    session = httpx.AsyncClient(timeout=httpx.Timeout(5.0))
    client = WhatsApp(
        token=config.credentials.whatsapp_token,
        session=session,
        api_version=version,
        app_secret=config.credentials.whatsapp_app_secret,
        verify_token=config.credentials.whatsapp_verify_token,
        filter_updates=False,
        validate_updates=True,
    )
    session.base_url = httpx.URL(f"{config.whatsapp_api_base.rstrip('/')}/v{version}")
    return client


def viber_api(config: Config) -> ViberApi:
    api = ViberApi(
        BotConfiguration(config.credentials.viber_auth_token, config.viber_sender_name, None)
    )
    api._request_sender._viber_bot_api_url = f"{config.viber_api_base.rstrip('/')}/pa"
    return api


class Messengers:
    """The platforms' send APIs through their SDKs, and webchat's outbox."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.telegram = telegram_bot(config)
        self.whatsapp = whatsapp_client(config)
        self.viber = viber_api(config)
        self._viber_pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="viber")
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self.webchat: dict[str, list[dict[str, Any]]] = {}
        """Per webchat session, the replies so far (``index`` from 1)."""
        self.webchat_news: dict[str, asyncio.Event] = {}
        self.sent = 0
        self.failed = 0

    def send(self, chat: Chat, text: str) -> None:
        """Queue a reply for the chat's customer; it goes out in the background, in order."""
        if chat.channel.protocol == "webchat":
            self._webchat(chat.customer, text)
            return
        lock = self._locks.setdefault(chat.id, asyncio.Lock())
        task = asyncio.get_running_loop().create_task(self._send(lock, chat, text))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _webchat(self, session: str, text: str) -> None:
        outbox = self.webchat.setdefault(session, [])
        outbox.append({"index": len(outbox) + 1, "text": text, "sender": "agent"})
        self.webchat_news.setdefault(session, asyncio.Event()).set()
        self.sent += 1

    async def webchat_after(self, session: str, after: int, timeout: float) -> list[dict[str, Any]]:
        """The session's replies with ``index > after``, waiting up to ``timeout`` for one."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            news = self.webchat_news.setdefault(session, asyncio.Event())
            news.clear()
            fresh = [m for m in self.webchat.get(session, []) if m["index"] > after]
            remaining = deadline - loop.time()
            if fresh or remaining <= 0:
                return fresh
            with suppress(TimeoutError):
                await asyncio.wait_for(news.wait(), remaining)

    async def _send(self, lock: asyncio.Lock, chat: Chat, text: str) -> None:
        async with lock:
            for attempt in range(1, self.config.send_attempts + 1):
                try:
                    await self._call(chat, text)
                    self.sent += 1
                    return
                except Exception as error:  # any SDK's failure: network, refusal, parsing
                    log.warning(
                        "send to %s:%s failed (attempt %d): %r",
                        chat.channel.protocol,
                        chat.customer,
                        attempt,
                        error,
                    )
                    if attempt < self.config.send_attempts:
                        await asyncio.sleep(random.uniform(0, 0.2 * 2**attempt))
            self.failed += 1
            log.error("gave up a reply to %s:%s", chat.channel.protocol, chat.customer)

    async def _call(self, chat: Chat, text: str) -> None:
        protocol = chat.channel.protocol
        if protocol == "telegram":
            await self.telegram.send_message(chat_id=int(chat.customer), text=text)
        elif protocol == "whatsapp":
            # To the business-scoped user id when the webhook gave one (pywa's preference: it
            # sends it as ``recipient``), else to the number (``to``).
            await self.whatsapp.send_message(
                to=chat.address.get("user_id") or chat.customer,
                text=text,
                sender=chat.address.get("phone_id"),
            )
        elif protocol == "viber":
            message = TextMessage(text=text)
            await asyncio.get_running_loop().run_in_executor(
                self._viber_pool, self.viber.send_messages, chat.customer, [message]
            )
        else:
            raise ValueError(f"no sender for protocol {protocol!r}")

    async def aclose(self) -> None:
        """Let queued sends finish (a few seconds at most), then close the clients."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=5.0)
        await self.telegram.shutdown()
        await self.whatsapp.api._session.aclose()
        self._viber_pool.shutdown(wait=False, cancel_futures=True)
