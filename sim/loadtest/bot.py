"""A bot as the responder: the gateway's bot answers the customers, and no agents are emulated.

``chatsim replay --responder bot`` measures a gateway whose bot answers. The replay's customers
play the trace as usual and see the bot's replies as they would an agent's; the model side of
the comparison is :func:`bot_model`. Both rest on the same reading of the scenario:

* **The scenario's bot is the responder**, not a filter in front of agents: every conversation
  of the trace reaches the gateway at its arrival ``t`` (none is contained upstream, none waits
  for a hand-over): :func:`bot_view`, the trace as the customers then play it.
* **The bot answers each customer message after the channel's bot time** (:func:`bot_time`):
  the mean of the channel's ``bot.time``, 0 for a channel without a bot (it answers at once).
  One value per channel, because how long a bot takes is a property of the bot, not of the
  conversation; the trace's per-conversation draws of ``bot.time`` describe a hand-over to
  agents, which a bot responder never makes.
* **The model is an unlimited responder**: no queue, no agents; first response and every
  in-session response are the bot time; a conversation is missed when its customer's patience
  runs out before the bot's first answer, as a customer's patience decides in the replay. It is
  computed directly (there is nothing to simulate: no conversation waits for another) and
  measured by the same :func:`sim.kpi.measure` as every run, so agent KPIs (occupancy, slot
  utilisation) are undefined, None, on both sides.
"""

from __future__ import annotations

import dataclasses

from sim.experiment import run_experiment
from sim.kpi import measure
from sim.loadtest.raw import Responder
from sim.records import ConversationLog, ConversationRecord, Run
from sim.results import Results, ResultsHeader, aggregate
from sim.scenario import Channel, Scenario
from sim.trace import Trace


def bot_time(channel: Channel) -> float:
    """Scenario seconds the channel's bot takes to answer one customer message."""
    return channel.bot.time.mean_value if channel.bot is not None else 0.0


def bot_view(trace: Trace) -> Trace:
    """``trace`` as a bot responder's customers play it: no upstream bot, so every conversation
    arrives at ``t`` and none is contained before the gateway."""
    return Trace(trace.header, [dataclasses.replace(c, bot=None) if c.bot else c for c in trace])


def bot_model(scenario: Scenario, trace: Trace) -> Run:
    """The records of ``trace`` answered by the scenario's bots (see the module docstring)."""
    records = []
    for conversation in bot_view(trace):
        channel = scenario.channels[conversation.channel]
        record = ConversationRecord(conversation, channel.silent)
        records.append(record)
        delay = bot_time(channel)
        # No queue: the bot takes every conversation the moment it arrives.
        record.queued_at = record.left_queue_at = conversation.t
        if delay <= conversation.patience:
            record.answered = True
            record.first_reply_at = conversation.t + delay
            record.reply_delays = [delay] * len(conversation.turns)
        else:
            record.left_at = conversation.t + conversation.patience
    return Run(ConversationLog.of(records), [], scenario.duration)


def model_results(
    scenario: Scenario, trace: Trace, responder: Responder
) -> tuple[Results, ConversationLog]:
    """What the model predicts for ``trace`` with ``responder`` answering, and its records:
    the simulation with the scenario's agents, or :func:`bot_model`."""
    if responder == "agents":
        experiment = run_experiment(scenario, trace=trace)
        return experiment.results, experiment.first_run.conversations
    run = bot_model(scenario, trace)
    header = ResultsHeader.of(scenario, "model", trace=trace)
    return aggregate([measure(run, scenario)], header, {"responder": "bot"}), run.conversations
