"""Outbound: agents' replies to the platforms' send APIs, bounded, in order, with retries.

:func:`build_request` renders one reply in the platform's own send format:

* WhatsApp: ``POST {base}/{version}/{phone_number_id}/messages``, ``Authorization: Bearer``,
  ``{"messaging_product": "whatsapp", "recipient_type": "individual", "to": wa_id,
  "type": "text", "text": {"body": ...}}``;
* Telegram: ``POST {base}/bot{token}/sendMessage``, ``{"chat_id": ..., "text": ...}``;
* Viber: ``POST {base}/pa/send_message``, ``X-Viber-Auth-Token``, ``{"receiver": id,
  "type": "text", "text": ..., "sender": {"name": ...}}``.

:class:`Outbox` delivers them. Its parts, and why:

* **Bounded concurrency.** A fixed pool of ``outbound_concurrency`` sender workers; every
  ``SHARD`` of them share one ``httpx.AsyncClient`` whose pool has exactly as many connections,
  so a worker never waits for a connection and no pool holds a crowd of waiters (a task per
  reply against a smaller pool is what made the gateway spend its CPU assigning connections and
  time out in the queue). Small pools, because httpcore looks at every connection of a pool
  for every request: the cost per request grows with the pool's size.
  The client's timeout covers connect, write and read of one call; waiting for a connection
  has no timeout, and should it ever end in ``httpx.PoolTimeout`` the call is made again
  without counting an attempt: waiting is not trying.
* **Order per conversation.** Each conversation has a FIFO of replies; only its head is ever on
  the wire or waiting for a retry, and the conversation is in the workers' ready queue at most
  once. Conversations take turns, one attempt each, so a slow or failing one delays no other.
  Reply n+1 is never sent before reply n is *decided*: sent, or given up on. When reply n is
  given up on, the replies queued behind it at that moment fail with it (reason
  ``earlier_failed``) rather than reach the customer without it: a later reply usually builds
  on the earlier one, and the agent, told of the failure (delivery state and a ``delivery``
  event), decides what to send again. A reply accepted after the failure was decided is sent
  normally.
* **Retries.** Timeouts, connection errors, 429 and 5xx are retried up to
  ``outbound_attempts`` tries in all, after an exponential backoff with full jitter (a uniform
  draw in ``[0, min(5 s, outbound_backoff * 2^(retry-1))]``, which spreads a crowd of retries
  instead of synchronising it); a ``Retry-After`` (seconds or an HTTP date) on 429 or 503 is
  honoured instead: no retry before it, and a reply is given up on (``retry_after_too_long``)
  when it asks for more than a minute. A platform's refusal (other 4xx, Viber
  ``status != 0``) is not retried. A retry waits on a timer, not on a worker.
* **Back-pressure.** At most ``outbound_queue_limit`` replies are accepted but undecided;
  :meth:`Outbox.admit` refuses the next one with a 503 ``outbox_full`` (and ``Retry-After``)
  before anything is stored, so the agent API sheds load visibly instead of dropping replies.

**Delivery guarantee: at least once**, per reply, across restarts on a durable store: a reply
stays ``queued`` in the store until it is decided, and a gateway started on the same store sends
the queued ones again (on the memory store, what is undecided when the process ends is lost
with it). A reply is sent until the platform acknowledges it, refuses it, or the attempts
run out. It reaches the platform twice only when a platform received a call but its answer was
lost (a read timeout or a connection dropped after the request was written): the gateway cannot
tell that from a call that never arrived, and the send APIs have no idempotency key.

Each reply's delivery state is on its stored message: ``queued``, then ``sent`` (with the
platform's message id) or ``failed`` with a reason (``http_500``, ``timeout``, ``connection``,
``http_400``, ``viber_status_6``, ``retry_after_too_long``, ``earlier_failed``, ``error``),
plus the attempts made; failures are counted and logged (without URL or token).
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from .config import GatewayConfig
from .errors import ApiError
from .metrics import GatewayMetrics
from .store import Message, Store

log = logging.getLogger("sim.gateway.outbound")
MAX_BACKOFF = 5.0
"""Seconds: the cap of the exponential backoff before jitter."""
MAX_RETRY_AFTER = 60.0
"""Seconds: a longer ``Retry-After`` gives the reply up rather than hold its conversation."""
RETRY_AFTER_STATUSES = (429, 503)
SHARD = 8
"""Sender workers (and connections) per ``httpx.AsyncClient``."""


@dataclass(eq=False)
class OutboundJob:
    """One agent reply to deliver; ``message`` is the stored reply, updated on delivery.

    ``attempts`` counts calls made (waits for a connection excluded); ``accepted`` is the
    monotonic time the outbox took it, the start of its delivery latency.
    """

    conversation_id: str
    channel: str
    protocol: str
    address: Mapping[str, Any]
    message: Message
    attempts: int = 0
    accepted: float = field(default_factory=time.monotonic)


def retry_after_seconds(value: str | None, now: float | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks to wait (delta-seconds or an HTTP date), or None.

    ``now`` is the Unix time an HTTP date is measured from (default: the wall clock); a date in
    the past means 0.
    """
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    wall = time.time() if now is None else now
    return max(0.0, when.timestamp() - wall)


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


