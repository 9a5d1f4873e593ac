"""Later runs of one Locust process speak as new customers with new message ids, valid for
their protocols, and run 1 is the trace exactly as written."""

from __future__ import annotations

import base64
import uuid
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from sim.loadtest.payloads import customer_message
from sim.loadtest.runs import (
    CONVERSATIONS_PER_RUN,
    TURNS_PER_CONVERSATION,
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
    customer = Customer("123456789", "Анна Петрова")
    credentials = PlatformCredentials.from_env()
    first = customer_message(credentials, "telegram", "tg", customer, "hi", 7, 0, 1.0)
    again = customer_message(credentials, "telegram", "tg", customer, "hi", 7, 0, 1.0, run=1)
    later = customer_message(credentials, "telegram", "tg", customer, "hi", 7, 0, 1.0, run=2)
    assert first.body == again.body and later.body != first.body
