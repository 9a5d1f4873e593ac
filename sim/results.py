"""Results: KPIs over replications, and the versioned results file both model and replay write.

Each KPI is ``{"mean": x, "ci95": h}``: the mean over replications and the half-width of its 95%
confidence interval (Student t with n-1 degrees of freedom); ``ci95`` is absent for a single run
and a KPI undefined in every replication has mean ``null``.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import operator
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationError,
)
from scipy import special

from sim.catalogue import KEYS
from sim.collector import collector_paused
from sim.durations import WEEK, WeekTime, format_clock, format_day_clock, parse_day_clock
from sim.errors import InputError
from sim.kpi import KpiValues, Measurement
from sim.records import ConversationLog, ConversationRecord
from sim.scenario import Scenario
from sim.trace import Trace

FORMAT = "chatsim-results"
VERSION = 1

Stat = dict[str, float | None]


@functools.cache
def t_quantile(dof: int) -> float:
    """The 97.5% quantile of Student's t with ``dof`` degrees of freedom (computed once each).

    ``scipy.special.stdtrit`` is what ``scipy.stats.t.ppf`` computes, to the bit, without
    importing ``scipy.stats`` (most of a command's start-up)."""
    return float(special.stdtrit(dof, 0.975))


def summarise(values: Sequence[float | None]) -> Stat:
    """Mean and 95% confidence half-width of one KPI across replications (nulls skipped)."""
    present = np.array([v for v in values if v is not None and not math.isnan(v)], dtype=float)
    if present.size == 0:
        return {"mean": None}
    result: Stat = {"mean": float(present.mean())}
    if len(values) > 1:
        if present.size > 1:
            sem = float(present.std(ddof=1)) / math.sqrt(present.size)
            result["ci95"] = t_quantile(present.size - 1) * sem
        else:
            result["ci95"] = None
    return result


def summarise_rows(table: np.ndarray) -> list[Stat]:
    """:func:`summarise` of each row of ``table`` (replications along the columns, NaN for
    null), a few array passes for all the rows: numpy reduces each row of a C-contiguous table
    exactly as it reduces that row alone, so the figures are the same to the bit. Rows with
    nulls are summarised by how many values they have: the rows with ``k`` values, each
    compressed to those values in order, make a table of ``k`` columns of their own."""
    table = np.ascontiguousarray(table, dtype=float)
    rows, n = table.shape
    if n == 0:
        return [{"mean": None} for _ in range(rows)]
    present = ~np.isnan(table)
    counts = present.sum(axis=1)
    means = np.full(rows, np.nan)
    widths = np.full(rows, np.nan)
    for k in np.unique(counts).tolist():
        if k == 0:
            continue
        chosen = counts == k
        values = table[chosen][present[chosen]].reshape(-1, k)  # C order: each row's, in order
        means[chosen] = values.mean(axis=1)
        if k > 1:
            widths[chosen] = t_quantile(k - 1) * (values.std(axis=1, ddof=1) / math.sqrt(k))
    means_list: list[float] = means.tolist()
    if n == 1:
        out: list[Stat] = [{"mean": m} for m in means_list]
    else:
        # A single value has no spread: its half-width is null, as is NaN's.
        out = [
            {"mean": m, "ci95": None if h != h else h}
            for m, h in zip(means_list, widths.tolist(), strict=True)
        ]
    for i in np.flatnonzero(counts == 0).tolist():
        out[i] = {"mean": None}  # undefined in every replication (a quiet night's responses)
    return out


@dataclass(slots=True, kw_only=True)
class ResultsHeader:
    """What a results file is about: where its numbers come from and on what they were run.

    ``source`` is ``model`` or ``replay``; ``start`` (``"HH:MM"``, or ``"Mon 08:00"`` when the
    scenario's start has a day) and ``interval`` (seconds) place the per-interval rows on the
    clock; ``trace_sha256`` names the trace when the run played one given trace, ``seed`` the
    random streams it was drawn from.
    """

    source: str
    scenario: str
    scenario_sha256: str
    start: str
    interval: float
    trace_sha256: str | None = None
    seed: int | None = None

    @classmethod
    def of(
        cls,
        scenario: Scenario,
        source: str = "model",
        *,
        seed: int | None = None,
        trace: Trace | None = None,
    ) -> ResultsHeader:
        """The header of results of ``scenario``: drawn with ``seed``, or played on ``trace``."""
        return cls(
            source=source,
            scenario=scenario.name,
            scenario_sha256=scenario.sha256,
            start=scenario.clock(0.0),
            interval=scenario.interval,
            trace_sha256=trace.sha256() if trace is not None else None,
            seed=trace.header.seed if trace is not None else seed,
        )

    def interval_label(self, index: int) -> str:
        """Clock time at which interval ``index`` starts, ``"HH:MM"`` (``"Mon 08:00"`` when the
        start has a day)."""
        start = parse_day_clock(self.start)
        if isinstance(start, WeekTime):
            return format_day_clock((start + index * self.interval) % WEEK)
        return format_clock(start + index * self.interval)


@dataclass(slots=True, kw_only=True)
class Results(ResultsHeader):
    """KPIs of one scenario (and possibly one trace), from the model or from a replay."""

    replications: int
    total: dict[str, Stat]
    channels: dict[str, dict[str, Stat]]
    intervals: list[dict[str, Any]]
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": VERSION,
            **{f.name: getattr(self, f.name) for f in fields(ResultsHeader)},
            "replications": self.replications,
            **self.extra,
            "total": self.total,
            "channels": self.channels,
            "intervals": self.intervals,
        }

    @property
    def header(self) -> ResultsHeader:
        return ResultsHeader(**{f.name: getattr(self, f.name) for f in fields(ResultsHeader)})

    def mean(self, kpi: str, channel: str | None = None) -> float | None:
        """The mean of a KPI in total or for one channel."""
        table = self.total if channel is None else self.channels[channel]
        return table.get(kpi, {}).get("mean")


