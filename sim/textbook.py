"""Textbook queues as chatsim scenarios: where theory knows the answer.

With one customer message, no reply work, exponential ``close_after`` as the service time and
exponential patience that a visible abandonment ends, a chat centre is M/M/n+M (Erlang A);
with patience that never runs out it is M/M/n (Erlang C); with ``max_chats`` k and no slowdown
it is M/M/(n k)+M. The benchmark and the tests that hold the model and the planner to theory
build their scenarios here.
"""

from __future__ import annotations

from typing import Any

from sim.durations import format_duration, parse_duration
from sim.scenario import Scenario, parse_scenario


def queue_data(
    agents: int,
    rate: float,
    handle: float,
    patience: float | None,
    *,
    intervals: int,
    interval: str = "1d",
    max_chats: int = 1,
    target: float | None = None,
    targets: dict[str, Any] | None = None,
    name: str = "mmn",
    group: str = "a",
) -> dict[str, Any]:
    """The scenario document: ``rate`` arrivals per second for ``intervals`` intervals,
    ``agents`` staffed throughout, mean service ``handle`` and mean ``patience`` (None: none)."""
    channel: dict[str, Any] = {
        "protocol": "webchat",
        "volume": rate * intervals * parse_duration(interval),
        "silent_abandon": False,
        "patience": {"dist": "exponential", "mean": patience}
        if patience
        else {"dist": "constant", "value": 1e9},
        "reply": {"dist": "constant", "value": 0},
        "close_after": {"dist": "exponential", "mean": handle},
    }
    if target is not None:
        channel["first_response_target"] = target
    data: dict[str, Any] = {
        "name": name,
        "duration": format_duration(parse_duration(interval) * intervals),
        "interval": interval,
        "channels": {"chat": channel},
        "agents": [
            {
                "group": group,
                "skills": ["chat"],
                "max_chats": max_chats,
                "staffing": [agents] * intervals,
            }
        ],
    }
    if parse_duration(interval) * intervals > 86400:
        data["start"] = "Mon 00:00"  # a horizon longer than a day begins on a weekday
    if targets is not None:
        data["targets"] = targets
    return data


def queue_scenario(
    agents: int, rate: float, handle: float, patience: float | None, **options: Any
) -> Scenario:
    """:func:`queue_data`, validated."""
    return parse_scenario(queue_data(agents, rate, handle, patience, **options))
