"""The agent side of a gateway, as the replay's emulated agents use it: one interface, many APIs.

Every gateway has its own agent API (or its own agent desktop's API); the replay's emulated
agents (:mod:`sim.loadtest.agents`) only ever go through an :class:`AgentDesk`, and
``chatsim replay --agents MODULE:CLASS`` picks the implementation. The reference gateway's agent
API is :class:`sim.loadtest.reference_desk.ReferenceDesk`; README's "Implementing a desk for
your gateway" is the guide to writing another, and :func:`load_desk` is how ``MODULE:CLASS`` is
found.

The calls are blocking from the caller's point of view and run inside Locust's gevent loop, so
an implementation makes its HTTP calls through the :class:`DeskConnection` it is given (Locust's
own HTTP client: its requests show in Locust's statistics, its long-polls do not) and never
blocks the process any other way. Each call is made for one agent (``agent_id``), so an
implementation may keep per-agent state (session tokens, poll cursors).

What the replay needs to know of each event is small: which conversation an agent was given and
for which customer (the customer key the replay's customers use, so that the agent can find the
trace's conversation), when each customer message was sent (so that the agent answers in order),
and when a customer left. Everything else about a gateway's events stays inside its desk.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any, Protocol, cast


@dataclass(frozen=True, slots=True)
class AgentProfile:
    """Who logs in: the agent's id (the model's), the channels it serves, its chat limit."""

    id: str
    channels: tuple[str, ...]
    max_chats: int


@dataclass(frozen=True, slots=True)
class Assigned:
    """The gateway gave the agent a conversation: its id at the gateway, its channel, the
    customer's id as the replay's customers present it on that channel's protocol (WhatsApp
    ``wa_id``, Telegram chat id, Viber sender id, webchat session), and when each customer
    message so far was sent (wall seconds, the gateway's timestamps)."""

    conversation_id: str
    channel: str
    customer_id: str
    messages: tuple[float, ...] = ()
    assigned_at: float | None = None
    """When the gateway assigned it (wall seconds, its timestamp); None: when the agent learned
    of it."""


@dataclass(frozen=True, slots=True)
class CustomerMessage:
    """A further customer message in a conversation the agent holds, sent at ``sent_at``."""

    conversation_id: str
    sent_at: float


@dataclass(frozen=True, slots=True)
class CustomerLeft:
    """The customer ended the conversation (the gateway knows: webchat's close, say)."""

    conversation_id: str


DeskEvent = Assigned | CustomerMessage | CustomerLeft
"""What an agent learns from its desk."""


class Sent(Enum):
    """What became of a reply."""

    ACCEPTED = "accepted"
    """The gateway took it (it will reach the customer)."""
    ENDED = "ended"
    """The conversation had ended (the customer left meanwhile): not an error."""
    FAILED = "failed"
    """Refused or unanswered: the replay records a problem."""


class DeskConnection(Protocol):
    """HTTP to the gateway, as a desk implementation gets it from the replay.

    ``request`` is recorded in Locust's statistics under ``name``; ``poll`` (long-polls, whose
    duration is their timeout) is not. Both return ``(status, body)``: the status (0 when no
    answer came) and the JSON body (None when there is none). Actions the gateway did not
    answer, or answered with 408, 429 or 5xx, are sent again with backoff for a while, as an
    agent desktop would; give them idempotency keys where the API has them.
    """

    desk_key: str
    """The desk's credential (``CHATSIM_DESK_KEY``)."""

    def request(
        self,
        method: str,
        path: str,
        name: str,
        *,
        json: Any = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, Any]: ...

    def poll(self, path: str, *, headers: dict[str, str] | None = None) -> tuple[int, Any]: ...


class AgentDesk(Protocol):
    """One gateway's agent side. Built once per replay run with ``cls(connection)``."""

    def __init__(self, connection: DeskConnection) -> None:
        """Built once per replay run, with the connection all its calls go through."""
        ...

    def login(self, agent: AgentProfile) -> bool:
        """Start the agent's session and its taking of chats; False if refused."""
        ...

    def away(self, agent_id: str) -> None:
        """Stop giving the agent new chats; it keeps and finishes the ones it holds (a break or
        shrinkage, after which :meth:`back` comes; the end of a shift)."""
        ...

    def back(self, agent: AgentProfile) -> bool:
        """Take new chats again after :meth:`away`, also once :meth:`gone` said yes (the end of
        a pause); the same session where the API allows."""
        ...

    def gone(self, agent_id: str) -> bool:
        """Whether the gateway holds nothing more for the agent (after :meth:`away`, when its
        last chat has closed): only the gateway's word counts, since an assignment may still
        be on its way."""
        ...

    def events(self, agent_id: str, timeout: float) -> list[DeskEvent] | None:
        """The agent's new events, waiting up to ``timeout`` seconds for one; None when the
        call failed (the caller tries again shortly)."""
        ...

    def reply(self, agent_id: str, conversation_id: str, text: str, key: str) -> Sent:
        """Send the agent's reply; ``key`` identifies it, so a repeated call is one reply."""
        ...

    def close(self, agent_id: str, conversation_id: str) -> None:
        """End the conversation and free the agent's slot."""
        ...


REFERENCE_DESK = "sim.loadtest.reference_desk:ReferenceDesk"
"""The desk of ``--agents`` when none is named: the reference gateway's agent API."""


class DeskError(Exception):
    """``--agents MODULE:CLASS`` names nothing that loads, or something that is not a desk."""


def desk_methods() -> tuple[str, ...]:
    """The calls every desk has: those :class:`AgentDesk` declares."""
    return tuple(
        name
        for name, value in vars(AgentDesk).items()
        if not name.startswith("_") and inspect.isfunction(value)
    )


def load_desk(spec: str) -> type[AgentDesk]:
    """The desk class ``spec`` names: ``package.module:Class`` (importable from ``sys.path``)
    or ``path/to/file.py:Class`` (loaded from that file). :class:`DeskError` says what is
    wrong: no ``:``, a module that does not import (with its error), no such class, or a class
    without the calls of :class:`AgentDesk`."""
    module_name, colon, class_name = spec.rpartition(":")
    if not colon or not module_name or not class_name:
        raise DeskError(f"{spec!r} is not MODULE:CLASS (e.g. {REFERENCE_DESK})")
    try:
        module = _import(module_name)
    except DeskError:
        raise
    except Exception as error:  # whatever the module raises while it loads
        raise DeskError(f"{module_name} does not import: {type(error).__name__}: {error}") from None
    found = getattr(module, class_name, None)
    if not inspect.isclass(found):
        raise DeskError(f"{module_name} has no class {class_name}")
    missing = [name for name in desk_methods() if not callable(getattr(found, name, None))]
    if missing:
        raise DeskError(
            f"{spec} is not an agent desk: it lacks {', '.join(missing)} "
            "(see sim.loadtest.desk.AgentDesk)"
        )
    return cast("type[AgentDesk]", found)


def _import(name: str) -> Any:
    """A module by dotted name, or from a file when ``name`` is a path to one."""
    if not name.endswith(".py") and "/" not in name and "\\" not in name:
        return importlib.import_module(name)
    path = Path(name).resolve()
    if not path.is_file():
        raise DeskError(f"no file {name}")
    # A name of its own, so that a file desk never shadows an installed module.
    unique = f"chatsim_desk_{path.stem}_{abs(hash(str(path)))}"
    if unique in sys.modules:
        return sys.modules[unique]
    spec = importlib.util.spec_from_file_location(unique, path)
    if spec is None or spec.loader is None:
        raise DeskError(f"{name} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[unique] = module  # dataclasses and pickling look their module up here
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[unique]
        raise
    return module
