"""What every process of a replay knows from its command line, whichever role it plays."""

from __future__ import annotations

import signal
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sim.loadtest.bot import bot_view
from sim.loadtest.desk import AgentDesk, DeskError, load_desk
from sim.loadtest.raw import RESPONDERS, Responder
from sim.protocols import PlatformCredentials
from sim.scenario import Scenario, load_scenario
from sim.trace import Trace, read_trace

OUTAGE_LIMIT = 30.0
"""Default wall seconds a gateway may fail ``/healthz`` in a row before a replay run ends."""

RETRIED = frozenset({408, 429, 500, 502, 503, 504})
"""Answers after which a request to the gateway is sent again (as is one with no answer at
all): a platform redelivers its webhook, an agent desktop repeats its action."""

GATEWAY_DIED = signal.SIGUSR1
"""The signal that tells the Locust master the gateway process a replay started has died (the
harness then ends the run)."""


@dataclass(frozen=True, slots=True)
class ReplaySettings:
    """The scenario and trace to replay, how fast, where to write, and the safety limit."""

    scenario: Scenario
    trace: Trace
    speedup: float
    """Scenario seconds per wall second."""
    credentials: PlatformCredentials
    out: Path | None
    """Where the master writes the raw file (none: nowhere)."""
    results: Path | None
    """Where the master writes the replay's results and the model's on the same trace (none:
    nowhere; ``chatsim replay`` writes them itself)."""
    limit: float
    """Safety limit of each run, wall seconds from its start."""
    emulator_host: str
    emulator_port: int
    outage_limit: float
    """Wall seconds the gateway may fail ``/healthz`` in a row before the run ends; customers
    redeliver unacknowledged webhooks for as long."""
    headless: bool
    """Whether Locust runs without its web UI (then the end of the replay quits Locust)."""
    responder: Responder = "agents"
    """Who answers: the emulated agents through ``desk``, or the gateway's bot."""
    desk: type[AgentDesk] | None = None
    """The agent desk class (``--agents``); None for a bot responder (no agents)."""
    played: Trace = field(init=False)
    """The trace as the customers play it: ``trace``, or its :func:`~sim.loadtest.bot.bot_view`
    for a bot responder (every conversation arrives at ``t``)."""
    protocols: dict[str, str] = field(init=False)
    """Channel name: its wire protocol."""
    silent: dict[str, bool] = field(init=False)
    """Channel name: whether its customers leave without telling the gateway."""

    def __post_init__(self) -> None:
        channels = self.scenario.channels
        played = bot_view(self.trace) if self.responder == "bot" else self.trace
        object.__setattr__(self, "played", played)
        object.__setattr__(
            self, "protocols", {name: channel.protocol for name, channel in channels.items()}
        )
        object.__setattr__(
            self, "silent", {name: channel.silent for name, channel in channels.items()}
        )

    @classmethod
    def from_options(cls, options: Any) -> ReplaySettings:
        """The settings from Locust's parsed options (see ``harness``); credentials from the
        ``CHATSIM_*`` environment, as the gateway reads them."""
        if not options.scenario or not options.trace:
            raise SystemExit("chatsim replay needs --scenario FILE and --trace FILE")
        responder = options.responder
        if responder not in RESPONDERS:
            choices = ", ".join(RESPONDERS)
            raise SystemExit(f"--responder must be one of {choices}, not {responder!r}")
        desk = None
        if responder == "agents":
            try:
                desk = load_desk(options.agents)
            except DeskError as error:
                raise SystemExit(f"--agents: {error}") from None
        return cls(
            scenario=load_scenario(options.scenario),
            trace=read_trace(options.trace),
            speedup=float(options.speedup),
            credentials=PlatformCredentials.from_env(),
            out=Path(options.replay_out) if options.replay_out else None,
            results=Path(options.replay_results) if options.replay_results else None,
            limit=float(options.replay_limit),
            emulator_host=options.emulator_host,
            emulator_port=int(options.emulator_port),
            outage_limit=float(options.replay_outage_limit),
            headless=bool(options.headless),
            responder=responder,
            desk=desk,
        )
