"""Runs: one Locust process may replay its trace more than once.

Locust's web UI keeps its process between tests: after a replay ends, "New" starts another test
in the same process. Each test is a *run* of the replay, numbered from 1, and is measured on its
own. A gateway remembers the customers and messages of the runs before (open webchat sessions
with their message indices, the message ids it deduplicates on), so the same customers sending
the same message ids again would meet that memory: replies from the earlier run would answer
them at once, and deduplicated messages would never reach an agent.

So run ``n`` speaks as new customers with new message ids: :func:`for_run` gives every customer
an id of its own run (still valid for its protocol: digits stay digits, Viber ids stay 16
base64-encoded bytes, webchat sessions stay UUIDs) and :func:`message_serial` moves the message
serials by the run. Run 1 is the trace as written, so a single run (``chatsim replay``) sends
exactly what the trace says.

Telegram's ``update_id`` is different: a bot may take the ids as a sequence (python-telegram-bot's
polling asks for updates after the last id it saw, and some bots drop an id lower than one they
have seen), so they must increase in the order the updates are sent, across every customer of
the bot, whichever Locust worker sends them. A serial per conversation cannot do that: the
conversations interleave. :class:`UpdateIds` derives them from the send's wall-clock time instead,
which also keeps them distinct across runs.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import threading
import uuid

from sim.trace import Trace

TURNS_PER_CONVERSATION = 64
"""Message serials per conversation (``index x 64 + turn``): room for 64 turns."""

CONVERSATIONS_PER_RUN = 1_000_000
"""Serials of one run cover this many conversations; run ``n`` starts after run ``n - 1``."""


def message_serial(conversation_index: int, turn: int, run: int = 1) -> int:
    """The serial of message ``turn`` of conversation ``conversation_index`` in ``run``: unique
    across the runs of one process, and the same for a retry of the same message."""
    return ((run - 1) * CONVERSATIONS_PER_RUN + conversation_index) * TURNS_PER_CONVERSATION + turn


def customer_id(protocol: str, id: str, run: int) -> str:
    """The id customer ``id`` has in ``run`` (its own in run 1)."""
    if run <= 1:
        return id
    if protocol in ("whatsapp", "telegram") and id.isdigit():
        # A phone number (wa_id) or a numeric user id: move it by whole decades, so it stays a
        # positive number and two runs' ranges never meet.
        decade = 10 ** max(len(id), 10)
        return str(int(id) + (run - 1) * decade)
    mask = hashlib.sha256(f"chatsim run {run}".encode()).digest()
    if protocol == "viber":
        try:
            raw = base64.b64decode(id, validate=True)
        except ValueError:
            raw = b""
        if len(raw) == 16:
            return base64.b64encode(bytes(a ^ b for a, b in zip(raw, mask, strict=False))).decode()
    return str(uuid.uuid5(uuid.UUID(bytes=mask[:16]), id))


def for_run(trace: Trace, protocols: dict[str, str], run: int) -> Trace:
    """``trace`` as run ``run`` plays it: the same conversations, each customer with its id of
    that run (the trace itself for run 1)."""
    if run <= 1:
        return trace
    conversations = []
    for conversation in trace:
        customer = conversation.customer
        if customer is not None:
            moved = customer_id(protocols[conversation.channel], customer.id, run)
            conversation = dataclasses.replace(
                conversation, customer=dataclasses.replace(customer, id=moved)
            )
        conversations.append(conversation)
    return Trace(trace.header, conversations)


UPDATE_ID_EPOCH = 1_577_836_800.0
"""2020-01-01 UTC: Telegram ``update_id`` ticks count from here."""

UPDATE_ID_TICK = 1e-5
"""Seconds per ``update_id`` tick (10 µs)."""

WORKER_SLOTS = 64
"""Locust workers that can send Telegram updates at once without their ids colliding."""


class UpdateIds:
    """Telegram update ids of one Locust process: increasing with send time across the
    bot, and unique across workers and runs.

    An id is ``tick x WORKER_SLOTS + worker``: ``tick`` counts 10 µs steps of the send's wall
    clock since :data:`UPDATE_ID_EPOCH`, and ``worker`` (the Locust worker index) is the low
    digits, so two workers never give the same id and ids from different workers still sort by
    send time (to the clocks' agreement). Within a process each id takes a tick after the last
    one even if the clock has not moved (or went back), so no two updates share an id. The ids
    stay below 2**53 (a double holds them exactly, as JavaScript and many JSON parsers need)
    until about 2064.

    An id is given when a webhook is built; a retry sends the built webhook again, with its id.
    """

    def __init__(self) -> None:
        self._last_tick = -1
        self._lock = threading.Lock()

    def next(self, now: float, worker: int = 0) -> int:
        """The id of an update sent at wall time ``now`` by Locust worker ``worker``."""
        if not 0 <= worker < WORKER_SLOTS:
            raise ValueError(
                f"worker index {worker}: Telegram update ids have room for {WORKER_SLOTS} workers"
            )
        tick = max(0, int((now - UPDATE_ID_EPOCH) / UPDATE_ID_TICK))
        with self._lock:
            tick = max(tick, self._last_tick + 1)
            self._last_tick = tick
        return tick * WORKER_SLOTS + worker


UPDATE_IDS = UpdateIds()
"""This process's Telegram update ids (every customer of a Locust process shares them)."""
