"""What one channel's conversations tell, sorted by what each observation can say.

For every conversation offered to the agents (not contained by the bot) the wait from queue
entry says something about the customer's patience:

- **exact**: ``abandoned_at`` at or before the first response (or with none): the customer was
  seen to give up after that wait;
- **right-censored** (``stayed``): answered after ``w`` and the customer wrote again, so their
  patience was longer than ``w``;
- **one message, answered** after ``w`` and the customer never wrote again. On webchat the
  customer would have closed the chat had they left, so this too is right-censored. On a
  messenger a customer who leaves is not seen to go (silent abandonment): the agent still
  answers once and the conversation closes later, exactly like a customer who had one question.
  These are **ambiguous** (:mod:`sim.fit.laws` fits them as a mixture);
- **left-censored**: closed without any response and without ``abandoned_at``: the customer left
  at some time before the close;
- **open at the end** of the logs, with no response and no close: right-censored at the end.

Whether the customer wrote again is read from the message CSV (a customer message after the
first response) or, without it, from ``customer_messages`` (more than one). A messenger channel
whose logs say neither cannot tell silent leavers from anyone: its answered conversations are
taken as right-censored, and the comment says that patience may be overestimated. A messenger
whose logs do mark silent leavers (some conversation has an ``abandoned_at`` at or before its
late first response, as chatsim's own records and some platforms' "customer inactive" flags
do) has nothing ambiguous: its one-message answered conversations are right-censored.

The other samples: bot time (``queued_at − created_at`` of conversations the bot handed on),
turns (customer messages of answered conversations), think time (customer message after an
agent message), ``close_after`` (close after the last agent message; from conversations with one
agent message when there is no message CSV), and the agent's response times, the first from
assignment and later ones from the customer message they answer, which are the first guesses
of reply work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sim.fit.agents import Desk
from sim.history import LoggedConversation, LoggedMessage


@dataclass
class ChannelFacts:
    """One channel's observations, each list in seconds."""

    name: str
    silent: bool
    """Customers may leave unseen: one-message answered conversations are ambiguous."""
    silent_marked: bool = False
    """A messenger whose logs mark silent leavers (an ``abandoned_at`` before a late first
    response, as chatsim's own records do): nothing is ambiguous."""
    conversations: int = 0
    local_times: list[float] = field(default_factory=list)
    bot_known: int = 0
    contained: int = 0
    bot_times: list[float] = field(default_factory=list)
    offered: int = 0
    exact: list[float] = field(default_factory=list)
    right: list[float] = field(default_factory=list)
    left: list[float] = field(default_factory=list)
    stayed: list[float] = field(default_factory=list)
    ambiguous: list[float] = field(default_factory=list)
    open_at_end: int = 0
    turn_information: bool = False
    """Whether any answered conversation says if its customer wrote again."""
    stayed_turns: list[int] = field(default_factory=list)
    """Customer messages of answered conversations whose customer wrote again."""
    single_answered: int = 0
    """Answered conversations with one customer message (on a messenger: or a silent leaver)."""
    think: list[float] = field(default_factory=list)
    think_totals: list[tuple[float, int]] = field(default_factory=list)
    """Without messages: (close − first response − later response times, turns − 1) of
    answered conversations with more than one turn, for a method-of-moments think time."""
    totals_include_responses: bool = True
    close: list[float] = field(default_factory=list)
    close_from_messages: bool = False
    first_work: list[float] = field(default_factory=list)
    first_responses: list[float] = field(default_factory=list)
    insession: list[float] = field(default_factory=list)
    first_alone: list[float] = field(default_factory=list)
    """First responses from an assignment to an agent holding no other chat."""
    insession_alone: list[float] = field(default_factory=list)
    """In-session responses to a message that reached an agent holding no other chat."""


