"""The durable store: one SQLite file (standard library ``sqlite3``), the gateway's default.

**Durability.** The database runs in WAL mode. The conversation service calls
:meth:`SqliteStore.commit` before it answers a request, so every message, reply, assignment and
event it acknowledged is committed first. With ``synchronous=NORMAL`` (the default) a commit
appends to the write-ahead log with ``write()`` and does not wait for ``fsync``: the data is in
the operating system's page cache, so it survives the gateway process dying in any way
(SIGKILL, OOM kill, a crash) but not the machine losing power or the kernel panicking, after
which the last commits may be rolled back (the file stays consistent). ``synchronous=FULL``
also syncs the log at each commit and survives an OS crash too, at the cost of one ``fsync``
per acknowledged request; ``chatsim gateway --store-sync full`` picks it. A process crash is
what a gateway restart usually follows, hence NORMAL by default.

Writes made outside a request (the outbox recording a delivery) are committed at the end of the
current event-loop step, so nothing waits for the next request to become durable.

**Memory.** Only what is open lives in process memory as well: queued and assigned
conversations with their messages, and agents' unacknowledged events. A conversation that ends
leaves memory and is read from the file when asked for (``GET /conversations/{cid}``); webchat
replies, idempotency keys, delivery statuses and agents' records are read from the file.

**One gateway per file.** The connection holds an exclusive lock on the database for its
lifetime, so a second gateway on the same file fails at start instead of sharing state; the
operating system drops the lock when the process dies, SIGKILL included.

**Restart.** Opening an existing file loads the open conversations and the events back; the
counters of conversation ids and event sequence numbers are stored, so neither is ever reused.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections import deque
from pathlib import Path
from typing import Any, Literal

from pydantic import TypeAdapter

from .schemas import AgentEvent
from .store import (
    OPEN_STATES,
    AgentRecord,
    Conversation,
    Event,
    Message,
    StatusRecord,
    WebchatOut,
)

SCHEMA_VERSION = 1
SYNCHRONOUS = ("normal", "full")
_EVENTS: TypeAdapter[Event] = TypeAdapter(AgentEvent)
_PRUNE_EVERY = 1000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY, channel TEXT NOT NULL, protocol TEXT NOT NULL,
    customer_id TEXT NOT NULL, customer_name TEXT, queued_at REAL NOT NULL,
    address TEXT NOT NULL, state TEXT NOT NULL, agent_id TEXT, assigned_at REAL,
    first_reply_at REAL, ended_at REAL, queue_order INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_open ON conversations (state)
    WHERE state IN ('queued', 'assigned');
CREATE TABLE IF NOT EXISTS messages (
    conversation_id TEXT NOT NULL, idx INTEGER NOT NULL, sender TEXT NOT NULL,
    kind TEXT NOT NULL, text TEXT NOT NULL, ts REAL NOT NULL, native_type TEXT, media TEXT,
    platform_id TEXT, agent_id TEXT, delivery TEXT, delivery_error TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conversation_id, idx)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS messages_queued ON messages (delivery) WHERE delivery = 'queued';
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, agent_id TEXT NOT NULL, body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_agent ON events (agent_id, seq);
CREATE TABLE IF NOT EXISTS webchat (
    session TEXT NOT NULL, idx INTEGER NOT NULL, conversation_id TEXT NOT NULL,
    text TEXT NOT NULL, ts REAL NOT NULL, PRIMARY KEY (session, idx)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS keys (n INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, value TEXT);
CREATE TABLE IF NOT EXISTS statuses (
    n INTEGER PRIMARY KEY, protocol TEXT NOT NULL, message_id TEXT NOT NULL,
    status TEXT NOT NULL, recipient TEXT, ts REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS agents (
    id TEXT PRIMARY KEY, skills TEXT NOT NULL, max_chats INTEGER NOT NULL,
    state TEXT NOT NULL, gone_at REAL
);
"""

_CONVERSATION_COLUMNS = (
    "id, channel, protocol, customer_id, customer_name, queued_at, address, state, agent_id, "
    "assigned_at, first_reply_at, ended_at, queue_order"
)
_MESSAGE_COLUMNS = (
    "sender, kind, text, ts, native_type, media, platform_id, agent_id, delivery, idx, "
    "delivery_error, attempts"
)


class StoreError(RuntimeError):
    """The store file cannot be used (locked by another gateway, or not a chatsim store)."""


def _conversation(row: sqlite3.Row) -> Conversation:
    return Conversation(
        id=row["id"],
        channel=row["channel"],
        protocol=row["protocol"],
        customer_id=row["customer_id"],
        customer_name=row["customer_name"],
        queued_at=row["queued_at"],
        address=json.loads(row["address"]),
        state=row["state"],
        agent_id=row["agent_id"],
        assigned_at=row["assigned_at"],
        first_reply_at=row["first_reply_at"],
        ended_at=row["ended_at"],
        queue_order=row["queue_order"],
    )


