"""CPU spent by the threads other than the calling one: how a test sees a native thread pool
(OpenBLAS's) wake up and spin on another core."""

from __future__ import annotations

import time
from collections.abc import Callable


def other_threads_cpu(work: Callable[[], object], settle: float = 0.3) -> float:
    """Seconds of CPU the process's other threads spent over ``work`` and a pause of
    ``settle`` seconds after it (a spinning pool keeps going for about 0.1 s). The same pause
    comes first, so that what an earlier test woke has gone back to sleep."""
    time.sleep(settle)
    before = time.process_time() - time.thread_time()
    work()
    time.sleep(settle)
    return time.process_time() - time.thread_time() - before
