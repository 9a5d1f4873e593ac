"""Python's cyclic garbage collector around chatsim's bulk work.

A trace, a run's records and a measurement's rows are hundreds of thousands to millions of
small objects. The cyclic collector scans every tracked object of a generation each time that
generation is collected, and while bulk work allocates, collections come often and promote its
objects to the older generations, which are then rescanned again and again: a third of a
measurement's time, and on a day of a million conversations 40% of the model's
(``scripts/scale_bench.py``). So drawing a trace, playing it, measuring, aggregating and writing
run with the collector paused. Only the model makes reference cycles (SimPy's events and
processes point at each other until they are done); they are all young when the collector
resumes, and its first collection, of the young generation only, frees them. The peak memory
of a run does not change (the measurement, after the model, is the peak).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection while the block runs; the collector resumes as it was after it."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
