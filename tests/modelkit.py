"""Building blocks for model tests: tiny scenarios and hand-written traces."""

from __future__ import annotations

from typing import Any

from sim.scenario import Scenario, parse_scenario
from sim.trace import BotOutcome, Conversation, Trace, TraceHeader, Turn


def scenario(
    channels: dict[str, dict[str, Any]] | None = None,
    agents: list[dict[str, Any]] | None = None,
    **top: Any,
) -> Scenario:
    """A scenario with sensible defaults: one webchat channel, one agent all day."""
    base: dict[str, Any] = {
        "name": "test",
        "duration": "1h",
        "interval": "15m",
        "channels": channels
        or {
            "chat": {
                "protocol": "webchat",
                "volume": 10,
                "silent_abandon": False,
                "patience": {"dist": "constant", "value": "1h"},
                "reply": {"dist": "constant", "value": 10},
            }
        },
        "agents": agents
        or [{"group": "a", "skills": ["chat"], "max_chats": 1, "staffing": [1, 1, 1, 1]}],
    }
    base.update(top)
    return parse_scenario(base)


def conversation(
    id: str,
    t: float,
    replies: list[float] | tuple[float, ...] = (10.0,),
    *,
    channel: str = "chat",
    thinks: list[float] | None = None,
    patience: float = 1e6,
    close_after: float = 0.0,
    bot: tuple[bool, float] | None = None,
) -> Conversation:
    thinks = thinks or [0.0] * len(replies)
    turns = tuple(Turn("", think, reply) for think, reply in zip(thinks, replies, strict=True))
    return Conversation(
        id, channel, t, None, BotOutcome(*bot) if bot else None, patience, close_after, turns
    )


def trace(*conversations: Conversation, duration: float = 3600.0) -> Trace:
    ordered = sorted(conversations, key=lambda c: c.t)
    return Trace(TraceHeader("test", "", 0, "00:00", duration), ordered)
