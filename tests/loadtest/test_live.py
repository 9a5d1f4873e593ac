"""The live KPI tally: what customers saw, per channel, added up across workers' reports."""

from __future__ import annotations

import msgpack
import pytest

from sim.loadtest.live import COLUMNS, LiveKpis


def tallied() -> LiveKpis:
    live = LiveKpis()
    live.record("wa", "first_response", 30.0)
    live.record("wa", "first_response", 50.0)
    live.record("wa", "in_session", 20.0)
    live.record("wa", "missed", None)
    live.record("chat", "first_response", 10.0)
    return live


def test_rows_show_counts_and_means_per_channel_and_in_total():
    rows = {row["channel"]: row for row in tallied().rows()}
    assert set(rows) == {"chat", "wa", "all channels"}
    assert rows["wa"] == {
        "channel": "wa", "answered": 2, "missed": 1, "frt_mean": "40.0", "frt_max": "50.0",
        "insession_replies": 1, "insession_mean": "20.0",
    }  # fmt: skip
    assert rows["chat"]["insession_mean"] == "–"  # nothing measured is not 0
    assert rows["all channels"]["answered"] == 3
    assert rows["all channels"]["frt_mean"] == "30.0"
    assert [key for key, _ in COLUMNS] == list(rows["wa"])


def test_worker_reports_add_up_on_the_master_through_locust_transport():
    master, first, second = LiveKpis(), tallied(), tallied()
    for worker in (first, second):
        report = msgpack.unpackb(msgpack.packb(worker.take()), raw=False)
        master.merge(report)
    assert first.rows() == [] and second.rows() == []  # a take starts a new tally
    wa = master.channels["wa"]
    assert (wa.answered, wa.missed, wa.first_response_max) == (4, 2, 50.0)
    assert wa.first_response_total == pytest.approx(160.0)


def test_a_malformed_report_changes_nothing():
    live = tallied()
    before = live.to_dict()
    live.merge({"wa": {"answered": "many"}})
    live.merge(["not", "a", "report"])
    assert live.to_dict() == before


def test_an_unknown_event_is_an_error():
    with pytest.raises(ValueError, match="unknown KPI event"):
        LiveKpis().record("wa", "typing", 1.0)
