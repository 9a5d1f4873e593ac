"""Customers of the replay: one greenlet per conversation, speaking its channel's protocol.

A customer sends message 1 as a native signed webhook, waits for the agent's reply (from the
provider emulator for messengers, by long-polling the gateway for webchat), thinks
``turn.think / speedup``, sends the next message, and so on. It gives up when its patience
(``patience / speedup`` from the first message) runs out before the first reply: on webchat it
sends the close event, on messengers it just goes (and the harness tells the emulated agents,
out of band, so that they close the conversation as the model's agents do).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import gevent
import gevent.queue

from sim.loadtest.emulator import Outbound
from sim.loadtest.live import FIRST_RESPONSE, IN_SESSION, MISSED
from sim.loadtest.payloads import Webhook, customer_key, customer_message, webchat_close
from sim.loadtest.raw import CustomerRecord
from sim.loadtest.schedule import Release
from sim.protocols import PlatformCredentials


class Mailbox:
    """Replies that reached the provider emulator, waiting for their customers (one per worker)."""

    def __init__(self) -> None:
        self._boxes: dict[str, gevent.queue.Queue] = {}

    def open(self, key: str) -> gevent.queue.Queue:
        box: gevent.queue.Queue = gevent.queue.Queue()
        self._boxes[key] = box
        return box

    def close(self, key: str) -> None:
        self._boxes.pop(key, None)

    def put(self, message: Outbound) -> None:
        box = self._boxes.get(message.key)
        # No box: the customer has gone (silent abandonment) or finished, nobody waits for it.
        if box is not None:
            box.put(message)


@dataclass(slots=True)
class CustomerContext:
    """What every customer of one worker shares."""

    credentials: PlatformCredentials
    protocols: dict[str, str]
    silent: dict[str, bool]
    speedup: float
    post: Callable[[Webhook, str, CustomerRecord], float | None]
    """``post(webhook, name, record)``: send until acknowledged (:class:`~.worker.Worker`);
    the acknowledging attempt's latency, or None when the gateway never acknowledged it."""
    poll_webchat: Callable[[str, int, float], tuple[int, float] | None]
    mailbox: Mailbox
    notify_left: Callable[[str], None]
    report: Callable[[str, str, float | None], None]
    """``report(channel, kind, delay)``: a KPI event (:mod:`sim.loadtest.live`)."""
    deadline: float
    run: int = 1
    """Which run of the Locust process plays (message ids differ per run: :mod:`.runs`)."""
    worker: int = 0
    """The Locust worker index (0 in a single process): Telegram update ids carry it."""


def play(release: Release, context: CustomerContext, record: CustomerRecord) -> None:
    """Play one conversation to its end (answered, given up, or the safety deadline)."""
    conversation = release.conversation
    customer = conversation.customer
    if customer is None:
        raise ValueError(
            f"conversation {conversation.id} has no customer: replay needs a trace with texts"
        )
    protocol = context.protocols[conversation.channel]
    speedup = context.speedup
    box = context.mailbox.open(record.key) if protocol != "webchat" else None
    after = 0
    try:
        for turn_number, turn in enumerate(conversation.turns):
            if turn_number > 0:
                gevent.sleep(turn.think / speedup)
            hook = customer_message(
                context.credentials,
                protocol,
                conversation.channel,
                customer,
                turn.text or "…",
                release.index,
                turn_number,
                time.time(),
                context.run,
                context.worker,
            )
            sent = time.time()
            record.sent.append(sent)
            latency = context.post(hook, f"webhook/{protocol}", record)
            if latency is None:
                record.failures.append(f"message {turn_number + 1} not acknowledged")
                return
            record.acked.append(sent)
            record.ack_ms.append(latency * 1000.0)
            if turn_number == 0:
                deadline = sent + conversation.patience / speedup
            else:
                deadline = context.deadline
            if box is not None:
                received = _await_reply(box, deadline)
            else:
                answer = context.poll_webchat(customer.id, after, deadline)
                received = None
                if answer is not None:
                    after, received = answer
            if received is None:
                if turn_number == 0:
                    record.left_at = deadline
                    context.report(conversation.channel, MISSED, None)
                    if context.silent[conversation.channel]:
                        context.notify_left(record.key)
                    elif (
                        context.post(
                            webchat_close(customer, conversation.channel),
                            "webhook/webchat close",
                            record,
                        )
                        is None
                    ):
                        record.failures.append("the webchat close event was not acknowledged")
                else:
                    record.failures.append(
                        f"no reply to message {turn_number + 1} before the safety limit"
                    )
                return
            record.replies.append(received)
            delay = (received - sent) * speedup
            context.report(
                conversation.channel, FIRST_RESPONSE if turn_number == 0 else IN_SESSION, delay
            )
    finally:
        if box is not None:
            context.mailbox.close(record.key)


def _await_reply(box: gevent.queue.Queue, deadline: float) -> float | None:
    """When the reply reached the provider emulator, if that was by ``deadline``.

    The emulator's timestamp decides, not when the message got here: in distributed mode a
    reply the platform received in time may be forwarded to this worker a little later.
    """
    try:
        reply: Outbound = box.get(timeout=max(0.0, deadline - time.time()))
    except gevent.queue.Empty:
        try:
            reply = box.get(timeout=0.05)  # one forwarding hop of grace, judged by timestamp
        except gevent.queue.Empty:
            return None
    return reply.received if reply.received <= deadline else None


def key_of(release: Release, protocols: dict[str, str]) -> str:
    conversation = release.conversation
    assert conversation.customer is not None
    return customer_key(protocols[conversation.channel], conversation.customer.id)