def channel_facts(
    name: str,
    silent: bool,
    conversations: Sequence[LoggedConversation],
    messages: dict[str, list[LoggedMessage]],
    end: float,
    desk: Desk | None = None,
) -> ChannelFacts:
    """Sort one channel's conversations into the samples the estimators need. ``end`` is the
    last time the logs cover (for conversations still open); ``desk`` tells which responses an
    agent gave holding no other chat."""
    marked = any(
        c.abandoned_at is not None
        and c.first_response_at is not None
        and c.abandoned_at <= c.first_response_at
        for c in conversations
    )
    facts = ChannelFacts(name, silent and not marked, silent_marked=silent and marked)
    facts.turn_information = any(
        c.customer_messages is not None or c.id in messages for c in conversations
    )
    for c in conversations:
        facts.conversations += 1
        facts.local_times.append(c.local_created)
        if c.bot_contained is not None:
            facts.bot_known += 1
            facts.contained += c.bot_contained
        entry = c.queue_entry
        if entry is None:
            continue
        if c.queued_at is not None and (c.bot_contained is False or c.queued_at > c.created_at):
            facts.bot_times.append(c.queued_at - c.created_at)
        facts.offered += 1
        thread = messages.get(c.id)
        _patience(facts, c, entry, thread, end)
        if thread is not None:
            _from_messages(facts, c, thread, desk)
        else:
            _from_counts(facts, c)
        if c.first_response_at is not None and c.assigned_at is not None:
            work = c.first_response_at - c.assigned_at
            facts.first_work.append(work)
            if desk is not None and desk.alone(c.agent, c.id, c.assigned_at + c.utc_offset):
                facts.first_alone.append(work)
        if c.first_response_at is not None:
            facts.first_responses.append(c.first_response_at - entry)
        if c.insession_responses and thread is None:
            facts.insession.extend(c.insession_responses)
    return facts


def _wrote_again(c: LoggedConversation, thread: list[LoggedMessage] | None) -> bool | None:
    """Whether the customer wrote after the first response (``None``: the logs do not say)."""
    if c.first_response_at is None:
        return None
    if thread is not None:
        return any(m.sender == "customer" and m.at > c.first_response_at for m in thread)
    if c.customer_messages is None:
        return None
    return c.customer_messages > 1


def _patience(
    facts: ChannelFacts,
    c: LoggedConversation,
    entry: float,
    thread: list[LoggedMessage] | None,
    end: float,
) -> None:
    first = c.first_response_at
    if c.abandoned_at is not None and (first is None or c.abandoned_at <= first):
        facts.exact.append(c.abandoned_at - entry)
        return
    if first is not None:
        wait = first - entry
        again = _wrote_again(c, thread)
        if again:
            facts.stayed.append(wait)
            facts.stayed_turns.append(_customer_messages(c, thread))
        elif again is None or not facts.silent or not facts.turn_information:
            facts.right.append(wait)
            if again is False:
                facts.single_answered += 1
        else:
            facts.ambiguous.append(wait)
            facts.single_answered += 1
        return
    if c.closed_at is not None:
        facts.left.append(c.closed_at - entry)
    elif end > entry:
        facts.right.append(end - entry)
        facts.open_at_end += 1


def _customer_messages(c: LoggedConversation, thread: list[LoggedMessage] | None) -> int:
    if thread is not None:
        return max(sum(m.sender == "customer" for m in thread), 1)
    return max(c.customer_messages or 1, 1)


def _from_messages(
    facts: ChannelFacts,
    c: LoggedConversation,
    thread: list[LoggedMessage],
    desk: Desk | None,
) -> None:
    """Think times, response times and close_after from a conversation's messages."""
    facts.close_from_messages = True
    talk = [m for m in thread if m.sender != "bot"]
    previous: LoggedMessage | None = None
    waiting_since: float | None = None
    answered_first = False
    for m in talk:
        if m.sender == "customer":
            if previous is not None and previous.sender == "agent":
                facts.think.append(m.at - previous.at)
            if waiting_since is None:
                waiting_since = m.at
        else:
            if answered_first and waiting_since is not None:
                facts.insession.append(m.at - waiting_since)
                if desk is not None and desk.alone(c.agent, c.id, waiting_since + c.utc_offset):
                    facts.insession_alone.append(m.at - waiting_since)
            answered_first = True
            waiting_since = None
        previous = m
    agents = [m.at for m in talk if m.sender == "agent"]
    if agents and c.closed_at is not None and c.closed_at >= agents[-1]:
        facts.close.append(c.closed_at - agents[-1])


def _from_counts(facts: ChannelFacts, c: LoggedConversation) -> None:
    """close_after and think-time totals from a conversation's counts and times."""
    if c.first_response_at is None or c.closed_at is None:
        return
    one_answer = (
        c.agent_messages == 1
        if c.agent_messages is not None
        else c.customer_messages == 1 and c.abandoned_at is None
    )
    if one_answer:
        facts.close.append(c.closed_at - c.first_response_at)
    turns = c.customer_messages
    answered = c.abandoned_at is None or c.abandoned_at > c.first_response_at
    if answered and turns is not None and turns > 1:
        span = c.closed_at - c.first_response_at
        if c.insession_responses is not None:
            span -= sum(c.insession_responses)
            facts.totals_include_responses = False
        facts.think_totals.append((span, turns - 1))
