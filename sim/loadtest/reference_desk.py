"""The reference gateway's agent API as an :class:`~sim.loadtest.desk.AgentDesk`.

The API (``sim/gateway/agents_api.py``; README, "The reference gateway")::

    POST /agents/login {"agent_id", "skills", "max_chats"}   Bearer <desk key>  -> {"token"}
    GET  /agents/{id}/events?timeout=S&after=SEQ              Bearer <token>     -> [event...]
    POST /conversations/{cid}/reply {"agent_id", "text", "id"}                    -> 202
    POST /conversations/{cid}/close {"agent_id"}
    POST /agents/{id}/logout                                   (draining, then gone)
    GET  /agents/{id}                                                             -> {"state"}

Per agent it keeps the session token of its last login (a gateway that answers no token gets
the desk key on every call, so one without sessions works too) and its events cursor: ``after``
is the last ``seq`` read, so a poll whose answer was lost is asked again from the same point.
Logging out is :meth:`away` (the gateway drains the agent: no new chats, it keeps its own);
logging in again is :meth:`back`. A reply's ``id`` is its idempotency key.
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


class ReferenceDesk:
    """The agent side of ``chatsim gateway`` (and of any gateway with the same agent API)."""

    def __init__(self, connection: DeskConnection) -> None:
        self.connection = connection
        self.tokens: dict[str, str] = {}
        """Per agent, the session token of its last login."""
        self.cursors: dict[str, int] = {}
        """Per agent, the ``seq`` of the last event read."""

    def _auth(self, agent_id: str) -> dict[str, str]:
        token = self.tokens.get(agent_id, self.connection.desk_key)
        return {"Authorization": f"Bearer {token}"}

    def login(self, agent: AgentProfile) -> bool:
        status, body = self.connection.request(
            "POST",
            "/agents/login",
            "agent login",
            json={
                "agent_id": agent.id,
                "skills": list(agent.channels),
                "max_chats": agent.max_chats,
            },
            headers={"Authorization": f"Bearer {self.connection.desk_key}"},
        )
        if status != 200:
            return False
        token = body.get("token") if isinstance(body, dict) else None
        self.tokens[agent.id] = token if isinstance(token, str) else self.connection.desk_key
        return True

    def back(self, agent: AgentProfile) -> bool:
        # Logging in again undoes the drain; the gateway issues a new session token.
        return self.login(agent)

    def away(self, agent_id: str) -> None:
        self.connection.request(
            "POST", f"/agents/{agent_id}/logout", "agent logout", headers=self._auth(agent_id)
        )

    def gone(self, agent_id: str) -> bool:
        status, body = self.connection.poll(f"/agents/{agent_id}", headers=self._auth(agent_id))
        # Only an answer that names another state keeps the agent: a gateway that has forgotten
        # it (404) holds nothing for it either.
        return not (status == 200 and isinstance(body, dict) and body.get("state") != "gone")

    def events(self, agent_id: str, timeout: float) -> list[DeskEvent] | None:
        after = self.cursors.get(agent_id, 0)
        status, body = self.connection.poll(
            f"/agents/{agent_id}/events?timeout={timeout:g}&after={after}",
            headers=self._auth(agent_id),
        )
        if status != 200 or not isinstance(body, list):
            return None
        found: list[DeskEvent] = []
        for event in body:
            self.cursors[agent_id] = max(self.cursors.get(agent_id, 0), int(event["seq"]))
            parsed = _event(event)
            if parsed is not None:
                found.append(parsed)
        return found

    def reply(self, agent_id: str, conversation_id: str, text: str, key: str) -> Sent:
        status, _ = self.connection.request(
            "POST",
            f"/conversations/{conversation_id}/reply",
            "agent reply",
            json={"agent_id": agent_id, "text": text, "id": key},
            headers=self._auth(agent_id),
        )
        if status in (200, 202):
            return Sent.ACCEPTED
        # 409: the conversation ended (its customer closed the chat) while the agent typed.
        return Sent.ENDED if status == 409 else Sent.FAILED

    def close(self, agent_id: str, conversation_id: str) -> None:
        self.connection.request(
            "POST",
            f"/conversations/{conversation_id}/close",
            "agent close",
            json={"agent_id": agent_id},
            headers=self._auth(agent_id),
        )


def _event(event: dict[str, Any]) -> DeskEvent | None:
    """One event of the reference API as a :data:`DeskEvent` (None: one the replay ignores,
    such as a reply's delivery state)."""
    kind, cid = event.get("type"), event.get("conversation_id")
    if not isinstance(cid, str):
        return None
    if kind == "assigned":
        return Assigned(
            conversation_id=cid,
            channel=str(event["channel"]),
            customer_id=str(event["customer"]["id"]),
            messages=tuple(
                float(m["ts"]) for m in event.get("messages", ()) if m["sender"] == "customer"
            ),
            assigned_at=float(event["ts"]),
        )
    if kind == "message":
        message = event["message"]
        if message["sender"] != "customer":
            return None
        return CustomerMessage(cid, float(message["ts"]))
    if kind == "left":
        return CustomerLeft(cid)
    return None