def aggregate(
    measurements: Sequence[Measurement], header: ResultsHeader, extra: dict[str, Any] | None = None
) -> Results:
    """Combine the :func:`sim.kpi.measure` output of replications into Results."""
    with collector_paused():
        return _aggregate(measurements, header, extra)


def _aggregate(
    measurements: Sequence[Measurement], header: ResultsHeader, extra: dict[str, Any] | None
) -> Results:
    first = measurements[0]
    names = list(first["channels"])
    scopes: list[list[KpiValues]] = [[m["total"] for m in measurements]]
    scopes.extend([m["channels"][name] for m in measurements] for name in names)
    scopes.extend(
        [m["intervals"][position] for m in measurements]
        for position in range(len(first["intervals"]))
    )
    # A tuple of every KPI per scope and replication (one C call each), one conversion
    # (numpy reads None as NaN), then a row per scope and KPI.
    kpis = operator.itemgetter(*KEYS)
    table = (
        np.array([kpis(t) for tables in scopes for t in tables], dtype=float)
        .reshape(len(scopes), len(measurements), len(KEYS))
        .transpose(0, 2, 1)
        .reshape(len(scopes) * len(KEYS), len(measurements))
    )
    stats_of = summarise_rows(table)
    k = len(KEYS)
    combined = [
        dict(zip(KEYS, stats_of[g * k : (g + 1) * k], strict=True)) for g in range(len(scopes))
    ]
    # A label per interval, not per row (every channel of an interval shares it).
    labels = {j: header.interval_label(j) for j in {row["index"] for row in first["intervals"]}}
    intervals = [
        {
            "start": labels[row["index"]],
            "index": row["index"],
            "channel": row["channel"],
            **combined[1 + len(names) + position],
        }
        for position, row in enumerate(first["intervals"])
    ]
    return Results(
        **{f.name: getattr(header, f.name) for f in fields(ResultsHeader)},
        replications=len(measurements),
        total=combined[0],
        channels={name: combined[1 + i] for i, name in enumerate(names)},
        intervals=intervals,
        extra=dict(extra or {}),
    )


