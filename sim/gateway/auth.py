"""Who may call what: the desk key, agents' session tokens, webchat sessions' secrets.

Three kinds of callers reach the gateway besides the platforms (whose webhooks carry their own
signatures, :mod:`.inbound.signatures`):

* **The desk** (an agent desktop, a supervisor tool, the replay's emulated agents) holds the
  configured *desk key*. It logs agents in (``POST /agents/login`` with
  ``Authorization: Bearer <desk key>``) and may read any agent or conversation.
* **An agent** holds the *session token* its login returned, ``Authorization: Bearer <token>``
  on every call: its own status, events and logout, and the conversations assigned to it (reply,
  close, read). A token names its agent and a session; logging in again starts a new session
  and the old token stops working. Tokens are signed with the gateway's secret (HMAC-SHA256),
  so they verify after a restart without being stored; a restarted gateway accepts a token of
  any session until the agent logs in again (it cannot know which session was the last).
* **A webchat customer** gets its session's *secret* in the answer to its first message (the
  message that opens a session the gateway has never seen). Every later request of that
  session, messages, the close event and the long-poll for replies, must carry it
  (``X-Webchat-Secret``, or ``?secret=`` on the poll, which browsers' event sources cannot give
  headers). The secret is an HMAC of the session id: nothing to store, nothing to guess.

Every comparison is constant-time on bytes. A missing credential is 401, a wrong one 403; either
way nothing changes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from .errors import ApiError

BEARER = "bearer "


def _sign(secret: str, message: str) -> str:
    digest = hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:24]).decode().rstrip("=")


def same(given: str | None, expected: str) -> bool:
    """Whether ``given`` is ``expected``, compared in constant time on bytes."""
    if given is None or not expected:
        return False
    return hmac.compare_digest(given.encode("utf-8", "surrogateescape"), expected.encode())


def bearer(authorization: str | None) -> str | None:
    """The credential of an ``Authorization: Bearer ...`` header, if it has one."""
    if authorization is None or not authorization.lower().startswith(BEARER):
        return None
    return authorization[len(BEARER) :].strip() or None


class Sessions:
    """Agents' session tokens and webchat sessions' secrets, signed with one secret."""

    def __init__(self, secret: str) -> None:
        if not secret:
            raise ValueError("gateway_secret: must not be empty")
        self._secret = secret
        self._current: dict[str, str] = {}
        """Per agent, the nonce of its latest session (since this process started)."""

    def issue(self, agent_id: str) -> str:
        """A new session token for ``agent_id``; its earlier ones stop working."""
        nonce = secrets.token_urlsafe(12)
        self._current[agent_id] = nonce
        name = base64.urlsafe_b64encode(agent_id.encode()).decode().rstrip("=")
        return f"{name}.{nonce}.{_sign(self._secret, f'agent:{agent_id}:{nonce}')}"

    def agent_of(self, token: str) -> str | None:
        """The agent a valid token of its current session names; None for anything else."""
        parts = token.split(".")
        if len(parts) != 3:
            return None
        name, nonce, signature = parts
        try:
            agent_id = base64.urlsafe_b64decode(name + "=" * (-len(name) % 4)).decode()
        except (ValueError, UnicodeDecodeError):
            return None
        if not same(signature, _sign(self._secret, f"agent:{agent_id}:{nonce}")):
            return None
        current = self._current.setdefault(agent_id, nonce)  # after a restart: this one
        return agent_id if hmac.compare_digest(current.encode(), nonce.encode()) else None

    def forget(self, agent_id: str) -> None:
        """The agent is gone for good: no session of it is current any more."""
        self._current.pop(agent_id, None)

    def webchat_secret(self, session: str) -> str:
        """The secret of webchat session ``session``."""
        return _sign(self._secret, f"webchat:{session}")


def require(condition: bool, status: int, error: str, detail: str) -> None:
    """Refuse the request (``status`` 401 or 403) unless ``condition`` holds."""
    if not condition:
        raise ApiError(status, error, detail)


class Caller:
    """Who sent a request to the agent API: the desk, or one agent."""

    __slots__ = ("agent", "desk")

    def __init__(self, agent: str | None = None, desk: bool = False) -> None:
        self.agent = agent
        self.desk = desk

    def may_act_as(self, agent_id: str) -> bool:
        """Whether the caller may read or steer agent ``agent_id`` (the desk may)."""
        return self.desk or self.agent == agent_id

    def acting_agent(self, claimed: str | None) -> str:
        """The agent a reply or close is done as: the caller's own (a token is needed; the
        body's ``agent_id``, when given, must be the token's agent)."""
        require(
            self.agent is not None,
            403,
            "agent_token_required",
            "only an agent acts on its conversations: use the token its login returned",
        )
        assert self.agent is not None
        require(
            claimed is None or claimed == self.agent,
            403,
            "not_this_agent",
            f"the token is agent {self.agent}'s, the request says agent {claimed}",
        )
        return self.agent


def identify(authorization: str | None, desk_key: str, sessions: Sessions) -> Caller:
    """The caller an ``Authorization`` header names: 401 without one, 403 for a wrong one."""
    credential = bearer(authorization)
    require(
        credential is not None,
        401,
        "unauthenticated",
        "send Authorization: Bearer <agent token> (from POST /agents/login) or <desk key>",
    )
    assert credential is not None
    if same(credential, desk_key):
        return Caller(desk=True)
    agent = sessions.agent_of(credential)
    require(agent is not None, 403, "bad_credentials", "unknown or expired token")
    return Caller(agent=agent)


class OpsGuard:
    """ASGI middleware: the operations endpoints (metrics, docs, the OpenAPI schema) need
    ``Authorization: Bearer <ops key>`` when an ops key is configured."""

    PATHS = frozenset({"/metrics", "/docs", "/redoc", "/openapi.json", "/docs/oauth2-redirect"})

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.key = key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.key or scope["path"] not in self.PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or ())
        raw = headers.get(b"authorization")
        given = bearer(raw.decode("latin-1")) if raw is not None else None
        if same(given, self.key):
            await self.app(scope, receive, send)
            return
        status, error = (401, "unauthenticated") if given is None else (403, "bad_credentials")
        detail = "this endpoint needs the ops key"
        refusal = JSONResponse({"error": error, "detail": detail}, status)
        await refusal(scope, receive, send)
