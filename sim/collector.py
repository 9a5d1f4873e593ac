"""Python's cyclic garbage collector around chatsim's bulk work.

A trace, a run's records and a measurement's rows are hundreds of thousands to millions of
small objects. The cyclic collector scans every tracked object of a generation each time that
generation is collected, and while bulk work allocates, collections come often and promote its
objects to the older generations, which are then rescanned again and again: a third of a
measurement's time, and on a day of a million conversations 40% of the model's
(``scripts/scale_bench.py``). So drawing a trace, playing it, measuring, aggregating and writing
run with the collector paused, and a runner pauses it over all its replications at once.

That is safe because the bulk work makes (almost) no reference cycles: the model cuts its one
big cycle when a run ends (:meth:`sim.model.Model.run`), so every run, record and trace is freed
by reference counting as soon as it is dropped. What is left when the collector resumes is
objects that are alive and will stay alive a while (a kept trace, the first run's records):
scanning them as young objects would find nothing to free and cost a quarter of a second on a
replication of tele2-weekday. So the outermost pause ends by moving every tracked object to the
oldest generation (:func:`gc.freeze` then :func:`gc.unfreeze`, two list splices): they are
scanned again only by a full collection, which still frees any cycle among them.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """No cyclic collection while the block runs; the collector resumes as it was after it,
    with what the block left alive counted as old."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            # Someone else's frozen objects must stay frozen: then leave the generations be.
            if gc.get_freeze_count() == 0:
                gc.freeze()
                gc.unfreeze()
            gc.enable()
