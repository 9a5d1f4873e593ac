"""Tests of sim.erlang: published worked examples, a brute-force birth-death check, properties.

Tolerances: published figures are rounded, so each is compared to the number of digits it
prints (half a unit in the last printed place).  Comparisons with the brute-force computation
below, which is exact up to truncation of a negligible tail, use 1e-9.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import integrate, linalg

from sim.erlang import (
    QueueMetrics,
    QueueTooLongError,
    agents_for_service_level,
    erlang_a,
    erlang_b,
    erlang_c,
    erlang_c_probability,
    gmr_a,
    min_stable_agents,
    queue_metrics,
)


def printed(figure: str) -> Any:
    """A published figure as printed: equal to anything that rounds to it (half a last digit)."""
    decimals = len(figure.split(".")[1]) if "." in figure else 0
    return pytest.approx(float(figure), abs=0.5 * 10.0**-decimals + 1e-12, rel=0.0)


# ----------------------------------------------------------------- published examples: C

# Call Centre Helper, "Erlang C Formula - Made Simple With an Easy Worked Example"
# (https://www.callcentrehelper.com/erlang-c-formula-example-121281.htm): 100 calls in 30
# minutes, AHT 180 s, target answer time 20 s, required service level 80%.  Traffic intensity
# A = 10 Erlangs; the raw estimate N = A + 1 = 11 is too low; N = 14 gives P[w] = 0.1741,
# service level 88.8%, ASA 7.8 s, 82.6% of calls answered immediately, occupancy 71.4%; with
# 30% shrinkage 14 / 0.7 = 20 agents.
CCH_RATE = 100 / 1800  # calls per second
CCH_AHT = 180.0
CCH_TARGET = 20.0


def test_call_centre_helper_worked_example_14_agents() -> None:
    m = erlang_c(CCH_RATE, CCH_AHT, 14, CCH_TARGET)
    assert m.offered_load == pytest.approx(10.0)
    assert m.p_wait == printed("0.1741")
    assert m.service_level == printed("0.888")
    assert m.mean_wait == printed("7.8")
    assert 1.0 - m.p_wait == printed("0.826")
    assert m.occupancy == printed("0.714")


def test_call_centre_helper_staffing_answer_is_14_then_20_with_shrinkage() -> None:
    best = agents_for_service_level(CCH_RATE, CCH_AHT, CCH_TARGET, 0.80)
    assert best.agents == 14
    assert math.ceil(best.agents / (1 - 0.30)) == 20
    # 13 agents fall short of 80% (Erlang C gives 79.6%), so 14 is the smallest.
    assert erlang_c(CCH_RATE, CCH_AHT, 13, CCH_TARGET).service_level < 0.80


def test_cran_erlangc_reference_example() -> None:
    # The R package ErlangC 0.1.0 (CRAN, reference manual, examples of erlang_c() and
    # calculate_agents()) reproduces the same example with 7 significant digits:
    # wait_probability 0.1741319, service_level 0.88835, average_speed_of_answer
    # 7.83593701177724 s, immediate_answer_probability 0.8258681, occupancy 0.7142857,
    # agents 14; its search table starts at 11 agents with wait_probability 0.6821182.
    m = erlang_c(CCH_RATE, CCH_AHT, 14, CCH_TARGET)
    assert m.p_wait == printed("0.1741319")
    assert m.service_level == printed("0.88835")
    assert m.mean_wait == pytest.approx(7.83593701177724, rel=1e-12)
    assert 1.0 - m.p_wait == printed("0.8258681")
    assert m.occupancy == printed("0.7142857")
    assert erlang_c_probability(11, 10.0) == printed("0.6821182")


# ----------------------------------------------------------------- published examples: A


# pyworkforce documentation, guide "Erlang A (abandonment)"
# (https://pyworkforce.rodrigo-arenas.com/stable/guide/erlanga): ErlangA(transactions=100,
# aht=3, asa=20/60, interval=30, patience=5) in minutes, required_positions(service_level=0.8,
# max_occupancy=0.85, max_abandonment=0.05) prints raw_positions 13, service_level 0.858...,
# occupancy 0.750..., abandonment_probability 0.025..., waiting_probability 0.226...,
# average_speed_of_answer 0.125... (minutes).  Its service level is the same as ours: served
# within the target, out of all offered, computed exactly from the birth-death chain.
def test_pyworkforce_erlang_a_documented_example() -> None:
    best = agents_for_service_level(
        CCH_RATE, CCH_AHT, CCH_TARGET, 0.80, mean_patience=300.0, max_abandon=0.05
    )
    assert best.agents == 13
    assert best.occupancy <= 0.85
    assert best.service_level == printed("0.858")
    assert best.occupancy == printed("0.750")
    assert best.p_abandon == printed("0.025")
    assert best.p_wait == printed("0.226")
    assert best.mean_wait / 60.0 == printed("0.125")


def test_pyworkforce_erlang_a_regression_values_14_agents() -> None:
    # pyworkforce's own test suite (pyworkforce/queuing/tests/test_abandonment.py,
    # test_erlanga_regression_metrics) pins the same scenario with 14 positions, computed by
    # an independent method (birth-death chain plus uniformisation): waiting 0.14526,
    # abandonment 0.013984, occupancy 0.704297, ASA 0.069919 min, service level 0.916792.
    m = erlang_a(CCH_RATE, CCH_AHT, 300.0, 14, CCH_TARGET)
    assert m.p_wait == printed("0.14526")
    assert m.p_abandon == printed("0.013984")
    assert m.occupancy == printed("0.704297")
    assert m.mean_wait / 60.0 == printed("0.069919")
    assert m.service_level == printed("0.916792")


# --------------------------------------------------------------- Erlang B / C, large sizes


def erlang_b_recursion(servers: int, load: float) -> float:
    blocking = 1.0
    for i in range(1, servers + 1):
        blocking = load * blocking / (i + load * blocking)
    return blocking


@pytest.mark.parametrize(
    ("servers", "load"),
    [
        (1, 0.5),
        (10, 5.0),
        (14, 10.0),
        (100, 95.0),
        (500, 480.0),
        (1000, 950.0),
        (2000, 2100.0),
        (50, 5000.0),
        (300, 30.0),
    ],
)
def test_erlang_b_matches_the_stable_recursion(servers: int, load: float) -> None:
    assert erlang_b(servers, load) == pytest.approx(erlang_b_recursion(servers, load), rel=1e-10)


def test_erlang_b_textbook_value() -> None:
    # Erlang B tables: 10 circuits offered 5 Erlangs block 1.84% of calls.
    assert erlang_b(10, 5.0) == printed("0.0184")


def test_erlang_c_is_stable_for_hundreds_of_agents() -> None:
    for servers, load in [(400, 380.0), (800, 790.0), (1500, 1450.5)]:
        b = erlang_b_recursion(servers, load)
        expected = servers * b / (servers - load * (1 - b))
        assert 0.0 < erlang_c_probability(servers, load) < 1.0
        assert erlang_c_probability(servers, load) == pytest.approx(expected, rel=1e-10)
    m = erlang_c(790 / 180, 180.0, 800, 20.0)
    assert 0.0 < m.service_level < 1.0
    assert math.isfinite(m.mean_wait)


def test_unstable_erlang_c_is_reported_not_raised() -> None:
    m = erlang_c(CCH_RATE, CCH_AHT, 10, CCH_TARGET)  # 10 agents, 10 Erlangs
    assert not m.stable
    assert m.p_wait == 1.0
    assert m.service_level == 0.0
    assert math.isinf(m.mean_wait)
    assert min_stable_agents(CCH_RATE, CCH_AHT) == 11
    assert min_stable_agents(CCH_RATE, CCH_AHT, slots_per_agent=3) == 4


def test_gmr_a_function_matches_its_integral_and_series() -> None:
    for x, y in [(2.5, 1.0), (23.3, 16.7), (10.0, 40.0), (400.0, 390.0)]:
        by_definition = None
        if y < 100:  # x e^y / y^x * int_0^y t^(x-1) e^-t dt, by quadrature
            integral = integrate.quad(lambda t, x=x: t ** (x - 1) * math.exp(-t), 0.0, y)[0]
            by_definition = x * math.exp(y) / y**x * integral
        terms, term, j = [1.0], 1.0, 0
        while term > 1e-18 * sum(terms) or j < y:
            j += 1
            term *= y / (x + j)
            terms.append(term)
        series = math.fsum(terms)
        assert gmr_a(x, y) == pytest.approx(series, rel=1e-10)
        if by_definition is not None:
            assert gmr_a(x, y) == pytest.approx(by_definition, rel=1e-8)


# -------------------------------------------------------- brute-force birth-death for Erlang A


def brute_force(
    rate: float, aht: float, patience: float, servers: int, target: float, extra: int = 400
) -> dict[str, float]:
    """Erlang A by linear algebra on the truncated chain; independent of the closed forms.

    The stationary law solves pi Q = 0 on states 0..servers+extra.  A tagged arrival that
    finds j waiting is followed through its own absorbing chain (j..0 ahead, served,
    abandoned): its probability of being served within T comes from expm(Q_tag * T), and its
    mean wait if served from a linear solve.
    """
    mu, theta = 1.0 / aht, 1.0 / patience
    size = servers + extra + 1
    q = np.zeros((size, size))
    for i in range(size):
        if i + 1 < size:
            q[i, i + 1] = rate
        if i > 0:
            q[i, i - 1] = min(i, servers) * mu + max(i - servers, 0) * theta
        q[i, i] = -q[i].sum()
    # pi Q = 0 with one balance equation replaced by sum(pi) = 1
    a = q.T / np.abs(q).max()
    a[-1, :] = 1.0
    b = np.zeros(size)
    b[-1] = 1.0
    pi = np.linalg.solve(a, b)
    waiting = np.arange(size) - servers
    p_wait = float(pi[servers:].sum())
    queue = float(np.sum(np.clip(waiting, 0, None) * pi))

    # Tagged customer: transient states k = 0..extra customers ahead, then served, abandoned.
    k_max = extra
    n_states = k_max + 3
    served, abandoned = k_max + 1, k_max + 2
    tag = np.zeros((n_states, n_states))
    for k in range(k_max + 1):
        if k == 0:
            tag[k, served] = servers * mu
        else:
            tag[k, k - 1] = servers * mu + k * theta
        tag[k, abandoned] = theta
        tag[k, k] = -tag[k].sum()
    transition = linalg.expm(tag * target)
    served_by_t = transition[: k_max + 1, served]
    # m_k = P(served | k ahead);  h_k = E[wait; served | k ahead] = m_k / q_k + sum p h
    sub = tag[: k_max + 1, : k_max + 1]
    m = np.linalg.solve(-sub, tag[: k_max + 1, served])
    h = np.linalg.solve(-sub, m)
    arrivals_waiting = pi[servers:]  # PASTA: an arrival finds j = 0..extra waiting
    served_total = 1.0 - theta * queue / rate
    return {
        "p_wait": p_wait,
        "p_abandon": theta * queue / rate,
        "p_abandon_tagged": float(np.sum(arrivals_waiting * (1.0 - m))),
        "mean_wait": queue / rate,
        "service_level": float(pi[:servers].sum() + np.sum(arrivals_waiting * served_by_t)),
        "mean_wait_served": float(np.sum(arrivals_waiting * h)) / served_total,
        "occupancy": rate * served_total * aht / servers,
    }


BRUTE_CASES = [
    # rate (1/s), AHT (s), patience (s), agents, target (s), slots per agent
    (100 / 1800, 180.0, 300.0, 14, 20.0, 1),
    (100 / 1800, 180.0, 300.0, 9, 20.0, 1),  # overloaded: 9 agents for 10 Erlangs
    (1 / 60, 600.0, 120.0, 3, 60.0, 3),  # chat: 3 agents x 3 slots for 10 Erlangs
    (0.02, 100.0, 30.0, 2, 10.0, 1),
    (0.5, 40.0, 900.0, 22, 15.0, 1),  # long patience, close to Erlang C
    (0.5, 40.0, 1e5, 23, 15.0, 1),  # so long that the closed forms give way to the series
]


@pytest.mark.parametrize(("rate", "aht", "patience", "agents", "target", "slots"), BRUTE_CASES)
def test_erlang_a_matches_brute_force(
    rate: float, aht: float, patience: float, agents: int, target: float, slots: int
) -> None:
    m = erlang_a(rate, aht, patience, agents, target, slots_per_agent=slots)
    ref = brute_force(rate, aht, patience, agents * slots, target)
    assert ref["p_abandon_tagged"] == pytest.approx(ref["p_abandon"], rel=1e-9)  # self-check
    assert m.p_wait == pytest.approx(ref["p_wait"], rel=1e-9)
    assert m.p_abandon == pytest.approx(ref["p_abandon"], rel=1e-9)
    assert m.mean_wait == pytest.approx(ref["mean_wait"], rel=1e-9)
    assert m.mean_wait_served == pytest.approx(ref["mean_wait_served"], rel=1e-9)
    assert m.service_level == pytest.approx(ref["service_level"], rel=1e-9)
    assert m.occupancy == pytest.approx(ref["occupancy"], rel=1e-9)


def test_abandonment_equals_theta_times_mean_wait() -> None:
    for patience in (30.0, 300.0, 3000.0):
        m = erlang_a(CCH_RATE, CCH_AHT, patience, 12, CCH_TARGET)
        assert m.p_abandon == pytest.approx(m.mean_wait / patience, rel=1e-12)


def test_erlang_a_tends_to_erlang_c_as_patience_grows() -> None:
    c = erlang_c(CCH_RATE, CCH_AHT, 14, CCH_TARGET)
    errors = []
    for patience in (1e3, 1e4, 1e5, 1e6, 1e7, 1e9):
        a = erlang_a(CCH_RATE, CCH_AHT, patience, 14, CCH_TARGET)
        errors.append(abs(a.service_level - c.service_level) + abs(a.p_wait - c.p_wait))
        assert a.p_abandon <= a.p_wait
    assert errors == sorted(errors, reverse=True)
    assert errors[-1] < 1e-7
    a = erlang_a(CCH_RATE, CCH_AHT, 1e9, 14, CCH_TARGET)
    assert a.mean_wait == pytest.approx(c.mean_wait, rel=1e-6)
    assert a.mean_wait_served == pytest.approx(c.mean_wait, rel=1e-6)
    assert erlang_a(CCH_RATE, CCH_AHT, math.inf, 14, CCH_TARGET) == c


def test_service_level_at_zero_target_is_share_not_waiting() -> None:
    for patience in (None, 120.0):
        m = queue_metrics(CCH_RATE, CCH_AHT, 13, 0.0, mean_patience=patience)
        assert m.service_level == pytest.approx(1.0 - m.p_wait, abs=1e-12)


def test_concurrency_is_extra_servers() -> None:
    chat = erlang_c(CCH_RATE, CCH_AHT, 5, CCH_TARGET, slots_per_agent=3)
    flat = erlang_c(CCH_RATE, CCH_AHT, 15, CCH_TARGET)
    assert chat.servers == 15
    assert chat.agents == 5
    assert chat.service_level == flat.service_level
    assert chat.p_wait == flat.p_wait
    chat_a = erlang_a(CCH_RATE, CCH_AHT, 60.0, 5, CCH_TARGET, slots_per_agent=3)
    flat_a = erlang_a(CCH_RATE, CCH_AHT, 60.0, 15, CCH_TARGET)
    assert chat_a.service_level == pytest.approx(flat_a.service_level, rel=1e-14)


@pytest.mark.parametrize("patience", [None, 45.0, 600.0])
def test_monotone_in_agents(patience: float | None) -> None:
    start = 1 if patience is not None else 11
    rows = [
        queue_metrics(CCH_RATE, CCH_AHT, n, CCH_TARGET, mean_patience=patience)
        for n in range(start, 30)
    ]
    for fewer, more in itertools.pairwise(rows):
        assert more.p_wait <= fewer.p_wait
        assert more.p_abandon <= fewer.p_abandon
        assert more.mean_wait <= fewer.mean_wait
        assert more.service_level >= fewer.service_level
        assert more.occupancy <= fewer.occupancy


def test_agents_for_service_level_is_the_smallest() -> None:
    for patience, max_abandon in [(None, None), (90.0, None), (90.0, 0.01)]:
        best = agents_for_service_level(
            0.9,
            240.0,
            30.0,
            0.9,
            mean_patience=patience,
            max_abandon=max_abandon,
            slots_per_agent=2,
        )
        assert best.service_level >= 0.9
        assert max_abandon is None or best.p_abandon <= max_abandon
        worse = queue_metrics(
            0.9, 240.0, best.agents - 1, 30.0, mean_patience=patience, slots_per_agent=2
        )
        assert worse.service_level < 0.9 or (
            max_abandon is not None and worse.p_abandon > max_abandon
        )


def test_absurd_patience_under_overload_is_refused_but_staffing_still_works() -> None:
    # 100 agents for 180 Erlangs with 4 months of patience: millions would queue.
    with pytest.raises(QueueTooLongError):
        erlang_a(1.0, 180.0, 1e7, 100, 20.0)
    best = agents_for_service_level(1.0, 180.0, 20.0, 0.8, mean_patience=1e7)
    assert best.agents == agents_for_service_level(1.0, 180.0, 20.0, 0.8).agents


def test_zero_traffic() -> None:
    for m in (erlang_c(0.0, 180.0, 1, 20.0), erlang_a(0.0, 180.0, 60.0, 1, 20.0)):
        assert m.p_wait == 0.0
        assert m.service_level == 1.0
        assert m.occupancy == 0.0
    assert agents_for_service_level(0.0, 180.0, 20.0, 0.8).agents == 1


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: erlang_c(-1.0, 180.0, 3, 20.0), "arrival_rate"),
        (lambda: erlang_c(1.0, 0.0, 3, 20.0), "mean_service"),
        (lambda: erlang_c(1.0, math.nan, 3, 20.0), "mean_service"),
        (lambda: erlang_c(1.0, 180.0, 0, 20.0), "agents"),
        (lambda: erlang_c(1.0, 180.0, 2.5, 20.0), "agents"),  # type: ignore[arg-type]
        (lambda: erlang_c(1.0, 180.0, 3, -1.0), "target"),
        (lambda: erlang_c(1.0, 180.0, 3, 20.0, slots_per_agent=0), "slots_per_agent"),
        (lambda: erlang_a(1.0, 180.0, 0.0, 3, 20.0), "mean_patience"),
        (lambda: erlang_a(1.0, 180.0, -5.0, 3, 20.0), "mean_patience"),
        (lambda: agents_for_service_level(1.0, 180.0, 20.0, 1.0), "service_level"),
        (lambda: agents_for_service_level(1.0, 180.0, 20.0, 0.8, max_abandon=0.1), "mean_patience"),
        (
            lambda: agents_for_service_level(
                1.0, 180.0, 20.0, 0.8, mean_patience=60.0, max_abandon=0.0
            ),
            "max_abandon",
        ),
    ],
)
def test_invalid_arguments_raise_value_error(call: Callable[[], object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


# ------------------------------------------------------------------------------ properties


@settings(max_examples=60, deadline=None)
@given(
    rate=st.floats(0.001, 2.0),
    aht=st.floats(5.0, 1200.0),
    patience=st.one_of(st.none(), st.floats(2.0, 3600.0)),
    agents=st.integers(1, 60),
    slots=st.integers(1, 4),
    target=st.floats(0.0, 300.0),
    extra=st.floats(0.1, 300.0),
)
def test_properties(
    rate: float,
    aht: float,
    patience: float | None,
    agents: int,
    slots: int,
    target: float,
    extra: float,
) -> None:
    m = queue_metrics(rate, aht, agents, target, mean_patience=patience, slots_per_agent=slots)
    later = queue_metrics(
        rate, aht, agents, target + extra, mean_patience=patience, slots_per_agent=slots
    )
    assert isinstance(m, QueueMetrics)
    assert 0.0 <= m.p_wait <= 1.0
    assert 0.0 <= m.p_abandon <= m.p_wait
    assert 0.0 <= m.service_level <= 1.0
    assert 0.0 <= m.occupancy <= 1.0
    assert later.service_level >= m.service_level - 1e-12
    # answered in time <= answered; and everyone who does not wait is answered in time
    assert m.service_level <= 1.0 - m.p_abandon + 1e-12
    assert m.service_level >= 1.0 - m.p_wait - 1e-12
    if m.stable:
        assert m.mean_wait >= 0.0
        assert m.mean_wait_served >= 0.0
