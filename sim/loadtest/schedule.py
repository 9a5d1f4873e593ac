"""When each conversation starts, and which Locust worker owns it.

The dispatcher releases conversation ``c`` at the absolute wall time
``t0 + c.queue_entry / speedup``: an open workload, so a slow gateway never slows the arrivals
(Locust's users alone would be a closed loop). The bot plays upstream of the gateway: a
conversation the bot contained never reaches it, the others arrive after the bot's time.

In distributed mode every conversation belongs to exactly one worker, so its customer is one
greenlet on one machine: conversation number ``i`` (in trace order) goes to worker
``i mod workers``.
"""

from __future__ import annotations

from dataclasses import dataclass

from sim.trace import Conversation, Trace


@dataclass(frozen=True, slots=True)
class Release:
    """One conversation to start: its position in the trace, and when (scenario seconds)."""

    index: int
    at: float
    conversation: Conversation


def owner(index: int, workers: int) -> int:
    """The worker that owns conversation number ``index``."""
    return index % workers


def releases(trace: Trace, worker: int = 0, workers: int = 1) -> list[Release]:
    """The conversations ``worker`` starts, in the order it starts them.

    Bot-contained conversations are left out (they never reach the gateway).
    """
    if workers < 1 or not 0 <= worker < workers:
        raise ValueError(f"worker {worker} of {workers} does not exist")
    mine = [
        Release(i, c.queue_entry, c)
        for i, c in enumerate(trace.conversations)
        if owner(i, workers) == worker and not (c.bot is not None and c.bot.contained)
    ]
    mine.sort(key=lambda r: (r.at, r.index))
    return mine


def wall_time(t0: float, at: float, speedup: float) -> float:
    """The wall-clock time of scenario time ``at`` (absolute: no drift accumulates)."""
    return t0 + at / speedup
