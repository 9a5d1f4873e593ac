"""The collector pause: nothing collected inside, survivors counted as old after, and chatsim's
bulk work leaving no cycles for the collector to find."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from sim.collector import collector_paused
from sim.model import simulate_trace
from sim.runner import Runner, Traffic
from sim.scenario import load_scenario
from sim.traffic import draw_trace

SMALL = Path(__file__).resolve().parents[1] / "scenarios" / "small.yaml"


class _Node:
    def __init__(self) -> None:
        self.other: _Node | None = None


@pytest.fixture
def collector_on() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.enable()
    gc.collect()
    yield
    if not enabled:
        gc.disable()


def _in_generation(obj: object, generation: int) -> bool:
    return any(o is obj for o in gc.get_objects(generation))


@pytest.mark.usefixtures("collector_on")
def test_the_pause_stops_collection_and_resumes_it() -> None:
    with collector_paused():
        assert not gc.isenabled()
        with collector_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause leaves the outer one alone
    assert gc.isenabled()
    gc.disable()
    with collector_paused():
        pass
    assert not gc.isenabled()  # a disabled collector stays disabled


@pytest.mark.usefixtures("collector_on")
def test_survivors_are_old_and_cycles_among_them_are_still_freed() -> None:
    with collector_paused():
        a, b = _Node(), _Node()
        a.other, b.other = b, a
        kept = [_Node() for _ in range(10)]
    assert _in_generation(kept[0], 2) and _in_generation(a, 2)
    assert not _in_generation(kept[0], 0)
    del a, b
    assert gc.collect(0) == 0  # old: a young collection does not look at them
    assert gc.collect() >= 2  # a full one frees the cycle


@pytest.mark.usefixtures("collector_on")
def test_someone_elses_frozen_objects_stay_frozen() -> None:
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with collector_paused():
            _ = [_Node() for _ in range(10)]
        assert gc.get_freeze_count() == frozen
    finally:
        gc.unfreeze()


def _garbage_of(work: object) -> list[object]:
    gc.collect()
    gc.disable()
    try:
        result = work()  # type: ignore[operator]
        del result
        gc.set_debug(gc.DEBUG_SAVEALL)
        gc.collect()
        found = list(gc.garbage)
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    return found


@pytest.mark.usefixtures("collector_on")
def test_a_run_leaves_no_cycles_behind_its_records() -> None:
    """The model cuts its cycle with the roster player when a run ends: what the collector
    still finds is SimPy's environment (a handful of objects), not one per conversation or
    agent. Without the cut it finds the model with every agent (hundreds of objects here)."""
    scenario = load_scenario(SMALL)
    trace = draw_trace(scenario, 3, texts=False)
    garbage = _garbage_of(lambda: simulate_trace(scenario, trace))
    assert len(garbage) < 20, sorted({type(o).__name__ for o in garbage})
    runner = Runner(Traffic(scenario, seed=3, replications=3))
    garbage = _garbage_of(lambda: runner.run(scenario, keep_first=True))
    assert len(garbage) < 60, sorted({type(o).__name__ for o in garbage})
