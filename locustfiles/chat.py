"""Replay a chatsim trace against a chat gateway (see ``sim/loadtest/locustfile.py``).

    locust -f locustfiles/chat.py --scenario scenarios/small.yaml --trace trace.jsonl \\
        --speedup 60 --host http://127.0.0.1:8080
"""

from sim.loadtest.locustfile import ChatCustomers

__all__ = ["ChatCustomers"]
