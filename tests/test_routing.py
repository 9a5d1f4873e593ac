"""Routing rules (docs/design.md, "Model semantics"), on the Router alone (no clock, no model)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sim.routing import RoutedAgent, Router, id_order


def make(
    router: Router[str, RoutedAgent], id: str, skills=("chat",), max_chats=2, now=0.0
) -> RoutedAgent:
    agent = RoutedAgent(id, skills, max_chats, now)
    router.login(agent, now)
    return agent


def test_fewest_active_chats_wins():
    router: Router[str, RoutedAgent] = Router({"chat": 0})
    a, b = make(router, "a"), make(router, "b")
    assert router.enqueue("c1", "chat", 1.0) is a  # tie on 0 active and login time: lowest id
    assert router.enqueue("c2", "chat", 2.0) is b  # b has fewer active chats than a
    assert router.enqueue("c3", "chat", 3.0) is a  # both at 1: a idle since 1.0, b since 2.0


def test_longest_idle_breaks_ties_before_id():
    router: Router[str, RoutedAgent] = Router({"chat": 0})
    make(router, "a", now=5.0)
    b = make(router, "b", now=1.0)
    assert router.enqueue("c1", "chat", 6.0) is b  # b idle since 1.0, longer than a


def test_lowest_id_is_natural_order_past_four_digits():
    router: Router[str, RoutedAgent] = Router({"chat": 0})
    make(router, "experts-10000")
    nine = make(router, "experts-9999")
    assert router.enqueue("c1", "chat", 1.0) is nine  # as strings, "experts-10000" < "experts-9999"


@given(
    st.lists(
        st.tuples(st.sampled_from(["experts-", "trainees-", "a", ""]), st.integers(0, 10**6)),
        min_size=1,
        max_size=20,
    )
)
def test_id_order_sorts_numbers_as_numbers(parts):
    ids = [f"{prefix}{number}" for prefix, number in parts]
    ordered = sorted(ids, key=id_order)
    assert ordered == sorted(
        ids, key=lambda i: (i.rstrip("0123456789"), int(i[len(i.rstrip("0123456789")) :]))
    )


def test_queue_is_priority_then_fifo():
    router: Router[str, RoutedAgent] = Router({"low": 0, "high": 5})
    for i, channel in enumerate(["low", "high", "low", "high"]):
        assert router.enqueue(f"c{i}", channel, float(i)) is None
    assert router.waiting() == 4 and router.waiting("high") == 2
    agent = RoutedAgent("a", ("low", "high"), 4)
    assert router.login(agent, 10.0) == ["c1", "c3", "c0", "c2"]
    assert router.waiting() == 0 and agent.active == 4


def test_max_chats_and_skills_are_respected():
    router: Router[str, RoutedAgent] = Router({"chat": 0, "mail": 0})
    agent = make(router, "a", skills=("chat",), max_chats=1)
    assert router.enqueue("c1", "chat", 0.0) is agent
    assert router.enqueue("c2", "chat", 0.0) is None  # at max_chats
    assert router.enqueue("m1", "mail", 0.0) is None  # no skill
    assert router.release(agent, 1.0) == ["c2"]  # the freed slot takes the waiting chat
    assert router.waiting("mail") == 1


def test_drain_stops_new_chats_and_login_resumes():
    router: Router[str, RoutedAgent] = Router({"chat": 0})
    agent = make(router, "a")
    router.drain(agent)
    assert router.enqueue("c1", "chat", 0.0) is None
    assert router.login(agent, 1.0) == ["c1"]


def test_removed_conversation_is_skipped():
    router: Router[str, RoutedAgent] = Router({"chat": 0})
    router.enqueue("c1", "chat", 0.0)
    router.enqueue("c2", "chat", 0.0)
    assert router.remove("c1") and not router.remove("c1")
    assert router.waiting_items("chat") == ["c2"]
    agent = RoutedAgent("a", ("chat",), 3)
    assert router.login(agent, 1.0) == ["c2"]


def test_unknown_skill_and_bad_release_are_errors():
    router: Router[str, RoutedAgent] = Router({"chat": 0})
    with pytest.raises(ValueError, match="unknown channel"):
        router.login(RoutedAgent("a", ("viber",), 1), 0.0)
    agent = make(router, "b")
    with pytest.raises(ValueError, match="no active"):
        router.release(agent, 0.0)
