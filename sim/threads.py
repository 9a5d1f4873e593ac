"""One core for one piece of numeric work: BLAS's thread pool held to a single thread.

chatsim runs its work side by side as processes, one replication (or one forecast fit) each,
and every piece of it is small numpy work: a dot product over a day's spans, a four-parameter
optimisation. OpenBLAS answers even a long dot product by waking a thread per core, and those
threads then spin for about a tenth of a second waiting for more, on the core another process
is using: on a two-core machine ``-j 2`` lost its second core to them, and a forecast fit ran
five times slower on a busy machine. So such work runs under :func:`one_thread`
(``threadpoolctl``, which finds the BLAS libraries numpy and scipy loaded).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import threadpool_limits


@contextmanager
def one_thread() -> Iterator[None]:
    """BLAS and other native thread pools limited to one thread while the block runs (the
    libraries are looked up on entry, about 0.4 ms, so that one loaded since, such as scipy's
    own OpenBLAS, is limited too)."""
    with threadpool_limits(limits=1):
        yield
