"""scripts/run_cost.py keeps working: every phase it times is still where the simulate command
looks it up, and one replication is timed phase by phase (no timings are asserted)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "run_cost.py"


def test_one_replication_is_timed_phase_by_phase(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("run_cost", SCRIPT)
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    import sim.runner

    original = sim.runner.simulate_trace
    total, phases = bench.timed_phases(1, 1, tmp_path)
    assert sim.runner.simulate_trace is original  # put back
    assert list(phases) == [name for name, _, _ in bench.PHASES]
    assert all(seconds > 0 for seconds in phases.values()), phases  # each was called
    assert sum(phases.values()) < total  # the phases do not overlap
    records = (tmp_path / "conversations.jsonl").read_text().splitlines()
    assert len(records) == bench.conversations(1) > 1000  # the same trace, drawn again
