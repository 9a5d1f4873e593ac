"""The messages between the replay's master and workers survive Locust's transport (plain
data, msgpack) as the same typed messages."""

from __future__ import annotations

import msgpack
import pytest

from sim.errors import InputError
from sim.loadtest.emulator import Outbound
from sim.loadtest.messages import Left, Plan, Ready, Records, Reply
from sim.loadtest.raw import CustomerRecord

MESSAGES = [
    Ready(),
    Plan(t0=1_700_000_000.5, workers=3, run=2, deadline=1_700_000_600.0),
    Reply(Outbound("telegram:123456789", "Ответ 1", 1_700_000_001.25)),
    Left("viber:gHgt0wr4WAr5CQJ2tAqeKg=="),
    Records(
        [
            CustomerRecord(
                4,
                "c00004",
                "wa",
                "whatsapp:79161234567",
                [1.0, 2.0],
                [1.0, 2.0],
                [1.5],
                3.0,
                0.004,
                ["no reply to message 2 before the safety limit"],
                [3.0, 4.5],
            )
        ],
        ["webhook/whatsapp: HTTP 503"],
        run=2,
    ),
    Records(problems=["no plan came from the master"]),
]


@pytest.mark.parametrize("message", MESSAGES, ids=lambda m: m.kind)
def test_a_message_round_trips_through_locust_transport(message):
    # Locust's rpc packs a message's data with msgpack (tuples become lists, for instance).
    carried = msgpack.unpackb(msgpack.packb(message.to_dict(), use_bin_type=True), raw=False)
    assert type(message).from_dict(carried) == message


def test_message_kinds_are_locust_message_types():
    assert [m.kind for m in MESSAGES[:5]] == ["ready", "plan", "reply", "left", "records"]


def test_a_malformed_message_names_the_key():
    with pytest.raises(InputError) as error:
        Plan.from_dict({"t0": "soon", "workers": 2})
    assert error.value.key == "plan.t0"
    with pytest.raises(InputError) as error:
        Records.from_dict({"customers": [{"index": 0}], "acks": [], "problems": []})
    assert error.value.key == "records.customers[0].id"
    with pytest.raises(InputError) as error:
        Reply.from_dict({"key": "telegram:1", "text": "hi", "received": "now"})
    assert error.value.key == "reply.received"
    assert error.value.problem == "expected a number, got a string"
