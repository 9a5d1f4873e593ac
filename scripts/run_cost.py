"""What a ``chatsim simulate`` costs beyond the model: tele2-weekday, in one process.

    python scripts/run_cost.py [--repeat 3] [--replications 3]

Prints (best of ``--repeat``; machines here are shared and noisy, so read ratios):

* the share of ``chatsim simulate SCENARIO -n 3 --out DIR`` spent outside the model: the
  command's body (draw, model, measure, aggregate, table, write) timed in this process, the
  model timed around each ``simulate_trace`` call (imports are not counted: they are paid once
  per process whatever the run), the time outside the model by phase (:data:`PHASES`), and
  both per conversation played (a figure that, unlike the share, does not grow when the model
  gets faster);
* the ``-j 2`` speedup of the same command on 10 replications (``-j 1`` time / ``-j 2`` time),
  beside the most ``-j 2`` could give on this machine (``-j 1`` time over that of a bare pool
  of two processes playing the same replications, :func:`bare_pool`), best of ``--repeat``
  interleaved rounds and round by round (on a shared machine both swing from one round to the
  next: read the speedup against the bare pool of its own round), and how much longer ``-j 2``
  takes than the bare pool (median of the rounds: the command's own cost in parallel),
  and with ``--scheduler local -j 2`` (a Dask LocalCluster of 2 workers, its start included,
  and the start of such a cluster alone);
* the peak resident memory of a process that ran one replication with ``--out`` (VmHWM),
  and of one that only imported chatsim; with ``--big N`` also of one replication of
  tele2-weekday at N times its volume (the same agents: most customers leave unanswered, but
  every conversation is drawn, recorded, measured and written).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

SCENARIO = Path(__file__).resolve().parent.parent / "scenarios" / "tele2-weekday.yaml"


def _simulate_command() -> Callable[..., None]:
    from sim.cli.simulate import simulate

    return simulate


PHASES = (
    ("model", "sim.runner", "simulate_trace"),
    ("drawing", "sim.runner", "draw_trace"),
    ("measuring", "sim.runner", "measure"),
    ("aggregating", "sim.experiment", "aggregate"),
    ("writing records", "sim.cli.simulate", "write_records"),
    ("writing results", "sim.cli.simulate", "write_results"),
)
"""Each timed phase: the name of the function the simulate command calls it through."""


def timed_simulate(
    replications: int, jobs: int, out: Path, scheduler: str | None = None
) -> tuple[float, float]:
    """Wall time of the simulate command's body and the part of it inside ``simulate_trace``
    (in this process: with ``jobs > 1`` the model runs in the workers and is not counted)."""
    total, phases = timed_phases(replications, jobs, out, scheduler)
    return total, phases["model"]


def timed_phases(
    replications: int, jobs: int, out: Path, scheduler: str | None = None
) -> tuple[float, dict[str, float]]:
    """Wall time of the simulate command's body and of each of :data:`PHASES` within it (in
    this process), each function wrapped where the command looks it up."""
    import importlib

    spent = dict.fromkeys((name for name, _, _ in PHASES), 0.0)
    originals = []
    simulate = _simulate_command()
    for name, module_name, attribute in PHASES:
        module = importlib.import_module(module_name)
        original = getattr(module, attribute)
        originals.append((module, attribute, original))
        setattr(module, attribute, _timing(original, name, spent))
    try:
        start = time.perf_counter()
        with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            simulate(
                SCENARIO,
                trace=None,
                replications=replications,
                seed=1,
                jobs=jobs,
                scheduler=scheduler,
                out=out,
                report=None,
            )
        total = time.perf_counter() - start
    finally:
        for module, attribute, original in originals:
            setattr(module, attribute, original)
    return total, spent


def _timing(function: Callable[..., Any], name: str, spent: dict[str, float]) -> Any:
    def timed(*args: Any, **kwargs: Any) -> Any:
        start = time.perf_counter()
        try:
            return function(*args, **kwargs)
        finally:
            spent[name] += time.perf_counter() - start

    return timed


def _one_replication(replication: int) -> None:
    from sim.kpi import measure
    from sim.model import simulate_trace
    from sim.scenario import load_scenario
    from sim.traffic import draw_trace

    scenario = load_scenario(SCENARIO)
    measure(simulate_trace(scenario, draw_trace(scenario, 1, replication, texts=False)), scenario)


def bare_pool(replications: int) -> float:
    """Wall time of a plain pool of two forked processes (``multiprocessing.Pool``) playing
    and measuring ``replications`` replications, one task each, with nothing around them.

    This is what ``-j 2`` could take on this machine at best: the same replications in the
    same number of tasks (so the same last-round imbalance), on two cores that share the
    machine's memory and caches with each other and with its other tenants; only the
    command's own work (the scenario, the records and results written, the aggregation) is
    left out."""
    import multiprocessing

    fork = multiprocessing.get_context("fork")
    start = time.perf_counter()
    with fork.Pool(2) as pool:
        pool.map(_one_replication, range(replications), chunksize=1)
    return time.perf_counter() - start


def conversations(replications: int) -> int:
    """The conversations ``simulate -n replications`` plays (seed 1): its traces drawn again."""
    from sim.scenario import load_scenario
    from sim.traffic import draw_trace

    scenario = load_scenario(SCENARIO)
    return sum(len(draw_trace(scenario, 1, r, texts=False)) for r in range(replications))


def cluster_start() -> float:
    """Wall time to start and stop a LocalCluster of 2 workers with its client, as
    ``--scheduler local -j 2`` does."""
    from sim.cli.cluster import executor_for

    start = time.perf_counter()
    with contextlib.redirect_stderr(io.StringIO()), executor_for("local", 2):
        pass
    return time.perf_counter() - start


def peak_rss(mode: str) -> float:
    """Peak resident MiB of a child process running ``mode`` (``import`` or ``one``)."""
    found = subprocess.run(
        [sys.executable, __file__, "--child", mode], check=True, capture_output=True, text=True
    )
    return float(found.stdout.strip().splitlines()[-1])


def child(mode: str) -> None:
    simulate = _simulate_command()
    if mode.startswith("big"):
        from sim.experiment import run_experiment
        from sim.results import write_results
        from sim.scenario import load_scenario

        scale = float(mode[3:])
        scenario = load_scenario(SCENARIO)
        channels = {
            name: channel.model_copy(update={"volume": channel.mean_volume * scale})
            for name, channel in scenario.channels.items()
        }
        scenario = scenario.model_copy(update={"channels": channels})
        with tempfile.TemporaryDirectory() as out:
            experiment = run_experiment(scenario, replications=1, seed=1)
            write_results(experiment.results, out, experiment.first_run.conversations)
            print(len(experiment.first_run.conversations))
    if mode == "one":
        with tempfile.TemporaryDirectory() as out, contextlib.redirect_stdout(io.StringIO()):
            simulate(
                SCENARIO, trace=None, replications=1, seed=1, jobs=1, out=Path(out), report=None
            )
    print(_peak_mib())


def _peak_mib() -> float:
    """This process's peak resident MiB: VmHWM where Linux has it (getrusage's ru_maxrss keeps
    the parent's peak across fork and exec, so a child started by a large process reports at
    least the parent's size), else ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return float(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--replications", type=int, default=3)
    parser.add_argument("--parallel-replications", type=int, default=10)
    parser.add_argument("--big", type=float, help="also one replication at N times the volume")
    parser.add_argument("--child")
    args = parser.parse_args()
    if args.child:
        child(args.child)
        return
    _simulate_command()  # imports first, outside every timing
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        timed_simulate(1, 1, out)  # warm caches (scenario parsing, numpy, scipy)
        best: tuple[float, dict[str, float]] | None = None
        for _ in range(args.repeat):
            total, phases = timed_phases(args.replications, 1, out)
            if best is None or 1 - phases["model"] / total < 1 - best[1]["model"] / best[0]:
                best = (total, phases)
        assert best is not None
        total, phases = best
        model = phases["model"]
        print(
            f"simulate tele2-weekday -n {args.replications}: {total:.2f} s, model {model:.2f} s, "
            f"outside the model {total - model:.2f} s = {(total - model) / total:.1%} "
            f"(best of {args.repeat})"
        )
        named = sum(seconds for name, seconds in phases.items() if name != "model")
        parts = ", ".join(
            f"{name} {seconds:.3f}" for name, seconds in phases.items() if name != "model"
        )
        print(f"  outside the model, s: {parts}, the rest {total - model - named:.3f}")
        played = conversations(args.replications)
        print(
            f"  per conversation ({played:,} played): outside the model "
            f"{(total - model) / played * 1e6:.1f} µs, the model {model / played * 1e6:.1f} µs"
        )
        n = args.parallel_replications
        serial, parallel, dask, start, bare = [], [], [], [], []
        for _ in range(args.repeat):  # interleaved rounds, so that each sees the same machine
            serial.append(timed_simulate(n, 1, out)[0])
            parallel.append(timed_simulate(n, 2, out)[0])
            bare.append(bare_pool(n))
            dask.append(timed_simulate(n, 2, out, scheduler="local")[0])
            start.append(cluster_start())
        print(
            f"simulate -n {n}: -j 1 {min(serial):.2f} s, -j 2 {min(parallel):.2f} s, "
            f"speedup {min(serial) / min(parallel):.2f}x (best of {args.repeat} each); "
            f"a bare pool of two {min(serial) / min(bare):.2f}x"
        )
        rounds = ", ".join(
            f"{s / p:.2f}x ({s / b:.2f}x)" for s, p, b in zip(serial, parallel, bare, strict=True)
        )
        print(f"  each round, -j 1 over -j 2 (over a bare pool of two): {rounds}")
        print(
            f"  -j 2 over the bare pool, median of the rounds: "
            f"{statistics.median(p / b for p, b in zip(parallel, bare, strict=True)):.2f}"
        )
        print(
            f"simulate -n {n} --scheduler local -j 2: {min(dask):.2f} s, speedup "
            f"{min(serial) / min(dask):.2f}x, of which starting and stopping the cluster "
            f"{min(start):.2f} s"
        )
    base, one = peak_rss("import"), peak_rss("one")
    print(
        f"peak RSS: one replication with --out {one:.0f} MiB "
        f"(importing chatsim alone {base:.0f} MiB)"
    )
    if args.big:
        found = subprocess.run(
            [sys.executable, __file__, "--child", f"big{args.big:g}"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.split()
        print(
            f"peak RSS: one replication at {args.big:g}x the volume ({int(found[-2]):,} "
            f"conversations) {float(found[-1]):.0f} MiB"
        )


if __name__ == "__main__":
    main()
