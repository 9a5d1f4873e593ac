"""What the SDK tests share: every webhook the replay builds. The SDKs' own HTTP clients (httpx,
requests) call the provider emulator over loopback: :func:`livekit.serve_emulator`."""

from __future__ import annotations

from dataclasses import dataclass

from sim.loadtest.payloads import Webhook, customer_message
from sim.loadtest.runs import customer_id, message_serial
from sim.protocols import PlatformCredentials
from sim.texts import Customer, TextSource

CREDENTIALS = PlatformCredentials()
START = 1_780_000_000.0  # a send time in 2026


@dataclass(frozen=True)
class Sent:
    """One webhook the replay built, and what it must read as."""

    customer: Customer
    text: str
    serial: int
    hook: Webhook


def replayed(protocol: str, conversations: int = 5, turns: int = 3) -> list[Sent]:
    """Every message of ``conversations`` conversations of ``turns`` turns each, as the replay
    sends them: first messages and follow-ups, in runs 1 and 2 (new customer ids), by two
    workers, interleaved in send order. One customer has a one-word name."""
    source = TextSource(seed=12, locale="ru_RU")
    people = []
    for index in range(conversations):
        customer, female = source.customer(protocol)
        if index == 0:
            customer = Customer(customer.id, customer.name.split()[0])
        people.append((customer, source.texts(turns, female)))
    sent = []
    now = START
    for run in (1, 2):
        for turn in range(turns):
            for index, (customer, texts) in enumerate(people):
                moved = Customer(customer_id(protocol, customer.id, run), customer.name)
                hook = customer_message(
                    CREDENTIALS,
                    protocol,
                    protocol,
                    moved,
                    texts[turn],
                    index,
                    turn,
                    now,
                    run,
                    worker=index % 2,
                )
                sent.append(Sent(moved, texts[turn], message_serial(index, turn, run), hook))
                now += 0.25
    return sent
