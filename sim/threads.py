"""One core for one piece of numeric work: BLAS's thread pools held to a single thread.

chatsim runs its work side by side as processes, one replication (or one forecast fit) each,
and every piece of it is small numpy work: a sum over a day's spans, a four-parameter
optimisation. OpenBLAS answers even one long dot product by waking a thread per core, and
those threads then spin for about a tenth of a second waiting for more, on the core another
process is using: on a two-core machine ``-j 2`` lost part of its second core to them, and a
forecast fit ran five times slower on a busy machine.

Two ways to hold them, both through ``threadpoolctl`` (which finds the BLAS libraries numpy
and scipy loaded):

* :func:`one_thread`, for a block of work in a caller's process: the limit ends with the
  block.
* :func:`hold_one_thread`, for the processes chatsim owns (a runner's pool and its
  coordinator): the limit stays, and forked workers inherit it.

Neither touches a pool already at one thread. OpenBLAS stops its threads when its process
forks, and setting the thread count afterwards, even to one, starts them again, and new
threads spin (about 0.2 s of a core, for the two OpenBLAS libraries numpy and scipy bring):
once in every worker, and once more in the coordinator, when each set the count as a task or
a block began or ended.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController


def _controller() -> ThreadpoolController | None:
    """The loaded native thread pools (looked up anew, about 0.4 ms, so that one loaded
    since, such as scipy's own OpenBLAS, is found), or None when every one already uses a
    single thread."""
    controller = ThreadpoolController()
    if all(pool["num_threads"] <= 1 for pool in controller.info()):
        return None
    return controller


@contextmanager
def one_thread() -> Iterator[None]:
    """Native thread pools limited to one thread while the block runs."""
    controller = _controller()
    if controller is None:
        yield
        return
    with controller.limit(limits=1):
        yield


def hold_one_thread() -> None:
    """From now on, this process's native thread pools use one thread."""
    controller = _controller()
    if controller is not None:
        controller.limit(limits=1)  # not as a context: the limit stays
