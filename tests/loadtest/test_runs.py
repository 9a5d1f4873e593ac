"""Later runs of one Locust process speak as new customers with new message ids, valid for
their protocols, and run 1 is the trace exactly as written."""

from __future__ import annotations

import base64
import json
import uuid
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sim.loadtest.payloads import customer_message
from sim.loadtest.runs import (
    CONVERSATIONS_PER_RUN,
    TURNS_PER_CONVERSATION,
    WORKER_SLOTS,
    UpdateIds,
    customer_id,
    for_run,
    message_serial,
)
from sim.protocols import PlatformCredentials
from sim.scenario import load_scenario
from sim.texts import Customer
from sim.traffic import draw_trace

SMALL = Path(__file__).resolve().parents[2] / "scenarios" / "small.yaml"

runs = st.integers(min_value=2, max_value=50)
digits = st.from_regex(r"\A[1-9][0-9]{8,11}\Z", fullmatch=True)


@given(digits, digits, runs)
def test_numeric_ids_stay_numbers_unique_and_new(a, b, run):
    for protocol in ("whatsapp", "telegram"):
        moved = customer_id(protocol, a, run)
        assert moved.isdigit() and moved != a
        assert (moved == customer_id(protocol, b, run)) == (a == b)
        assert moved != customer_id(protocol, a, run + 1)


@given(st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16), runs)
def test_viber_ids_stay_16_bytes_base64_unique_and_new(a, b, run):
    ida, idb = base64.b64encode(a).decode(), base64.b64encode(b).decode()
    moved = customer_id("viber", ida, run)
    assert len(base64.b64decode(moved, validate=True)) == 16 and moved != ida
    assert (moved == customer_id("viber", idb, run)) == (a == b)


@given(st.uuids(), runs)
def test_webchat_sessions_stay_uuids_and_new(session, run):
    moved = customer_id("webchat", str(session), run)
    assert uuid.UUID(moved) != session


def test_run_1_is_the_trace_as_written():
    scenario = load_scenario(SMALL)
    trace = draw_trace(scenario, 1)
    protocols = {name: c.protocol for name, c in scenario.channels.items()}
    assert for_run(trace, protocols, 1) is trace
    assert customer_id("telegram", "123456789", 1) == "123456789"
    assert message_serial(5, 3) == 5 * TURNS_PER_CONVERSATION + 3


def test_a_later_run_has_the_same_conversations_with_other_customers():
    scenario = load_scenario(SMALL)
    trace = draw_trace(scenario, 1)
    protocols = {name: c.protocol for name, c in scenario.channels.items()}
    second = for_run(trace, protocols, 2)
    assert [c.id for c in second] == [c.id for c in trace]
    assert [c.turns for c in second] == [c.turns for c in trace]
    first_ids = {c.customer.id for c in trace if c.customer}
    second_ids = [c.customer.id for c in second if c.customer]
    assert not first_ids & set(second_ids) and len(set(second_ids)) == len(first_ids)
    assert all(c.customer.name for c in second if c.customer)  # names are kept


@given(
    st.integers(0, CONVERSATIONS_PER_RUN - 1),
    st.integers(0, TURNS_PER_CONVERSATION - 1),
    st.integers(0, CONVERSATIONS_PER_RUN - 1),
    st.integers(0, TURNS_PER_CONVERSATION - 1),
    st.integers(1, 20),
    st.integers(1, 20),
)
def test_message_serials_never_repeat_across_runs(i, t, j, u, r, s):
    same = (i, t, r) == (j, u, s)
    assert (message_serial(i, t, r) == message_serial(j, u, s)) == same


def test_a_later_run_sends_other_message_ids():
    customer = Customer("79161234567", "Анна Петрова")
    credentials = PlatformCredentials.from_env()
    first = customer_message(credentials, "whatsapp", "wa", customer, "hi", 7, 0, 1.0)
    again = customer_message(credentials, "whatsapp", "wa", customer, "hi", 7, 0, 1.0, run=1)
    later = customer_message(credentials, "whatsapp", "wa", customer, "hi", 7, 0, 1.0, run=2)
    assert first.body == again.body and later.body != first.body


def telegram_ids(body: bytes) -> tuple[int, int]:
    update = json.loads(body)
    return update["update_id"], update["message"]["message_id"]


def test_telegram_update_ids_increase_in_send_order_across_conversations_and_runs():
    """Conversations interleave: ids follow the send order, not the conversation's position."""
    customer = Customer("123456789", "Анна Петрова")
    credentials = PlatformCredentials.from_env()
    sends = [(9, 0, 1), (2, 0, 1), (9, 1, 1), (0, 0, 2), (2, 1, 2)]  # (conversation, turn, run)
    hooks = [
        customer_message(credentials, "telegram", "tg", customer, "hi", c, t, 1.7e9 + n, r)
        for n, (c, t, r) in enumerate(sends)
    ]
    update_ids = [telegram_ids(hook.body)[0] for hook in hooks]
    assert update_ids == sorted(update_ids) and len(set(update_ids)) == len(hooks)
    # message ids still follow the conversation: a later turn of the same chat is a later id
    assert telegram_ids(hooks[2].body)[1] > telegram_ids(hooks[0].body)[1]


@given(
    st.lists(
        st.tuples(st.floats(1.6e9, 2.9e9), st.integers(0, WORKER_SLOTS - 1)),
        min_size=2,
        max_size=40,
    )
)
def test_update_ids_of_workers_never_collide_and_follow_the_clock(sends):
    """Two Locust processes (each with its own UpdateIds) sending at any times: no id twice,
    and an update sent a tick or more later by any worker has the larger id."""
    processes = [UpdateIds() for _ in range(WORKER_SLOTS)]
    ids = [processes[worker].next(now, worker) for now, worker in sorted(sends)]
    assert len(set(ids)) == len(ids)
    for (now_a, _), id_a in zip(sorted(sends), ids, strict=True):
        for (now_b, _), id_b in zip(sorted(sends), ids, strict=True):
            if now_b - now_a > 1e-4:  # well past the clock's tick, and any bump within a process
                assert id_b > id_a
    assert max(ids) < 2**53  # until 2064; 2.9e9 s is 2061


def test_one_process_never_repeats_an_update_id_even_when_the_clock_stands_still_or_goes_back():
    ids = UpdateIds()
    issued = [ids.next(t, 3) for t in (1.7e9, 1.7e9, 1.7e9, 1.6e9, 0.0)]
    assert issued == sorted(issued) and len(set(issued)) == 5
    assert all(i % WORKER_SLOTS == 3 for i in issued)