_Decision = tuple[str, str | None, str | None]
"""(``sent``/``retry``/``failed``/``requeue``, reason, platform id or Retry-After seconds)."""


class Outbox:
    """Bounded, per-conversation ordered delivery; see the module docstring.

    ``on_failed(job, reason)`` is called once per reply given up on (the conversation service
    tells the agent); ``rng`` draws the backoff jitter (tests pass a seeded one).
    """

    def __init__(
        self,
        config: GatewayConfig,
        metrics: GatewayMetrics,
        store: Store,
        transport: httpx.AsyncBaseTransport | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._config = config
        self._metrics = metrics
        self._store = store
        self._transport = transport
        self._rng = rng or random.Random()
        self._clients: list[httpx.AsyncClient] = []
        self._queues: dict[str, deque[OutboundJob]] = {}
        self._ready: asyncio.Queue[str] = asyncio.Queue()
        self._timers: set[asyncio.TimerHandle] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._undecided = 0
        self._busy = 0
        self.on_failed: Callable[[OutboundJob, str], None] | None = None
        metrics.outbound_depth.set_function(self.pending)
        metrics.outbound_in_flight.set_function(lambda: self._busy)

    @property
    def clients(self) -> list[httpx.AsyncClient]:
        """The shared clients, made on first use (normally by the app's lifespan).

        One per ``SHARD`` workers, its pool as large as its workers and without a pool timeout:
        see the module docstring.
        """
        if not self._clients:
            workers = self._config.outbound_concurrency
            timeout = httpx.Timeout(self._config.outbound_timeout, pool=None)
            ssl = httpx.create_ssl_context()  # loading the CA bundle takes ~0.1 s: once
            for first in range(0, workers, SHARD):
                size = min(SHARD, workers - first)
                self._clients.append(
                    httpx.AsyncClient(
                        transport=self._transport,
                        verify=ssl,
                        timeout=timeout,
                        limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
                    )
                )
        return self._clients

    @property
    def client(self) -> httpx.AsyncClient:
        """The first of :attr:`clients`."""
        return self.clients[0]

    def pending(self) -> int:
        """Replies accepted but not yet decided (sent or given up)."""
        return self._undecided

    def admit(self, channel: str) -> None:
        """Raise a 503 ``outbox_full`` :class:`ApiError` if no further reply fits now."""
        limit = self._config.outbound_queue_limit
        if self._undecided >= limit:
            self._metrics.outbound_rejected.labels(channel).inc()
            raise ApiError(
                503,
                "outbox_full",
                f"the outbox holds {self._undecided} replies not yet delivered (limit {limit}); "
                "the platforms are slower than the replies: retry after the Retry-After seconds",
                headers={"Retry-After": "1"},
            )

    def submit(self, job: OutboundJob) -> None:
        """Queue a reply behind the conversation's earlier ones; returns at once.

        Call :meth:`admit` first: ``submit`` itself never refuses.
        """
        self._start_workers()
        job.accepted = time.monotonic()
        job.message.delivery = "queued"
        self._undecided += 1
        queue = self._queues.get(job.conversation_id)
        if queue is None:
            queue = self._queues[job.conversation_id] = deque()
            self._ready.put_nowait(job.conversation_id)
        queue.append(job)

    async def aclose(self) -> None:
        """Give queued replies ``shutdown_grace`` seconds, leave the rest queued in the store (the
        next start on the same store sends them), close the clients."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._config.shutdown_grace
        while self._undecided and loop.time() < deadline and self._workers:
            await asyncio.sleep(0.01)
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in self._workers:
            task.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers.clear()
        # What is still queued stays queued in the store: a gateway started again on a durable
        # store sends it (at least once across restarts); a memory store ends with the process.
        left = sum(len(queue) for queue in self._queues.values())
        if left:
            log.warning("outbound left queued at shutdown", extra={"fields": {"replies": left}})
        self._queues.clear()
        for client in self._clients:
            await client.aclose()
        self._clients.clear()

    # -- internals -------------------------------------------------------------------------

    def _start_workers(self) -> None:
        if not self._workers:
            loop = asyncio.get_running_loop()
            clients = self.clients
            self._workers = [
                loop.create_task(self._work(clients[n // SHARD]), name=f"outbound-{n}")
                for n in range(self._config.outbound_concurrency)
            ]

    async def _work(self, client: httpx.AsyncClient) -> None:
        while True:
            conversation_id = await self._ready.get()
            queue = self._queues[conversation_id]
            job = queue[0]
            self._busy += 1
            try:
                decision = await self._attempt(client, job)
            except asyncio.CancelledError:
                raise
            except Exception:  # never let one reply stop a worker
                log.exception(
                    "outbound worker error",
                    extra={"fields": {"conversation_id": conversation_id}},
                )
                decision = ("failed", "error", None)
            finally:
                self._busy -= 1
            self._decide(conversation_id, job, decision)

    async def _attempt(self, client: httpx.AsyncClient, job: OutboundJob) -> _Decision:
        """One call to the platform, and what follows from its outcome."""
        url, headers, body = build_request(
            self._config, job.protocol, job.address, job.message.text
        )
        try:
            response = await client.post(url, headers=headers, json=body)
        except httpx.PoolTimeout:
            return ("requeue", None, None)  # no connection yet: not an attempt
        except httpx.TimeoutException:
            reason = "timeout"
        except httpx.TransportError:
            reason = "connection"
        else:
            status = response.status_code
            reason = f"http_{status}"
            if status in RETRY_AFTER_STATUSES:
                wait = retry_after_seconds(response.headers.get("retry-after"))
                if wait is not None:
                    return self._count(job, reason, ("retry", reason, str(wait)))
            if 400 <= status < 500 and status != 429:
                return self._count(job, reason, ("failed", reason, None))
            if status < 400:
                error, platform_id = _platform_result(job.protocol, response)
                if error is not None:
                    return self._count(job, error, ("failed", error, None))
                return self._count(job, "ok", ("sent", None, platform_id))
        return self._count(job, reason, ("retry", reason, None))

    def _count(self, job: OutboundJob, result: str, decision: _Decision) -> _Decision:
        job.attempts += 1
        self._metrics.outbound_attempts.labels(job.channel, result).inc()
        return decision

    def _decide(self, conversation_id: str, job: OutboundJob, decision: _Decision) -> None:
        outcome, reason, extra = decision
        if outcome == "requeue":
            self._ready.put_nowait(conversation_id)
            return
        if outcome == "retry":
            assert reason is not None
            if job.attempts >= self._config.outbound_attempts:
                outcome = "failed"
            elif extra is not None:  # Retry-After
                if float(extra) > MAX_RETRY_AFTER:
                    outcome, reason = "failed", "retry_after_too_long"
                else:
                    self._retry_later(job, float(extra))
                    return
            else:
                self._retry_later(job, self._backoff(job.attempts))
                return
        queue = self._queues[conversation_id]
        queue.popleft()
        if outcome == "sent":
            self._sent(job, extra)
        else:
            self._fail(job, reason or "error")
            while queue:  # replies behind a failed one never overtake it: they fail with it
                self._fail(queue.popleft(), "earlier_failed")
        if queue:
            self._ready.put_nowait(conversation_id)
        else:
            del self._queues[conversation_id]

    def _backoff(self, attempts: int) -> float:
        ceiling = min(MAX_BACKOFF, self._config.outbound_backoff * 2 ** (attempts - 1))
        return self._rng.uniform(0.0, ceiling)

    def _retry_later(self, job: OutboundJob, delay: float) -> None:
        self._metrics.outbound_retries.labels(job.channel).inc()
        loop = asyncio.get_running_loop()

        def ready() -> None:
            self._timers.discard(timer)
            self._ready.put_nowait(job.conversation_id)

        timer = loop.call_later(delay, ready)
        self._timers.add(timer)

    def _sent(self, job: OutboundJob, platform_id: str | None) -> None:
        self._undecided -= 1
        job.message.delivery = "sent"
        job.message.platform_id = platform_id
        job.message.attempts = job.attempts
        self._store.update_message(job.conversation_id, job.message)
        self._metrics.outbound_sent.labels(job.channel).inc()
        self._metrics.outbound_delivery.labels(job.channel, "sent").observe(
            time.monotonic() - job.accepted
        )

    def _fail(self, job: OutboundJob, reason: str) -> None:
        self._undecided -= 1
        job.message.delivery = "failed"
        job.message.delivery_error = reason
        job.message.attempts = job.attempts
        self._store.update_message(job.conversation_id, job.message)
        self._metrics.outbound_failures.labels(job.channel, reason).inc()
        self._metrics.outbound_delivery.labels(job.channel, "failed").observe(
            time.monotonic() - job.accepted
        )
        log.warning(
            "outbound message failed",
            extra={
                "fields": {
                    "conversation_id": job.conversation_id,
                    "channel": job.channel,
                    "index": job.message.index,
                    "attempts": job.attempts,
                    "reason": reason,
                }
            },
        )
        if self.on_failed is not None:
            self.on_failed(job, reason)
