"""Where replications run: this process, worker processes (``-j``), or a Dask cluster.

``--scheduler local`` starts a :class:`distributed.LocalCluster` of ``-j`` worker processes
(one thread each: the model holds the GIL; one per core when ``-j`` is not given) for the
command's life. ``--scheduler tcp://HOST:PORT`` connects a :class:`distributed.Client` to a
running scheduler whose workers have the same chatsim installed. Either way the runner gets the
client's :class:`concurrent.futures.Executor` (``Client.get_executor``): Dask places, balances
and retries the tasks; chatsim submits one task per replication and reads the results as they
complete, which is what moves the progress bar. Where a replication ran never changes its
numbers: a task draws its trace from the seed and the replication alone.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
from collections.abc import Iterator
from concurrent.futures import Executor
from contextlib import contextmanager
from typing import Any

import typer

from sim.cli.app import err_console
from sim.errors import InputError

SCHEDULER_HELP = (
    "Run the replications on Dask: 'local' starts a local cluster of -j worker processes (one "
    "per core without -j); tcp://HOST:PORT uses a running scheduler whose workers have chatsim "
    "installed."
)


def scheduler_option(help: str = SCHEDULER_HELP) -> Any:
    """``--scheduler local|tcp://HOST:PORT``."""
    return typer.Option("--scheduler", metavar="local|tcp://HOST:PORT", help=help)


def chatsim_version() -> str:
    """The installed chatsim's version (run on every worker to see that they have it)."""
    return importlib.metadata.version("chatsim")


@contextmanager
def executor_for(scheduler: str | None, jobs: int) -> Iterator[Executor | None]:
    """The executor for ``--scheduler`` (None without one: the runner uses ``-j`` processes),
    with its cluster or client open while the command runs."""
    if scheduler is None:
        yield None
        return
    # Imported here: distributed takes a second to import, and most runs do not use it.
    from distributed import Client, LocalCluster

    if scheduler == "local":
        workers = jobs if jobs > 1 else (os.cpu_count() or 1)
        with (
            LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                # A free port: another cluster may hold Dask's 8787 (its HTTP server runs,
                # for health and metrics, even without bokeh's dashboard).
                dashboard_address=":0",
            ) as cluster,
            Client(cluster) as client,
        ):
            err_console.print(f"[dim]Dask: a local cluster of {workers} workers{_board(client)}[/]")
            yield client.get_executor(pure=False)
        return
    if "://" not in scheduler:
        raise InputError(
            f"{scheduler!r} is neither 'local' nor a scheduler address such as tcp://HOST:8786",
            key="--scheduler",
        )
    try:
        # How long to try is Dask's own setting (distributed.comm.timeouts.connect, 30 s).
        client = Client(scheduler)
    except (OSError, TimeoutError, ValueError) as error:
        raise InputError(
            f"cannot reach the Dask scheduler at {scheduler}: {error}", key="--scheduler"
        ) from None
    with client:
        _check_workers(client, scheduler)
        count = len(client.scheduler_info()["workers"])
        err_console.print(f"[dim]Dask: {scheduler}, {count} workers{_board(client)}[/]")
        yield client.get_executor(pure=False)


def _check_workers(client: Any, scheduler: str) -> None:
    if not client.scheduler_info()["workers"]:
        raise InputError(f"the Dask scheduler at {scheduler} has no workers", key="--scheduler")
    mine = chatsim_version()
    try:
        theirs: dict[str, str] = client.run(chatsim_version)
    except Exception as error:  # whatever a worker raised while unpickling or running it
        raise InputError(
            f"the Dask workers of {scheduler} cannot run chatsim ({type(error).__name__}: "
            f"{error}): install chatsim {mine} on every worker",
            key="--scheduler",
        ) from None
    other = sorted(
        f"{worker} has {version}" for worker, version in theirs.items() if version != mine
    )
    if other:
        raise InputError(
            f"the Dask workers of {scheduler} must run chatsim {mine}: " + "; ".join(other),
            key="--scheduler",
        )


def _board(client: Any) -> str:
    """Where Dask's dashboard is, when it has one (it needs bokeh, which chatsim does not)."""
    link = client.dashboard_link if importlib.util.find_spec("bokeh") is not None else None
    return f", dashboard {link}" if link else ""
