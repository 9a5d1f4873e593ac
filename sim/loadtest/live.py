"""Live KPIs of a running replay, per channel, for the "chatsim KPIs" tab of Locust's web UI.

Customers tell their worker what they saw as they see it: a first response and its delay, a
reply inside the session and its delay, a missed chat. The tally counts them per channel, in
scenario seconds. It stays out of Locust's request statistics on purpose: those are HTTP
requests in wall milliseconds, and KPI rows there would mix minutes of scenario time into the
Aggregated row and the response-time chart.

In distributed mode each worker sends what it tallied since its last report with Locust's own
stats report (``report_to_master``) and starts again from zero; the master adds the reports up
(``worker_report``), as Locust does with its request statistics. The tab shows the conversations
settled so far; the verdict reads the results file the run writes at its end.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sim.catalogue import kpi
from sim.errors import InputError
from sim.loadtest.raw import read_plain

FIRST_RESPONSE = "first_response"
IN_SESSION = "in_session"
MISSED = "missed"


@dataclass(slots=True)
class ChannelTally:
    """What one channel's customers saw so far (delays in scenario seconds)."""

    answered: int = 0
    first_response_total: float = 0.0
    first_response_max: float = 0.0
    insession_replies: int = 0
    insession_total: float = 0.0
    missed: int = 0

    def add(self, other: ChannelTally) -> None:
        self.answered += other.answered
        self.first_response_total += other.first_response_total
        self.first_response_max = max(self.first_response_max, other.first_response_max)
        self.insession_replies += other.insession_replies
        self.insession_total += other.insession_total
        self.missed += other.missed


COLUMNS: tuple[tuple[str, str], ...] = (
    ("channel", "Channel"),
    ("answered", kpi("answered").label),
    ("missed", kpi("missed").label),
    ("frt_mean", f"{kpi('frt_mean').label} (s)"),
    ("frt_max", "first response, max (s)"),
    ("insession_replies", kpi("insession_replies").label),
    ("insession_mean", f"{kpi('insession_mean').label} (s)"),
)
"""The tab's columns: key and header (headers from the KPI catalogue)."""


class LiveKpis:
    """Per-channel tallies of a replay in progress."""

    def __init__(self) -> None:
        self.channels: dict[str, ChannelTally] = {}

    def record(self, channel: str, kind: str, delay: float | None) -> None:
        """A customer on ``channel`` saw a ``kind`` event (``first_response``, ``in_session``
        with its delay in scenario seconds, or ``missed``)."""
        tally = self.channels.setdefault(channel, ChannelTally())
        if kind == MISSED or delay is None:
            tally.missed += 1
        elif kind == FIRST_RESPONSE:
            tally.answered += 1
            tally.first_response_total += delay
            tally.first_response_max = max(tally.first_response_max, delay)
        elif kind == IN_SESSION:
            tally.insession_replies += 1
            tally.insession_total += delay
        else:
            raise ValueError(f"unknown KPI event {kind!r}")

    def clear(self) -> None:
        self.channels = {}

    def to_dict(self) -> dict[str, dict[str, Any]]:
        """Plain data for a Locust message."""
        return {name: asdict(tally) for name, tally in self.channels.items()}

    def merge(self, data: object) -> None:
        """Add a worker's report (:meth:`to_dict`); anything else is ignored."""
        if not isinstance(data, dict):
            return
        for channel, values in data.items():
            try:
                tally = read_plain(ChannelTally, values, key=f"{channel}")
            except InputError:
                continue
            self.channels.setdefault(str(channel), ChannelTally()).add(tally)

    def take(self) -> dict[str, dict[str, Any]]:
        """What was tallied since the last take, which starts a new tally (a worker's report)."""
        data = self.to_dict()
        self.clear()
        return data

    def rows(self) -> list[dict[str, str | int]]:
        """The tab's rows, one per channel and a total, values formatted for reading."""
        total = ChannelTally()
        rows = []
        for name in sorted(self.channels):
            tally = self.channels[name]
            total.add(tally)
            rows.append(_row(name, tally))
        if len(rows) > 1:
            rows.append(_row("all channels", total))
        return rows


def _row(channel: str, tally: ChannelTally) -> dict[str, str | int]:
    def mean(total: float, count: int) -> str:
        return f"{total / count:.1f}" if count else "–"

    return {
        "channel": channel,
        "answered": tally.answered,
        "missed": tally.missed,
        "frt_mean": mean(tally.first_response_total, tally.answered),
        "frt_max": f"{tally.first_response_max:.1f}" if tally.answered else "–",
        "insession_replies": tally.insession_replies,
        "insession_mean": mean(tally.insession_total, tally.insession_replies),
    }