def write_results(
    results: Results, directory: str | Path, records: Iterable[ConversationRecord] | None = ()
) -> Path:
    """Write ``results.json`` and ``conversations.jsonl`` into ``directory``; returns the
    JSON path. The records are encoded one at a time as they come (a generator streams);
    ``records=None`` leaves ``conversations.jsonl`` as it is (written already, by
    :func:`write_records`, while the other replications ran)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "results.json"
    with collector_paused():
        path.write_bytes(dump_results(results.to_dict()))
        if records is not None:
            write_records(directory, records)
    return path


def write_records(directory: str | Path, records: Iterable[ConversationRecord]) -> Path:
    """``conversations.jsonl`` in ``directory``: one record a line (:func:`encode_records`),
    encoded a chunk at a time (straight from the columns of a run's log, or as other records
    come); returns its path."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "conversations.jsonl"
    with collector_paused(), path.open("wb") as handle:
        if isinstance(records, ConversationLog):
            for start in range(0, len(records), _CHUNK):
                handle.write(encode_records(records, start, start + _CHUNK))
        else:
            coming = iter(records)
            while chunk := list(itertools.islice(coming, _CHUNK)):
                handle.write(encode_records(chunk))
    return path


_CHUNK = 20_000
"""Records encoded at once: the columns of a chunk are a few MiB, whatever the day."""


def encode_records(
    records: ConversationLog | Sequence[ConversationRecord], start: int = 0, stop: int | None = None
) -> bytes:
    """The lines of ``conversations.jsonl`` for ``records[start:stop]``: each
    :meth:`ConversationRecord.to_dict`, its times rounded to milliseconds (numpy's rounding,
    as a drawn trace's), one compact JSON object a line.

    Times are rounded a column at a time, and orjson encodes all the records in one call (one
    call per record costs twice as much: each allocates its own buffer). The list it writes
    becomes lines at ``},{"id":``, which only a boundary between two records can spell: the
    records are flat objects whose first key is ``id``, and a quote inside a string is escaped.
    """
    log = records if isinstance(records, ConversationLog) else ConversationLog.of(records)
    rows_in = range(len(log))[start:stop]
    start, stop = rows_in.start, rows_in.stop
    talks = log.columns

    def ms(name: str) -> list[float]:
        # NaN (never) is written as null by orjson.
        return np.round(log.column(name)[start:stop], 3).tolist()  # type: ignore[no-any-return]

    delays, counts = log.replies()
    before = int(counts[:start].sum())
    counted = counts[start:stop].tolist()
    flat = np.round(delays[before : before + sum(counted)], 3).tolist()
    ends = itertools.accumulate(counted)
    offered = ~np.isnan(log.column("queued_at")[start:stop])
    missed = (offered & ~log.column("answered")[start:stop]).tolist()
    rows = zip(
        talks.ids[start:stop],
        [talks.channels[c] for c in talks.channel[start:stop].tolist()],
        np.round(talks.t[start:stop], 3).tolist(),
        talks.bot_contained[start:stop].tolist(),
        ms("queued_at"),
        ms("assigned_at"),
        ms("first_reply_at"),
        missed,
        ms("left_at"),
        ms("closed_at"),
        log.agent_ids[start:stop],
        [flat[e - k : e] for e, k in zip(ends, counted, strict=True)],
        strict=True,
    )
    lines = [
        {
            "id": id_,
            "channel": channel,
            "arrived_at": arrived,
            "bot_contained": contained,
            "queued_at": queued_at,
            "assigned_at": assigned,
            "first_reply_at": first,
            "missed": missed,
            "left_at": left,
            "closed_at": closed,
            "agent": agent,
            "reply_delays": replies,
        }
        for (
            id_,
            channel,
            arrived,
            contained,
            queued_at,
            assigned,
            first,
            missed,
            left,
            closed,
            agent,
            replies,
        ) in rows
    ]
    if not lines:
        return b""
    return orjson.dumps(lines)[1:-1].replace(b'},{"id":', b'}\n{"id":') + b"\n"


