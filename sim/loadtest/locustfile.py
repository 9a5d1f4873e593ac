"""Replay a chatsim trace against a chat gateway.

    locust -f locustfiles/chat.py --scenario scenarios/small.yaml --trace trace.jsonl \
        --speedup 60 --host http://127.0.0.1:8080

The gateway's outbound base URLs must point at the provider emulator (``--emulator-port``,
default 8081; the reference gateway's default). ``chatsim replay`` does all of this for you.
"""

from sim.loadtest.harness import ChatCustomers

__all__ = ["ChatCustomers"]
