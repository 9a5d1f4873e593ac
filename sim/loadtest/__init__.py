"""The Locust replay of a trace against a live chat gateway (``locustfiles/chat.py`` is the
entry file; ``chatsim replay`` runs it).

Open workload: conversations start on the trace's schedule whatever the gateway does, as
customers that speak each platform's webhook format; agents are emulated through the gateway's
agent API; replies reach customers through a provider emulator that plays the platforms' send
APIs. Everything is measured in scenario seconds (wall seconds x speedup).
"""
