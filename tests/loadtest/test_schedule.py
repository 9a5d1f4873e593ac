"""The dispatcher's schedule and the partition of a trace across Locust workers."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from sim.loadtest.schedule import owner, releases, wall_time
from sim.trace import BotOutcome, Conversation, Trace, TraceHeader, Turn


def make_trace(rows: list[tuple[float, bool | None, float]]) -> Trace:
    conversations = []
    for i, (t, contained, bot_time) in enumerate(sorted(rows, key=lambda r: r[0])):
        bot = None if contained is None else BotOutcome(contained, bot_time)
        conversations.append(
            Conversation(f"c{i:05d}", "chat", t, None, bot, 60.0, 0.0, (Turn("", 0.0, 1.0),))
        )
    return Trace(TraceHeader("t", "", 1, "00:00", 3600.0), conversations)


rows = st.lists(
    st.tuples(st.floats(0, 3600), st.one_of(st.none(), st.booleans()), st.floats(0, 120)),
    max_size=80,
)


@settings(max_examples=200, deadline=None)
@given(rows, st.integers(1, 6))
def test_partition_is_complete_and_disjoint(data, workers):
    trace = make_trace(data)
    shares = [releases(trace, w, workers) for w in range(workers)]
    indexes = [r.index for share in shares for r in share]
    assert len(indexes) == len(set(indexes))  # disjoint: nobody plays a conversation twice
    reaching = {i for i, c in enumerate(trace) if not (c.bot and c.bot.contained)}
    assert set(indexes) == reaching  # complete: every conversation that reaches the gateway
    for w, share in enumerate(shares):
        assert all(owner(r.index, workers) == w for r in share)
        assert [r.at for r in share] == sorted(r.at for r in share)


def test_release_time_is_queue_entry_and_contained_are_skipped():
    trace = make_trace([(10.0, None, 0.0), (20.0, False, 30.0), (30.0, True, 5.0)])
    share = releases(trace)
    assert [(r.conversation.id, r.at) for r in share] == [("c00000", 10.0), ("c00001", 50.0)]


def test_wall_time_is_absolute():
    # The 1000th release is due exactly at t0 + t/speedup, however late earlier ones were.
    assert wall_time(100.0, 3600.0, 60.0) == 160.0
    assert wall_time(100.0, 0.0, 60.0) == 100.0
