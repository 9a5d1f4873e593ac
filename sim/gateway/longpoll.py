"""Wake-ups for long-polls: a reader waits until something new arrives or its timeout ends.

The gateway runs on one event loop and changes its state only in synchronous code, so a reader
that finds nothing, takes the current :meth:`Signal.waiter` and awaits it cannot miss a
:meth:`Signal.fire` that happens afterwards (nothing runs between the check and the take).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class Signal:
    """A broadcast: :meth:`fire` wakes everyone waiting on the current generation."""

    __slots__ = ("_event",)

    def __init__(self) -> None:
        self._event = asyncio.Event()

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def waiter(self) -> asyncio.Event:
        return self._event


class Signals:
    """One :class:`Signal` per key (agent id, webchat session), made on first use."""

    def __init__(self) -> None:
        self._signals: dict[str, Signal] = {}

    def get(self, key: str) -> Signal:
        signal = self._signals.get(key)
        if signal is None:
            signal = self._signals[key] = Signal()
        return signal

    def fire(self, key: str) -> None:
        signal = self._signals.get(key)
        if signal is not None:
            signal.fire()

    def fire_all(self) -> None:
        for signal in self._signals.values():
            signal.fire()


async def long_poll(
    read: Callable[[], list[T]],
    signal: Signal,
    timeout: float,
    stopping: Callable[[], bool] = lambda: False,
) -> list[T]:
    """``read()`` at once, and again after each wake-up, until it is non-empty or time is up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(timeout, 0.0)
    while True:
        items = read()
        remaining = deadline - loop.time()
        if items or remaining <= 0 or stopping():
            return items
        waiter = signal.waiter()
        try:
            await asyncio.wait_for(waiter.wait(), remaining)
        except TimeoutError:
            return read()
