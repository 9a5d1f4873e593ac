"""The replay's agents at the SDK gateway's desk: :class:`SdkDesk`, an ``AgentDesk``.

``chatsim replay ... --agents examples/sdk-gateway/desk.py:SdkDesk`` makes the replay's
emulated agents work through this gateway's desk API instead of the reference gateway's agent
API. It needs nothing of the gateway's code: only HTTP, through the replay's connection.

=======================  =========================================================
``AgentDesk``            the SDK gateway's desk API
=======================  =========================================================
``login``                ``POST /desk/sessions {agent, channels, capacity}``
                         (desk key) → ``token``
``away`` / ``back``      ``PUT /desk/agents/{id}/status {available}``
``gone``                 ``GET /desk/agents/{id}`` → ``present`` is false
``events``               ``GET /desk/inbox?wait=S&since=N``
``reply``                ``POST /desk/chats/{id}/messages {text, key}``
                         (202/200 taken, 410 ended)
``close``                ``DELETE /desk/chats/{id}``
=======================  =========================================================

``away`` and ``back`` serve every pause of the replay's roster (breaks, shrinkage: away, then
back on the same session, its inbox cursor kept) as well as the end of a shift and per-interval
staffing; an agent away with no chat is not ``present``, which is what ``gone`` asks.
"""

from __future__ import annotations

from typing import Any

from sim.loadtest.desk import (
    AgentProfile,
    Assigned,
    CustomerLeft,
    CustomerMessage,
    DeskConnection,
    DeskEvent,
    Sent,
)


class SdkDesk:
    """The desk API of ``examples/sdk-gateway`` as an ``AgentDesk``; one per replay run."""

    def __init__(self, connection: DeskConnection) -> None:
        self.connection = connection
        self.tokens: dict[str, str] = {}
        """Each agent's session token."""
        self.cursors: dict[str, int] = {}
        """The number of the last inbox item each agent has read."""

    def _auth(self, agent_id: str) -> dict[str, str]:
        token = self.tokens.get(agent_id, self.connection.desk_key)
        return {"Authorization": f"Bearer {token}"}

    def login(self, agent: AgentProfile) -> bool:
        status, body = self.connection.request(
            "POST",
            "/desk/sessions",
            "desk sign in",
            json={"agent": agent.id, "channels": list(agent.channels), "capacity": agent.max_chats},
            headers={"Authorization": f"Bearer {self.connection.desk_key}"},
        )
        if status != 201 or not isinstance(body, dict) or not isinstance(body.get("token"), str):
            return False
        self.tokens[agent.id] = body["token"]
        self.cursors.setdefault(agent.id, 0)
        return True

    def _available(self, agent_id: str, available: bool) -> int:
        status, _ = self.connection.request(
            "PUT",
            f"/desk/agents/{agent_id}/status",
            "desk status",
            json={"available": available},
            headers=self._auth(agent_id),
        )
        return status

    def away(self, agent_id: str) -> None:
        self._available(agent_id, False)

    def back(self, agent: AgentProfile) -> bool:
        status = self._available(agent.id, True)
        if status == 401:  # the session is gone (a restarted gateway): a new one
            return self.login(agent)
        return status == 200

    def gone(self, agent_id: str) -> bool:
        status, body = self.connection.request(
            "GET", f"/desk/agents/{agent_id}", "desk agent", headers=self._auth(agent_id)
        )
        if status == 401:
            return True  # the gateway holds no session for it any more
        return status == 200 and isinstance(body, dict) and body.get("present") is False

    def events(self, agent_id: str, timeout: float) -> list[DeskEvent] | None:
        since = self.cursors.get(agent_id, 0)
        status, body = self.connection.poll(
            f"/desk/inbox?wait={timeout:g}&since={since}", headers=self._auth(agent_id)
        )
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("items"), list):
            return None
        events: list[DeskEvent] = []
        for item in body["items"]:
            number = int(item["n"])
            if number <= since:
                continue
            self.cursors[agent_id] = since = number
            event = _event(item)
            if event is not None:
                events.append(event)
        return events

    def reply(self, agent_id: str, conversation_id: str, text: str, key: str) -> Sent:
        status, _ = self.connection.request(
            "POST",
            f"/desk/chats/{conversation_id}/messages",
            "desk reply",
            json={"text": text, "key": key},
            headers=self._auth(agent_id),
        )
        if status in (200, 202):
            return Sent.ACCEPTED
        if status == 410:
            return Sent.ENDED
        return Sent.FAILED

    def close(self, agent_id: str, conversation_id: str) -> None:
        self.connection.request(
            "DELETE",
            f"/desk/chats/{conversation_id}",
            "desk close",
            headers=self._auth(agent_id),
        )


def _event(item: dict[str, Any]) -> DeskEvent | None:
    """One inbox item as the replay's event (None for a kind it does not need)."""
    kind, chat = item.get("kind"), str(item.get("chat"))
    if kind == "chat":
        return Assigned(
            chat,
            str(item["channel"]),
            str(item["customer"]),
            tuple(float(m["at"]) for m in item.get("messages", ())),
            float(item["assigned_at"]) if "assigned_at" in item else None,
        )
    if kind == "message":
        return CustomerMessage(chat, float(item["at"]))
    if kind == "ended":
        return CustomerLeft(chat)
    return None
