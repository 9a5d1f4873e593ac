"""Replay benchmark (a script, not a test): run ``python scripts/replay_bench.py``.

1. Harness overhead: conversations whose agents need no time at all (reply work 0, free
   agents), replayed at speedup 1, so every measured first response is pure harness plus
   gateway time: webhook, routing, the agent's long-poll, its reply, the outbound call to the
   provider emulator (or the webchat long-poll) back to the customer.
2. Dispatch capacity: the same trivial conversations at rising arrival rates, one Locust
   process; the highest rate whose dispatch lateness p99 stays under 20 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

import yaml

from sim.loadtest.raw import RawReplay, read_raw
from sim.loadtest.run import run_replay
from sim.protocols import PROTOCOLS
from sim.scenario import load_scenario
from sim.trace import write_trace
from sim.traffic import draw_trace


def trivial_scenario(rate: float, seconds: int, protocol: str) -> dict:
    return {
        "name": f"bench-{protocol}-{rate:g}",
        "duration": seconds,
        "interval": seconds,
        "channels": {
            protocol: {
                "protocol": protocol,
                "volume": rate * seconds,
                "silent_abandon": protocol != "webchat",
                "patience": {"dist": "constant", "value": 3600},
                "reply": {"dist": "constant", "value": 0},
            }
        },
        "agents": [{"group": "bench", "skills": [protocol], "max_chats": 50, "staffing": [20]}],
    }


def run(rate: float, seconds: int, protocol: str, work: Path) -> tuple[RawReplay, list[float]]:
    path = work / f"{protocol}-{rate:g}.yaml"
    path.write_text(yaml.safe_dump(trivial_scenario(rate, seconds, protocol)))
    scenario = load_scenario(path)
    trace = draw_trace(scenario, 1)
    trace_path = work / f"{protocol}-{rate:g}.jsonl"
    write_trace(trace, trace_path)
    out = work / f"{protocol}-{rate:g}"
    run_replay(scenario, path, trace, trace_path, speedup=1.0, out=out, max_lateness_ms=1e9)
    raw = read_raw(out / "replay-raw.json")
    frt = [(c.replies[0] - c.sent[0]) * 1000 for c in raw.customers if c.replies]
    return raw, frt


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rates", default="25,50,100,200,400")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("harness overhead on a first response (wall ms, speedup 1, 10 conversations/s):")
        for protocol in PROTOCOLS:
            _, frt = run(10, args.seconds, protocol, work)
            frt.sort()
            print(
                f"  {protocol:9s} n={len(frt):4d}  mean {statistics.mean(frt):6.1f}  "
                f"p50 {frt[len(frt) // 2]:6.1f}  p99 {frt[int(0.99 * (len(frt) - 1))]:6.1f}"
            )
        print(
            "dispatch capacity of one Locust process (webchat, conversations started per second):"
        )
        for rate in (float(r) for r in args.rates.split(",")):
            raw, frt = run(rate, args.seconds, "webchat", work)
            lateness = raw.lateness
            achieved = len(raw.customers) / args.seconds
            verdict = "ok" if lateness.p99 * 1000 < 20 else "over 20 ms"
            print(
                f"  target {rate:6.0f}/s  started {achieved:6.1f}/s  "
                f"lateness p50 {lateness.p50 * 1000:6.2f} ms  p99 {lateness.p99 * 1000:7.2f} ms  "
                f"({verdict}); first response p50 "
                f"{sorted(frt)[len(frt) // 2] if frt else float('nan'):.0f} ms"
            )


if __name__ == "__main__":
    main()
