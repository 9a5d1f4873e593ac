"""Dask: the same numbers from a LocalCluster, a remote scheduler, worker processes and one
process, seed for seed, for simulate, sweep and staff; and clear errors for a cluster that
cannot serve.

One LocalCluster (two worker processes, one thread each) serves the library tests; the command
line starts its own (``--scheduler local``) and, for ``tcp://``, a real ``dask scheduler`` and
``dask worker`` on loopback.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import Executor
from pathlib import Path

import pytest
from dask import config as dask_config
from distributed import Client, LocalCluster

from sim import textbook
from sim.cli import main
from sim.experiment import run_experiment
from sim.planner import plan_staff
from sim.scenario import load_scenario, parse_scenario
from sim.sweep import parse_axis, run_sweep, table

ROOT = Path(__file__).resolve().parent.parent
SMALL_PATH = ROOT / "scenarios" / "small.yaml"
SMALL = load_scenario(SMALL_PATH)


@pytest.fixture(scope="module")
def dask() -> Iterator[Executor]:
    with (
        LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        yield client.get_executor(pure=False)


def records(run) -> list[dict]:
    return [r.to_dict() for r in run.conversations]


def test_simulate_is_the_same_serial_in_processes_and_on_dask(dask):
    serial = run_experiment(SMALL, replications=3, seed=4)
    processes = run_experiment(SMALL, replications=3, seed=4, jobs=2)
    done: list[int] = []
    on_dask = run_experiment(
        SMALL, replications=3, seed=4, executor=dask, on_replication=done.append
    )
    for other in (processes, on_dask):
        assert other.measurements == serial.measurements
        assert other.results.to_dict() == serial.results.to_dict()
        assert records(other.first_run) == records(serial.first_run)
    assert sorted(done) == [1, 2, 3]  # the progress bar moved once per replication
    # Not the same numbers by construction: another seed is another day.
    assert run_experiment(SMALL, replications=3, seed=5).measurements != serial.measurements


def test_a_sweep_is_the_same_serial_in_processes_and_on_dask(dask):
    axes = [parse_axis(SMALL, "volume=0.8,1.2"), parse_axis(SMALL, "agents=-1:0")]
    serial = table(run_sweep(SMALL, axes, replications=2, seed=2))
    processes = table(run_sweep(SMALL, axes, replications=2, seed=2, jobs=2))
    runs: list[int] = []
    on_dask = table(
        run_sweep(SMALL, axes, replications=2, seed=2, executor=dask, on_run=runs.append)
    )
    assert processes == serial and on_dask == serial
    assert len(serial) == 4 * 4  # four points, each in total and per channel
    assert sorted(runs) == list(range(1, 4 * 2 + 1))  # every run of every point, once


def test_a_plan_is_the_same_serial_in_processes_and_on_dask(dask):
    data = textbook.queue_data(
        8, 0.03, 300.0, 240.0, intervals=4, interval="1h", target=20,
        targets={"service_level": 0.8},
    )  # fmt: skip
    scenario = parse_scenario(data)
    plans = [
        plan_staff(scenario, shift_lengths=[7200], replications=3, seed=6, **how)
        for how in ({}, {"jobs": 2}, {"executor": dask})
    ]
    serial = plans[0]
    for other in plans[1:]:
        assert (other.required, other.shifts, other.results.to_dict()) == (
            serial.required,
            serial.shifts,
            serial.results.to_dict(),
        )
    assert serial.evaluations > 1


def chatsim(capsys, *args: object) -> tuple[int, str]:
    """``chatsim ARGS`` in this process: its exit code and what it wrote to stderr."""
    with pytest.raises(SystemExit) as exit_info:
        main([str(a) for a in args])
    return int(exit_info.value.code or 0), capsys.readouterr().err


def test_cli_local_cluster_writes_what_one_process_writes(tmp_path, capsys):
    simulate = ("simulate", SMALL_PATH, "-n", "3", "--seed", "3")
    assert chatsim(capsys, *simulate, "--out", tmp_path / "one")[0] == 0
    code, err = chatsim(
        capsys, *simulate, "--scheduler", "local", "-j", "2", "--out", tmp_path / "local"
    )
    assert code == 0, err
    assert "local cluster of 2 workers" in err
    for name in ("results.json", "conversations.jsonl"):
        assert (tmp_path / "local" / name).read_bytes() == (tmp_path / "one" / name).read_bytes()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def dask_process(*args: str) -> subprocess.Popen[bytes]:
    """``dask scheduler ...`` or ``dask worker ...`` (the commands distributed installs)."""
    return subprocess.Popen(
        [sys.executable, "-m", "distributed.cli.dask_" + args[0], *args[1:]],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT,
    )  # fmt: skip


def wait_listening(port: int, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_cli_on_a_remote_scheduler_and_its_errors(tmp_path, capsys):
    """A real ``dask scheduler`` and ``dask worker`` on loopback: refused while it has no
    workers (exit 2, saying so), then a sweep's table as one process writes it."""
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    scheduler = dask_process("scheduler", "--host", "127.0.0.1", "--port", str(port),
                             "--no-dashboard")  # fmt: skip
    worker = None
    sweep = ("sweep", SMALL_PATH, "--vary", "volume=0.9,1.1", "-n", "2", "--seed", "3")
    try:
        wait_listening(port)
        code, err = chatsim(capsys, *sweep, "--scheduler", address)
        assert code == 2 and "Traceback" not in err, err
        assert f"--scheduler: the Dask scheduler at {address} has no workers" in err
        worker = dask_process("worker", address, "--nworkers", "1", "--nthreads", "1",
                              "--no-dashboard")  # fmt: skip
        with Client(address) as client:
            client.wait_for_workers(1, timeout=30)
        code, err = chatsim(capsys, *sweep, "--scheduler", address, "--out", tmp_path / "remote")
        assert code == 0, err
        assert f"Dask: {address}, 1 workers" in err
    finally:
        for process in (worker, scheduler):
            if process is not None:
                process.terminate()
                process.wait(timeout=30)
    assert chatsim(capsys, *sweep, "--out", tmp_path / "one")[0] == 0
    assert (tmp_path / "remote" / "sweep.csv").read_bytes() == (
        tmp_path / "one" / "sweep.csv"
    ).read_bytes()


@pytest.mark.parametrize(
    ("scheduler", "message"),
    [
        ("nowhere", "'nowhere' is neither 'local' nor a scheduler address"),
        ("tcp://127.0.0.1:9", "cannot reach the Dask scheduler at tcp://127.0.0.1:9"),
    ],
)
def test_a_scheduler_that_cannot_serve_is_exit_2(scheduler, message, capsys):
    # Dask's own connect timeout (its configuration) bounds the wait.
    with dask_config.set({"distributed.comm.timeouts.connect": "1s"}):
        code, err = chatsim(capsys, "simulate", SMALL_PATH, "-n", "2", "--scheduler", scheduler)
    assert code == 2, err
    assert message in err and "Traceback" not in err
