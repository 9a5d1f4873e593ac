"""Property test: whatever customers and agents do, the gateway's bookkeeping stays consistent.

Random sequences of messages, leaves, logins, logouts, replies and closes drive the
conversation service directly; after every step, routing's invariant (no waiting conversation
has an eligible agent), the agents' slot counts and the conversations' states must agree.
"""

from __future__ import annotations

from typing import Any

from gateway_helpers import FakeClock
from hypothesis import given, settings
from hypothesis import strategies as st

from sim.gateway.config import GatewayConfig
from sim.gateway.conversations import ConversationService
from sim.gateway.inbound import Inbound, InboundMessage
from sim.gateway.metrics import GatewayMetrics
from sim.gateway.outbound import Outbox
from sim.gateway.store import MemoryStore

CHANNELS = {"webchat": ("webchat", 0), "app": ("webchat", 2), "retail": ("webchat", 1)}
NAMES = list(CHANNELS)
AGENTS = ["a", "b", "c"]

operation = st.one_of(
    st.tuples(st.just("message"), st.integers(0, 5), st.sampled_from(NAMES)),
    st.tuples(st.just("leave"), st.integers(0, 5), st.sampled_from(NAMES)),
    st.tuples(
        st.just("login"),
        st.sampled_from(AGENTS),
        st.lists(st.sampled_from(NAMES), min_size=1, max_size=3, unique=True),
        st.integers(1, 3),
    ),
    st.tuples(st.just("logout"), st.sampled_from(AGENTS)),
    st.tuples(st.just("close"), st.sampled_from(AGENTS), st.integers(0, 2)),
    st.tuples(st.just("reply"), st.sampled_from(AGENTS), st.integers(0, 2)),
    st.tuples(st.just("tick"), st.floats(0.0, 5.0)),
)


def make_service(clock: FakeClock) -> ConversationService:
    config = GatewayConfig(channels=CHANNELS)
    store = MemoryStore()
    metrics = GatewayMetrics()
    return ConversationService(config, store, metrics, Outbox(config, metrics, store), clock)


def apply(service: ConversationService, clock: FakeClock, op: tuple[Any, ...], n: int) -> None:
    kind = op[0]
    if kind == "message":
        session = f"s{op[1]}"
        message = InboundMessage(
            session, None, "text", "text", f"m{n}", None, None, {"session": session}
        )
        service.receive(op[2], Inbound(messages=[message]))
    elif kind == "leave":
        service.receive(op[2], Inbound(closes=[f"s{op[1]}"]))
    elif kind == "login":
        service.login(op[1], op[2], op[3])
    elif kind == "tick":
        clock.tick(op[1])
    else:
        agent = service.agents.get(op[1])
        if agent is None:
            return
        if kind == "logout":
            service.logout(op[1])
            return
        conversations = list(agent.conversations)
        if not conversations:
            return
        cid = conversations[op[2] % len(conversations)]
        if kind == "close":
            service.close(cid, op[1])
        else:
            service.reply(cid, op[1], "ok", None)


def check(service: ConversationService) -> None:
    store = service.store
    conversations = list(store._conversations.values())  # type: ignore[attr-defined]
    for agent in service.agents.values():
        assert agent.active == len(agent.conversations)
        assert agent.accepting == (agent.state == "active")
        if agent.state == "gone":
            assert agent.active == 0
        for cid in agent.conversations:
            conversation = store.conversation(cid)
            assert conversation.state == "assigned" and conversation.agent_id == agent.id
    open_keys = set()
    for conversation in conversations:
        assert (conversation.state == "queued") == service.router.is_waiting(conversation.id)
        if conversation.state == "assigned":
            assert conversation.id in service.agents[conversation.agent_id].conversations
        if conversation.state in ("queued", "assigned"):
            key = (conversation.channel, conversation.customer_id)
            assert key not in open_keys, "two open conversations for one customer"
            open_keys.add(key)
            assert store.open_conversation(*key) is conversation
    for channel in CHANNELS:
        queued = [c for c in conversations if c.channel == channel and c.state == "queued"]
        assert service.router.waiting(channel) == len(queued)
        if queued:  # nobody who could take it is idle
            for agent in service.agents.values():
                assert not (
                    agent.state == "active"
                    and channel in agent.skills
                    and agent.active < agent.max_chats
                ), (channel, agent)
    assert sum(service.queue_lengths().values()) == sum(
        1 for c in conversations if c.state == "queued"
    )


@settings(max_examples=150, deadline=None)
@given(st.lists(operation, max_size=60))
def test_bookkeeping_stays_consistent(operations):
    clock = FakeClock()
    service = make_service(clock)
    for n, op in enumerate(operations):
        apply(service, clock, op, n)
        check(service)
