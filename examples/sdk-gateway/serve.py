"""Run the SDK gateway: ``python examples/sdk-gateway/serve.py --port 8090 [--bot]``.

Credentials and platform base URLs come from the ``CHATSIM_*`` variables (see README.md); the
flags choose the address, the channels and the responder.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import Any

import uvicorn
from sdkgw.app import create_app
from sdkgw.config import Config, channels_of_scenario, parse_channel, parse_delays


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8090)
    parser.add_argument("--scenario", type=Path, help="serve this chatsim scenario's channels")
    parser.add_argument(
        "--channel",
        action="append",
        default=[],
        metavar="NAME:PROTOCOL[:PRIORITY]",
        help="a channel to serve (repeatable); default: one per protocol",
    )
    parser.add_argument("--bot", action="store_true", help="echo bot answers, no agents")
    parser.add_argument(
        "--bot-delay",
        action="append",
        default=[],
        metavar="[CHANNEL=]SECONDS",
        help="seconds before the bot answers, on every channel or one (repeatable; default 0.5)",
    )
    parser.add_argument("--log-level", default="warning")
    args = parser.parse_args(argv)
    overrides: dict[str, Any] = {}
    if args.scenario is not None:
        overrides["channels"] = channels_of_scenario(args.scenario)
    if args.channel:
        overrides["channels"] = tuple(parse_channel(text) for text in args.channel)
    if args.bot:
        overrides["bot"] = True
    if args.bot_delay:
        overrides["bot_delay"], overrides["bot_delays"] = parse_delays(args.bot_delay)
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(name)s %(message)s")
    app = create_app(Config.from_env(None, **overrides))
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level)


if __name__ == "__main__":
    main()
