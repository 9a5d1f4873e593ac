"""Outbound: agents' replies to the platforms' send APIs, in order, with retries.

:func:`build_request` renders one reply in the platform's own send format:

* WhatsApp: ``POST {base}/{version}/{phone_number_id}/messages``, ``Authorization: Bearer``,
  ``{"messaging_product": "whatsapp", "recipient_type": "individual", "to": wa_id,
  "type": "text", "text": {"body": ...}}``;
* Telegram: ``POST {base}/bot{token}/sendMessage``, ``{"chat_id": ..., "text": ...}``;
* Viber: ``POST {base}/pa/send_message``, ``X-Viber-Auth-Token``, ``{"receiver": id,
  "type": "text", "text": ..., "sender": {"name": ...}}``.

:class:`Outbox` sends them in background tasks through one shared ``httpx.AsyncClient``: one
worker per conversation with something to send, so replies of a conversation go out in the
order they were accepted while conversations proceed in parallel. Timeouts, 429, 5xx and
connection errors are retried with exponential backoff up to ``outbound_attempts`` tries; then
the message is marked ``failed``, counted and logged (without URL or token), and the worker goes
on with the next one. A platform's refusal (other 4xx, Viber ``status != 0``) is not retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import httpx

from .config import GatewayConfig
from .metrics import GatewayMetrics
from .store import Message, Store

log = logging.getLogger("sim.gateway.outbound")
MAX_BACKOFF = 5.0


@dataclass(frozen=True)
class OutboundJob:
    """One agent reply to deliver; ``message`` is the stored reply, updated on delivery."""

    conversation_id: str
    channel: str
    protocol: str
    address: Mapping[str, Any]
    message: Message


def build_request(
    config: GatewayConfig, protocol: str, address: Mapping[str, Any], text: str
) -> tuple[str, dict[str, str], dict[str, Any]]:
    """URL, headers and JSON body of a text message in ``protocol``'s send format."""
    if protocol == "whatsapp":
        base = config.whatsapp_api_base.rstrip("/")
        url = f"{base}/{config.whatsapp_api_version}/{address['phone_number_id']}/messages"
        headers = {"Authorization": f"Bearer {config.whatsapp_token}"}
        body: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": address["wa_id"],
            "type": "text",
            "text": {"body": text},
        }
        return url, headers, body
    if protocol == "telegram":
        base = config.telegram_api_base.rstrip("/")
        url = f"{base}/bot{config.telegram_bot_token}/sendMessage"
        return url, {}, {"chat_id": address["chat_id"], "text": text}
    if protocol == "viber":
        url = f"{config.viber_api_base.rstrip('/')}/pa/send_message"
        headers = {"X-Viber-Auth-Token": config.viber_auth_token}
        body = {
            "receiver": address["receiver"],
            "type": "text",
            "text": text,
            "sender": {"name": config.viber_sender_name},
        }
        return url, headers, body
    raise ValueError(f"no outbound API for protocol {protocol!r}")


def _platform_result(protocol: str, response: httpx.Response) -> tuple[str | None, str | None]:
    """(error reason, platform message id) of a 2xx answer."""
    try:
        data = response.json()
    except ValueError:
        return None, None
    if not isinstance(data, dict):
        return None, None
    if protocol == "viber":
        status = data.get("status", 0)
        if status not in (0, None):
            return f"viber_status_{status}", None
        token = data.get("message_token")
        return None, None if token is None else str(token)
    if protocol == "whatsapp":
        messages = data.get("messages")
        if isinstance(messages, list) and messages and isinstance(messages[0], dict):
            return None, str(messages[0].get("id"))
    if protocol == "telegram":
        result = data.get("result")
        if isinstance(result, dict) and "message_id" in result:
            return None, str(result["message_id"])
    return None, None


class Outbox:
    """Per-conversation ordered delivery through a shared client; see the module docstring."""

    def __init__(
        self,
        config: GatewayConfig,
        metrics: GatewayMetrics,
        store: Store,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._store = store
        self._transport = transport
        self._client: httpx.AsyncClient | None = None
        self._queues: dict[str, deque[OutboundJob]] = {}
        self._workers: dict[str, asyncio.Task[None]] = {}

    @property
    def client(self) -> httpx.AsyncClient:
        """The shared client, made on first use (normally by the app's lifespan)."""
        if self._client is None:
            self._client = httpx.AsyncClient(
                transport=self._transport,
                timeout=httpx.Timeout(self._config.outbound_timeout),
                limits=httpx.Limits(max_connections=100, max_keepalive_connections=50),
            )
        return self._client

    def pending(self) -> int:
        """Replies accepted but not yet delivered or given up."""
        return sum(len(queue) for queue in self._queues.values())

    def submit(self, job: OutboundJob) -> None:
        """Queue a reply behind the conversation's earlier ones; returns at once."""
        queue = self._queues.setdefault(job.conversation_id, deque())
        queue.append(job)
        if job.conversation_id not in self._workers:
            task = asyncio.get_running_loop().create_task(self._work(job.conversation_id))
            self._workers[job.conversation_id] = task

    async def aclose(self) -> None:
        """Give queued replies ``shutdown_grace`` seconds, give up the rest, close the client."""
        workers = list(self._workers.values())
        if workers:
            _, late = await asyncio.wait(workers, timeout=self._config.shutdown_grace)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        for queue in self._queues.values():
            for job in queue:
                self._failed(job, "shutdown")
        self._queues.clear()
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def _work(self, conversation_id: str) -> None:
        queue = self._queues[conversation_id]
        try:
            while queue:
                job = queue[0]
                try:
                    await self._deliver(job)
                except asyncio.CancelledError:
                    raise
                except Exception:  # never let one reply stop the others
                    log.exception(
                        "outbound worker error",
                        extra={"fields": {"conversation_id": conversation_id}},
                    )
                    self._failed(job, "error")
                queue.popleft()
        finally:
            if not queue:
                self._queues.pop(conversation_id, None)
            self._workers.pop(conversation_id, None)

    async def _deliver(self, job: OutboundJob) -> None:
        url, headers, body = build_request(
            self._config, job.protocol, job.address, job.message.text
        )
        attempts = self._config.outbound_attempts
        reason = "error"
        for attempt in range(1, attempts + 1):
            if attempt > 1:
                self._metrics.outbound_retries.labels(job.channel).inc()
                delay = self._config.outbound_backoff * 2 ** (attempt - 2)
                await asyncio.sleep(min(delay, MAX_BACKOFF))
            try:
                response = await self.client.post(url, headers=headers, json=body)
            except httpx.TimeoutException:
                reason = "timeout"
                continue
            except httpx.TransportError:
                reason = "connection"
                continue
            status = response.status_code
            if status >= 500 or status == 429:
                reason = f"http_{status}"
                continue
            if status >= 400:
                reason = f"http_{status}"
                break
            error, platform_id = _platform_result(job.protocol, response)
            if error is not None:
                reason = error
                break
            job.message.delivery = "sent"
            job.message.platform_id = platform_id
            self._store.update_message(job.conversation_id, job.message)
            self._metrics.outbound_sent.labels(job.channel).inc()
            return
        self._failed(job, reason)

    def _failed(self, job: OutboundJob, reason: str) -> None:
        job.message.delivery = "failed"
        self._store.update_message(job.conversation_id, job.message)
        self._metrics.outbound_failures.labels(job.channel, reason).inc()
        log.warning(
            "outbound message failed",
            extra={
                "fields": {
                    "conversation_id": job.conversation_id,
                    "channel": job.channel,
                    "index": job.message.index,
                    "reason": reason,
                }
            },
        )
