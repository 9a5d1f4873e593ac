"""The reference chat gateway: platform webhooks in, agents' API, platform send APIs out.

Start it with ``chatsim gateway --host 127.0.0.1 --port 8080``, or build the ASGI app with
:func:`create_app`. Modules, one concept each:

* :mod:`~sim.gateway.config`: :class:`GatewayConfig` (flags and ``CHATSIM_*`` variables);
* :mod:`~sim.gateway.inbound`: per-platform webhook parsers and signature checks;
* :mod:`~sim.gateway.conversations`: conversations, agents and routing (the shared router);
* :mod:`~sim.gateway.outbound`: replies to the platforms' send APIs, ordered, with retries;
* :mod:`~sim.gateway.store`, :mod:`~sim.gateway.sqlite_store`: the storage interface, the
  durable SQLite store (the default) and the in-memory one;
* :mod:`~sim.gateway.agents_api`, :mod:`~sim.gateway.webhooks`: the HTTP endpoints;
* :mod:`~sim.gateway.metrics`, :mod:`~sim.gateway.logs`, :mod:`~sim.gateway.limits`: operations.
"""

from __future__ import annotations

from sim.protocols import PROTOCOLS

from .app import create_app, create_app_from_env
from .config import DEFAULT_CHANNELS, GatewayConfig

__all__ = ["DEFAULT_CHANNELS", "PROTOCOLS", "GatewayConfig", "create_app", "create_app_from_env"]
