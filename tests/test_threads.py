"""sim.threads: numeric work held to one core."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_info
from threadwatch import other_threads_cpu

from sim.threads import hold_one_thread, one_thread

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
    before = [pool["num_threads"] for pool in threadpool_info()]
    with one_thread():
        assert all(pool["num_threads"] == 1 for pool in threadpool_info())
    assert [pool["num_threads"] for pool in threadpool_info()] == before


def _in_child(work: Callable[[], object]) -> object:
    """``work()`` in a forked child, its value sent back (the test process keeps its pools)."""
    fork = multiprocessing.get_context("fork")
    found = fork.Queue()
    child = fork.Process(target=lambda: found.put(work()))
    child.start()
    value = found.get(timeout=60)
    child.join(timeout=60)
    return value


def _forked_pools_stay_asleep() -> tuple[float, float, float]:
    """In a process holding one thread: what a forked child's one_thread block and hold, and
    this process's next one_thread block, cost the other threads."""

    def block() -> None:
        with one_thread():
            pass

    hold_one_thread()
    child = _in_child(lambda: (other_threads_cpu(block), other_threads_cpu(hold_one_thread)))
    assert isinstance(child, tuple)
    return (*child, other_threads_cpu(block))


def test_a_fork_does_not_wake_the_pools():
    """OpenBLAS stops its threads at a fork and starts them again when the thread count is
    next set, even to one; new threads spin, about 0.2 s of a core for numpy's and scipy's
    OpenBLAS. A runner's workers are forked from a process holding one thread, and each task
    used to set the count again: neither side may set it when it is already one."""
    in_child, held_in_child, after_fork = _in_child(_forked_pools_stay_asleep)  # type: ignore[misc]
    assert in_child < 0.03
    assert held_in_child < 0.03
    assert after_fork < 0.03


def test_a_runner_with_its_own_pool_holds_its_process_to_one_thread():
    def pools_after_a_pooled_run() -> list[int]:
        from threadpoolctl import threadpool_info

        from sim.runner import Runner, Traffic
        from sim.scenario import load_scenario

        small = load_scenario(Path(__file__).resolve().parent.parent / "scenarios" / "small.yaml")
        with Runner(Traffic(small, seed=1, replications=2), jobs=2) as runner:
            runner.run(small)
        return [pool["num_threads"] for pool in threadpool_info()]

    assert _in_child(pools_after_a_pooled_run) == [1] * len(threadpool_info())
