"""Per-conversation records (``conversations.jsonl``) and what the report derives from them.

The file sits next to ``results.json`` and holds one record per conversation of the first
replication (README.md, "KPIs and results"). The report uses it for the distribution of first
response per channel, the time agents hold a chat slot, and the agents seen working per
interval.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from sim.errors import InputError

FILENAME = "conversations.jsonl"


def conversations_path(results_path: Path) -> Path:
    """Where the records of a results file (or its directory) are."""
    directory = results_path if results_path.is_dir() else results_path.parent
    return directory / FILENAME


def read_conversations(path: Path) -> list[dict[str, Any]] | None:
    """The records in ``path``, or None when there is no such file."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read: {error}", file=path) from None
    records = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise InputError(f"line {number}: invalid JSON: {error.msg}", file=path) from None
        if not isinstance(record, dict):
            raise InputError(f"line {number}: expected an object per line", file=path)
        records.append(record)
    return records


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def first_responses(records: Sequence[dict[str, Any]]) -> dict[str, np.ndarray]:
    """Sorted first-response times (s) per channel: ``reply_delays[0]`` of the conversations
    that entered the queue and were not missed."""
    found: dict[str, list[float]] = {}
    for record in records:
        delays = record.get("reply_delays")
        if (
            record.get("missed")
            or record.get("queued_at") is None
            or not isinstance(delays, list)
            or not delays
        ):
            continue
        first = _number(delays[0])
        if first is not None:
            found.setdefault(str(record.get("channel")), []).append(first)
    return {channel: np.sort(np.array(values)) for channel, values in found.items()}


def _held(records: Sequence[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    spans = [(_number(r.get("assigned_at")), _number(r.get("closed_at"))) for r in records]
    kept = [(a, c) for a, c in spans if a is not None and c is not None and c >= a]
    return np.array([a for a, _ in kept], dtype=float), np.array([c for _, c in kept], dtype=float)


def mean_slot_holding(records: Sequence[dict[str, Any]]) -> float | None:
    """Mean seconds from assignment to close: how long a conversation holds an agent's slot."""
    assigned, closed = _held(records)
    return float((closed - assigned).mean()) if assigned.size else None


def agents_seen(records: Sequence[dict[str, Any]], interval: float, count: int) -> np.ndarray:
    """Agents holding at least one chat at some time during each of ``count`` intervals: a
    lower bound of the agents logged in (an idle agent leaves no record)."""
    seen: list[set[str]] = [set() for _ in range(count)]
    for record in records:
        assigned, closed = _number(record.get("assigned_at")), _number(record.get("closed_at"))
        agent = record.get("agent")
        if assigned is None or closed is None or agent is None or count == 0:
            continue
        first = min(max(int(assigned // interval), 0), count - 1)
        last = min(max(int(closed // interval), first), count - 1)
        for j in range(first, last + 1):
            seen[j].add(str(agent))
    return np.array([len(agents) for agents in seen], dtype=float)
