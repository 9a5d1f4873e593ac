"""The platform stub of the tests (:class:`livekit.StubPlatform`) as a process of its own, for
``scripts/soak.py``: ``python platform_stub.py --port P [--delay S] [--fail F] [--drop F]``
serves a non-recording stub until killed; ``GET /stats`` gives the counts."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/, where livekit is

from livekit import StubPlatform, platform_server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0)
    parser.add_argument("--fail", type=float, default=0.0)
    parser.add_argument("--drop", type=float, default=0.0)
    args = parser.parse_args()
    platform = StubPlatform(fail=args.fail, drop=args.drop, delay=args.delay, record=False)
    platform_server(platform, args.port).serve_forever()


if __name__ == "__main__":
    main()
