"""chatsim: capacity planning and load testing for chat customer service.

The library is organised by concept: :mod:`sim.scenario` (what traffic and agents look like),
:mod:`sim.trace` (one concrete draw of conversations), :mod:`sim.model` (the SimPy model that
plays a trace), :mod:`sim.kpi` (what the results mean), :mod:`sim.erlang` (queueing theory to
check against). The command line in :mod:`sim.cli` is a thin layer over these.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("chatsim")  # pyproject.toml says it once
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
