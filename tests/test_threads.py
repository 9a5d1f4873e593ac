"""sim.threads: numeric work held to one core."""

from __future__ import annotations

import numpy as np
from threadwatch import other_threads_cpu

from sim.threads import one_thread

LONG = np.random.default_rng(1).uniform(size=2_000_000)


def _dots() -> None:
    for _ in range(5):
        np.dot(LONG, LONG)


def test_one_thread_keeps_blas_on_this_core():
    """Five dot products of two million numbers: unlimited, OpenBLAS spreads them over a thread
    per core and its threads spin on after (about 0.1-0.3 s of another core here); under
    one_thread the other threads stay idle. 30 ms allows the odd interpreter or test-runner
    thread."""

    def limited() -> None:
        with one_thread():
            _dots()

    assert other_threads_cpu(limited) < 0.03


def test_the_limit_ends_with_the_block():
    from threadpoolctl import threadpool_info

    before = [pool["num_threads"] for pool in threadpool_info()]
    with one_thread():
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert [pool["num_threads"] for pool in threadpool_info()] == before
