"""Wake-ups for long-polls: a reader waits until something new arrives or its timeout ends.

The gateway runs on one event loop and changes its state only in synchronous code, so a reader
that finds nothing, takes the current :meth:`Signal.waiter` and awaits it cannot miss a
:meth:`Signal.fire` that happens afterwards (nothing runs between the check and the take).

A :class:`Signals` holds a signal only while someone waits on it: what is new lives in the
store, and a reader always reads before it waits, so a fire with nobody waiting has nothing to
wake and is dropped. A poll on a key the gateway has never heard of (a made-up webchat session)
therefore leaves nothing behind once it returns.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


class Signal:
    """A broadcast: :meth:`fire` wakes everyone waiting on the current generation."""

    __slots__ = ("_event", "waiting")

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self.waiting = 0

    def fire(self) -> None:
        self._event.set()
        self._event = asyncio.Event()

    def waiter(self) -> asyncio.Event:
        return self._event


class Signals:
    """One :class:`Signal` per key (agent id, webchat session) that has a reader waiting."""

    def __init__(self) -> None:
        self._signals: dict[str, Signal] = {}

    def __len__(self) -> int:
        return len(self._signals)

    @contextmanager
    def watch(self, key: str) -> Iterator[Signal]:
        """The key's signal for as long as the ``with`` block waits on it."""
        signal = self._signals.get(key)
        if signal is None:
            signal = self._signals[key] = Signal()
        signal.waiting += 1
        try:
            yield signal
        finally:
            signal.waiting -= 1
            if signal.waiting == 0:
                del self._signals[key]

    def fire(self, key: str) -> None:
        signal = self._signals.get(key)
        if signal is not None:
            signal.fire()

    def fire_all(self) -> None:
        for signal in self._signals.values():
            signal.fire()


async def long_poll(
    read: Callable[[], list[T]],
    signals: Signals,
    key: str,
    timeout: float,
    stopping: Callable[[], bool] = lambda: False,
) -> list[T]:
    """``read()`` at once, and again after each wake-up of ``key``, until it is non-empty or
    time is up."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + max(timeout, 0.0)
    items = read()
    if items or timeout <= 0 or stopping():
        return items
    with signals.watch(key) as signal:
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return read()
            try:
                await asyncio.wait_for(signal.waiter().wait(), remaining)
            except TimeoutError:
                return read()
            items = read()
            if items or stopping():
                return items
