"""A synthetic conversation export for trying ``chatsim fit`` and ``chatsim forecast``.

Writes the generic CSV (``id,channel,created_at``, ISO 8601 local time with its offset) of
``--weeks`` weeks of arrivals ending on ``--end`` (a whole day), shaped like a scenario's
traffic: each channel's weekday and intraday pattern is the scenario's (a week scenario from
Monday 00:00, or a day scenario repeated every day), its level at the end of the history is the
scenario's volume, and before that it grows by ``--growth`` per ``--per`` (default tenfold in
two years, as the operator saw online contacts grow). Each day's level carries its own noise
(lognormal, ``--day-noise`` cv) on top of the Poisson arrivals, as real days do::

    .venv/bin/python scripts/synthetic_history.py scenarios/week.yaml --weeks 20 --out history.csv
    .venv/bin/chatsim forecast history.csv --scenario scenarios/week.yaml --out next-week.yaml
"""

from __future__ import annotations

import argparse
import csv
import datetime
from pathlib import Path

import numpy as np

from sim.durations import DAY, WEEK, parse_duration
from sim.scenario import load_scenario


def weekly_weights(path: Path) -> tuple[dict[str, np.ndarray], dict[str, float], float]:
    """Per channel ``(7, intervals a day)`` weights of a week summing to 1, the channel's
    volume per week, and the interval."""
    scenario = load_scenario(path)
    per_day = round(DAY / scenario.interval)
    weights, volumes = {}, {}
    for name, channel in scenario.channels.items():
        w = np.asarray(scenario.weights(name))
        if (
            abs(scenario.duration - WEEK) < 1e-9
            and scenario.weekday == 0
            and not scenario.start % DAY
        ):
            week = w.reshape(7, per_day)
            volumes[name] = channel.volume
        elif abs(scenario.duration - DAY) < 1e-9:
            offset = round((scenario.start % DAY) / scenario.interval)
            week = np.tile(np.roll(w, offset), (7, 1)) / 7
            volumes[name] = channel.volume * 7
        else:
            raise SystemExit(f"{path}: needs a week from Mon 00:00 or a 24-hour day")
        weights[name] = week
    return weights, volumes, scenario.interval


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("scenario", type=Path, help="scenario whose traffic shapes the history")
    parser.add_argument("--weeks", type=int, default=20)
    parser.add_argument("--end", default="2024-05-19", help="last day (ISO date)")
    parser.add_argument("--growth", type=float, default=10.0)
    parser.add_argument("--per", default="730d", help="time over which volume grows --growth")
    parser.add_argument("--day-noise", type=float, default=0.05)
    parser.add_argument("--utc-offset", type=float, default=3.0, help="hours east of UTC")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    weights, volumes, interval = weekly_weights(args.scenario)
    rng = np.random.default_rng(args.seed)
    per_days = parse_duration(args.per) / DAY
    last = datetime.date.fromisoformat(args.end)
    zone = datetime.timezone(datetime.timedelta(hours=args.utc_offset))
    days = args.weeks * 7
    rows = []
    for d in range(days):
        date = last - datetime.timedelta(days=days - 1 - d)
        level = args.growth ** ((d - days + 1) / per_days)
        midnight = datetime.datetime.combine(date, datetime.time(), zone)
        for name, week in weights.items():
            noise = rng.lognormal(
                -0.5 * np.log1p(args.day_noise**2), np.sqrt(np.log1p(args.day_noise**2))
            )
            counts = rng.poisson(volumes[name] * level * noise * week[date.weekday()])
            starts = np.repeat(np.arange(counts.size) * interval, counts)
            for at in np.sort(starts + rng.uniform(0, interval, starts.size)):
                rows.append((name, midnight + datetime.timedelta(seconds=float(at))))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "channel", "created_at"])
        for number, (name, at) in enumerate(sorted(rows, key=lambda row: row[1]), start=1):
            writer.writerow([f"c{number:07d}", name, at.isoformat(timespec="seconds")])
    print(f"wrote {len(rows):,} conversations over {days} days to {args.out}")


if __name__ == "__main__":
    main()