def _message(row: sqlite3.Row) -> Message:
    return Message(
        sender=row["sender"],
        kind=row["kind"],
        text=row["text"],
        ts=row["ts"],
        native_type=row["native_type"],
        media=row["media"],
        platform_id=row["platform_id"],
        agent_id=row["agent_id"],
        delivery=row["delivery"],
        index=row["idx"],
        delivery_error=row["delivery_error"],
        attempts=row["attempts"],
    )


class SqliteStore:
    """A :class:`~sim.gateway.store.Store` in an SQLite file; see the module docstring.

    ``synchronous`` is ``normal`` (survives a process crash) or ``full`` (an OS crash too).
    Idempotency keys are kept for the newest ``max_keys``, delivery statuses for the newest
    ``max_statuses`` (older rows are deleted every thousand inserts).
    """

    def __init__(
        self,
        path: str | Path,
        *,
        synchronous: Literal["normal", "full"] | str = "normal",
        max_keys: int = 500_000,
        max_statuses: int = 100_000,
    ) -> None:
        if synchronous not in SYNCHRONOUS:
            raise ValueError(f"synchronous: expected normal or full, got {synchronous!r}")
        self.path = str(path)
        self._closed = False
        self._max_keys = max_keys
        self._max_statuses = max_statuses
        # isolation_level=None: transactions are begun and committed here, explicitly.
        # check_same_thread=False: the app may be built in one thread and served in another;
        # the event loop serialises every use.
        try:
            self._db = sqlite3.connect(
                self.path, timeout=2.0, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise StoreError(f"store {self.path}: {error}") from None
        self._db.row_factory = sqlite3.Row
        try:
            self._db.execute("PRAGMA locking_mode = EXCLUSIVE")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute(f"PRAGMA synchronous = {synchronous.upper()}")
            self._db.execute("BEGIN IMMEDIATE")  # takes the exclusive lock now
        except sqlite3.Error as error:
            self._db.close()
            hint = " (is another gateway using it?)" if "locked" in str(error) else ""
            raise StoreError(f"store {self.path}: {error}{hint}") from None
        self._db.executescript(f"BEGIN; {_SCHEMA}")
        self._counters = self._load_counters()
        self._conversations: dict[str, Conversation] = {}
        self._open: dict[tuple[str, str], str] = {}
        self._messages: dict[str, list[Message]] = {}
        self._events: dict[str, deque[Event]] = {}
        self._load_open()
        self._inserts = {"keys": 0, "statuses": 0}
        self._commit_scheduled = False
        self.commit()

    # -- loading -----------------------------------------------------------------------------

    def _load_counters(self) -> dict[str, int]:
        counters = {"schema": SCHEMA_VERSION, "conversation": 0, "event": 0, "front": 0}
        stored = {name: value for name, value in self._db.execute("SELECT name, value FROM meta")}
        if stored.get("schema", SCHEMA_VERSION) != SCHEMA_VERSION:
            raise StoreError(
                f"store {self.path}: schema version {stored['schema']}, expected {SCHEMA_VERSION}"
            )
        counters.update(stored)
        self._db.executemany(
            "INSERT OR IGNORE INTO meta (name, value) VALUES (?, ?)", counters.items()
        )
        return counters

    def _load_open(self) -> None:
        rows = self._db.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations "
            "WHERE state IN ('queued', 'assigned')"
        )
        for row in rows:
            conversation = _conversation(row)
            self._conversations[conversation.id] = conversation
            self._open[(conversation.channel, conversation.customer_id)] = conversation.id
            self._messages[conversation.id] = self._read_messages(conversation.id)
        for row in self._db.execute("SELECT agent_id, body FROM events ORDER BY seq"):
            event = _EVENTS.validate_json(row["body"])
            self._events.setdefault(row["agent_id"], deque()).append(event)

    def _read_messages(self, conversation_id: str) -> list[Message]:
        rows = self._db.execute(
            f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? ORDER BY idx",
            (conversation_id,),
        )
        return [_message(row) for row in rows]

    # -- transactions ------------------------------------------------------------------------

    def _write(self, sql: str, params: tuple[Any, ...] | dict[str, Any] = ()) -> sqlite3.Cursor:
        if not self._db.in_transaction:
            self._db.execute("BEGIN")
            self._schedule_commit()
        return self._db.execute(sql, params)

    def _schedule_commit(self) -> None:
        # Backstop for writes outside a request (the outbox's delivery updates): commit at the
        # end of this event-loop step. Requests commit explicitly before they answer.
        if self._commit_scheduled:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        self._commit_scheduled = True
        loop.call_soon(self._scheduled_commit)

    def _scheduled_commit(self) -> None:
        self._commit_scheduled = False
        self.commit()

    def commit(self) -> None:
        if not self._closed and self._db.in_transaction:
            self._db.execute("COMMIT")

    def close(self) -> None:
        """Commit and close; a checkpoint folds the log back into the file."""
        self.commit()
        self._closed = True
        self._db.close()

    def _next(self, counter: str) -> int:
        value = self._counters[counter] + 1
        self._counters[counter] = value
        self._write("UPDATE meta SET value = ? WHERE name = ?", (value, counter))
        return value

    # -- conversations -----------------------------------------------------------------------

    def new_conversation_id(self) -> str:
        return f"cv-{self._next('conversation'):06d}"

    def add_conversation(self, conversation: Conversation) -> None:
        self._write(
            f"INSERT INTO conversations ({_CONVERSATION_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conversation.id,
                conversation.channel,
                conversation.protocol,
                conversation.customer_id,
                conversation.customer_name,
                conversation.queued_at,
                json.dumps(conversation.address),
                conversation.state,
                conversation.agent_id,
                conversation.assigned_at,
                conversation.first_reply_at,
                conversation.ended_at,
                conversation.queue_order,
            ),
        )
        self._conversations[conversation.id] = conversation
        self._messages[conversation.id] = []
        self._index(conversation)

    def conversation(self, conversation_id: str) -> Conversation | None:
        cached = self._conversations.get(conversation_id)
        if cached is not None:
            return cached
        row = self._db.execute(
            f"SELECT {_CONVERSATION_COLUMNS} FROM conversations WHERE id = ?", (conversation_id,)
        ).fetchone()
        return None if row is None else _conversation(row)

    def open_conversation(self, channel: str, customer_id: str) -> Conversation | None:
        cid = self._open.get((channel, customer_id))
        return None if cid is None else self._conversations[cid]

    def save_conversation(self, conversation: Conversation) -> None:
        self._write(
            "UPDATE conversations SET customer_name = ?, address = ?, state = ?, agent_id = ?, "
            "assigned_at = ?, first_reply_at = ?, ended_at = ?, queue_order = ? WHERE id = ?",
            (
                conversation.customer_name,
                json.dumps(conversation.address),
                conversation.state,
                conversation.agent_id,
                conversation.assigned_at,
                conversation.first_reply_at,
                conversation.ended_at,
                conversation.queue_order,
                conversation.id,
            ),
        )
        self._index(conversation)

    def _index(self, conversation: Conversation) -> None:
        """Keep open conversations in memory, let ended ones go (they stay in the file)."""
        key = (conversation.channel, conversation.customer_id)
        if conversation.state in OPEN_STATES:
            self._open[key] = conversation.id
            self._conversations[conversation.id] = conversation
            return
        if self._open.get(key) == conversation.id:
            del self._open[key]
        self._conversations.pop(conversation.id, None)
        self._messages.pop(conversation.id, None)

    def open_conversations(self) -> list[Conversation]:
        return list(self._conversations.values())

    # -- messages ----------------------------------------------------------------------------

    def add_message(self, conversation_id: str, message: Message) -> Message:
        cached = self._messages.get(conversation_id)
        if cached is None:
            row = self._db.execute(
                "SELECT COALESCE(MAX(idx), 0) FROM messages WHERE conversation_id = ?",
                (conversation_id,),
            ).fetchone()
            message.index = int(row[0]) + 1
        else:
            message.index = len(cached) + 1
        self._write(
            f"INSERT INTO messages (conversation_id, {_MESSAGE_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                conversation_id,
                message.sender,
                message.kind,
                message.text,
                message.ts,
                message.native_type,
                message.media,
                message.platform_id,
                message.agent_id,
                message.delivery,
                message.index,
                message.delivery_error,
                message.attempts,
            ),
        )
        if cached is not None:
            cached.append(message)
        return message

    def messages(self, conversation_id: str) -> list[Message]:
        cached = self._messages.get(conversation_id)
        if cached is not None:
            return list(cached)
        return self._read_messages(conversation_id)

    def update_message(self, conversation_id: str, message: Message) -> None:
        self._write(
            "UPDATE messages SET delivery = ?, platform_id = ?, delivery_error = ?, attempts = ? "
            "WHERE conversation_id = ? AND idx = ?",
            (
                message.delivery,
                message.platform_id,
                message.delivery_error,
                message.attempts,
                conversation_id,
                message.index,
            ),
        )

    def pending_messages(self) -> list[tuple[Conversation, Message]]:
        rows = self._db.execute(
            "SELECT conversation_id, idx FROM messages WHERE delivery = 'queued' "
            "ORDER BY conversation_id, idx"
        ).fetchall()
        pending: list[tuple[Conversation, Message]] = []
        for row in rows:
            cid, index = row["conversation_id"], row["idx"]
            conversation = self.conversation(cid)
            cached = self._messages.get(cid)
            if cached is not None:
                message = cached[index - 1]
            else:
                found = self._db.execute(
                    f"SELECT {_MESSAGE_COLUMNS} FROM messages WHERE conversation_id = ? "
                    "AND idx = ?",
                    (cid, index),
                ).fetchone()
                message = _message(found)
            if conversation is not None:
                pending.append((conversation, message))
        return pending

    # -- agents and their events -------------------------------------------------------------

    def next_event_seq(self) -> int:
        return self._next("event")

    def next_front_seq(self) -> int:
        return self._next("front")

    def add_event(self, agent_id: str, event: Event) -> None:
        self._write(
            "INSERT INTO events (seq, agent_id, body) VALUES (?, ?, ?)",
            (event.seq, agent_id, event.model_dump_json()),
        )
        self._events.setdefault(agent_id, deque()).append(event)

    def events_after(self, agent_id: str, seq: int) -> list[Event]:
        return [event for event in self._events.get(agent_id, ()) if event.seq > seq]

    def drop_events(self, agent_id: str, upto: int) -> None:
        events = self._events.get(agent_id)
        if not events or events[0].seq > upto:
            return
        while events and events[0].seq <= upto:
            events.popleft()
        if not events:
            del self._events[agent_id]
        self._write("DELETE FROM events WHERE agent_id = ? AND seq <= ?", (agent_id, upto))

    def save_agent(self, agent: AgentRecord) -> None:
        self._write(
            "INSERT OR REPLACE INTO agents (id, skills, max_chats, state, gone_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (agent.id, json.dumps(agent.skills), agent.max_chats, agent.state, agent.gone_at),
        )

    def agents(self) -> list[AgentRecord]:
        rows = self._db.execute("SELECT id, skills, max_chats, state, gone_at FROM agents")
        return [
            AgentRecord(
                row["id"], json.loads(row["skills"]), row["max_chats"], row["state"], row["gone_at"]
            )
            for row in rows
        ]

    def forget_agent(self, agent_id: str) -> None:
        self._write("DELETE FROM agents WHERE id = ?", (agent_id,))
        self._write("DELETE FROM events WHERE agent_id = ?", (agent_id,))
        self._events.pop(agent_id, None)

    # -- webchat, keys, statuses -------------------------------------------------------------

    def add_webchat_message(
        self, session: str, conversation_id: str, text: str, ts: float
    ) -> WebchatOut:
        row = self._db.execute(
            "SELECT COALESCE(MAX(idx), 0) FROM webchat WHERE session = ?", (session,)
        ).fetchone()
        message = WebchatOut(int(row[0]) + 1, conversation_id, text, ts)
        self._write(
            "INSERT INTO webchat (session, idx, conversation_id, text, ts) VALUES (?, ?, ?, ?, ?)",
            (session, message.index, conversation_id, text, ts),
        )
        return message

    def webchat_messages(self, session: str, after: int) -> list[WebchatOut]:
        rows = self._db.execute(
            "SELECT idx, conversation_id, text, ts FROM webchat WHERE session = ? AND idx > ? "
            "ORDER BY idx",
            (session, after),
        )
        return [WebchatOut(row[0], row[1], row[2], row[3]) for row in rows]

    def claim_key(self, key: str, value: str = "") -> str | None:
        row = self._db.execute("SELECT value FROM keys WHERE key = ?", (key,)).fetchone()
        if row is not None:
            return str(row[0])
        self._write("INSERT INTO keys (key, value) VALUES (?, ?)", (key, value))
        self._prune("keys", self._max_keys)
        return None

    def record_status(self, status: StatusRecord) -> None:
        self._write(
            "INSERT INTO statuses (protocol, message_id, status, recipient, ts) "
            "VALUES (?, ?, ?, ?, ?)",
            (status.protocol, status.message_id, status.status, status.recipient, status.ts),
        )
        self._prune("statuses", self._max_statuses)

    def statuses(self) -> list[StatusRecord]:
        rows = self._db.execute(
            "SELECT protocol, message_id, status, recipient, ts FROM statuses ORDER BY n"
        )
        return [StatusRecord(*row) for row in rows]

    def _prune(self, table: Literal["keys", "statuses"], keep: int) -> None:
        self._inserts[table] += 1
        if self._inserts[table] % _PRUNE_EVERY:
            return
        newest = self._db.execute(f"SELECT MAX(n) FROM {table}").fetchone()[0]
        self._write(f"DELETE FROM {table} WHERE n <= ?", (int(newest) - keep,))

    # -- diagnostics -------------------------------------------------------------------------

    def resident(self) -> dict[str, int]:
        return {
            "conversations": len(self._conversations),
            "messages": sum(len(messages) for messages in self._messages.values()),
            "event_queues": len(self._events),
            "webchat_sessions": 0,
            "agents": 0,
        }
