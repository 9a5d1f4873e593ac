"""A test desk: the reference gateway's, counting its calls in a file.

``chatsim replay --agents tests/loadtest/counting_desk.py:CountingDesk`` with
``CHATSIM_TEST_DESK_LOG=FILE`` writes one line per call (``login a-0001``...): proof that the
replay used the desk it was told to, loaded from a file path.
"""

from __future__ import annotations

import os

from sim.loadtest.desk import AgentProfile, DeskEvent, Sent
from sim.loadtest.reference_desk import ReferenceDesk

LOG = "CHATSIM_TEST_DESK_LOG"


class CountingDesk(ReferenceDesk):
    """:class:`ReferenceDesk`, writing each call to the file ``$CHATSIM_TEST_DESK_LOG``."""

    def _count(self, call: str, agent_id: str) -> None:
        with open(os.environ[LOG], "a", encoding="utf-8") as log:
            log.write(f"{call} {agent_id}\n")

    def login(self, agent: AgentProfile) -> bool:
        self._count("login", agent.id)
        return super().login(agent)

    def back(self, agent: AgentProfile) -> bool:
        self._count("back", agent.id)
        return super().back(agent)

    def away(self, agent_id: str) -> None:
        self._count("away", agent_id)
        super().away(agent_id)

    def events(self, agent_id: str, timeout: float) -> list[DeskEvent] | None:
        found = super().events(agent_id, timeout)
        for event in found or ():
            self._count(type(event).__name__, agent_id)
        return found

    def reply(self, agent_id: str, conversation_id: str, text: str, key: str) -> Sent:
        self._count("reply", agent_id)
        return super().reply(agent_id, conversation_id, text, key)

    def close(self, agent_id: str, conversation_id: str) -> None:
        self._count("close", agent_id)
        super().close(agent_id, conversation_id)


class NotADesk:
    """Has a login and nothing else: ``--agents`` refuses it."""

    def login(self, agent: AgentProfile) -> bool:
        return True