def dump_results(data: dict[str, Any]) -> bytes:
    """``data`` (:meth:`Results.to_dict`) as ``results.json`` holds it: JSON indented by two
    spaces with a final newline, every figure exactly (the shortest text that reads back as the
    same float), NaN and infinities null. A results file reads back as the results that wrote
    it, to the bit."""
    return orjson.dumps(
        data,
        option=orjson.OPT_INDENT_2
        | orjson.OPT_NON_STR_KEYS
        | orjson.OPT_SERIALIZE_NUMPY
        | orjson.OPT_APPEND_NEWLINE,
    )


class _StatShape(BaseModel):
    """One KPI in a results file: ``{"mean": x}`` or ``{"mean": x, "ci95": h}``."""

    model_config = ConfigDict(extra="forbid")
    mean: StrictFloat | None
    ci95: StrictFloat | None = None


class _IntervalShape(BaseModel):
    """A row of ``intervals``: its start, channel and index; every other key a KPI."""

    model_config = ConfigDict(extra="allow")
    start: StrictStr
    channel: StrictStr
    index: StrictInt | None = None
    __pydantic_extra__: dict[str, _StatShape] = Field(init=False)


class _ResultsShape(BaseModel):
    """What :func:`read_results` checks before it trusts a file (header keys stay open)."""

    model_config = ConfigDict(extra="allow")
    source: StrictStr
    scenario: StrictStr
    replications: StrictInt = Field(default=1, ge=1)
    interval: StrictFloat = Field(default=900.0, gt=0)
    start: StrictStr = "00:00"
    total: dict[str, _StatShape]
    channels: dict[str, dict[str, _StatShape]]
    intervals: list[_IntervalShape]


_PROBLEMS = {
    "missing": "missing required key",
    "extra_forbidden": "unknown key",
    "model_type": 'expected a KPI object {"mean": x, "ci95": h}',
    "dict_type": "expected an object",
    "list_type": "expected a list",
    "float_type": "expected a number or null",
}


def _key_path(loc: Sequence[int | str]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def read_results(path: str | Path) -> Results:
    """Read a results file written by chatsim (model or replay)."""
    path = Path(path)
    if path.is_dir():
        path = path / "results.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read: {error}", file=path) from None
    except json.JSONDecodeError as error:
        raise InputError(
            f"invalid JSON at line {error.lineno}, column {error.colno}: {error.msg}", file=path
        ) from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(
            f'not a chatsim results file ("format" must be "{FORMAT}")', file=path, key="format"
        )
    if data.get("version") != VERSION:
        raise InputError(
            f"unsupported results version {data.get('version')!r}", file=path, key="version"
        )
    try:
        _ResultsShape.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        problem = _PROBLEMS.get(first["type"], first["msg"])
        loc = first["loc"]
        if first["type"] == "float_type" and loc[-1] not in ("mean", "ci95"):
            problem = "expected a number"
        elif first["type"] == "model_type" and loc[0] == "intervals":
            problem = "expected an object"  # a row, not a KPI
        raise InputError(problem, file=path, key=_key_path(first["loc"])) from None
    known = {
        "format",
        "version",
        "replications",
        "total",
        "channels",
        "intervals",
        *(f.name for f in fields(ResultsHeader)),
    }
    return Results(
        source=str(data["source"]),
        scenario=str(data["scenario"]),
        scenario_sha256=str(data.get("scenario_sha256", "")),
        replications=int(data.get("replications", 1)),
        start=str(data.get("start", "00:00")),
        interval=float(data.get("interval", 900)),
        total=data["total"],
        channels=data["channels"],
        intervals=data["intervals"],
        trace_sha256=data.get("trace_sha256"),
        seed=data.get("seed"),
        extra={k: v for k, v in data.items() if k not in known},
    )
