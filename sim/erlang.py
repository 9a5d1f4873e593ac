"""Erlang C and Erlang A: closed-form queueing models for first-response staffing.

Both models describe one queue served first come, first served by ``s`` identical servers:

* arrivals are a Poisson process with rate ``lambda`` (per second);
* service (handle) times are exponential with mean ``1/mu`` seconds; the *offered load*
  ``a = lambda/mu`` is measured in Erlangs (the mean number of busy servers if nobody left);
* **Erlang C** (M/M/s) assumes infinitely patient customers.  It is stable only when
  ``a < s``; then the probability of waiting is the Erlang C formula ``C(s, a)``, the waiting
  time of a customer who waits is exponential with rate ``s*mu - lambda``, so the mean wait
  (ASA) is ``C/(s*mu - lambda)`` and the service level ``P(W <= T) = 1 - C*exp(-(s*mu -
  lambda)*T)``;
* **Erlang A** (M/M/s+M, Palm's model, analysed by Garnett, Mandelbaum & Reiman 2002, "Designing
  a call center with impatient customers", M&SOM 4(3)) adds exponential patience with mean
  ``1/theta``: a waiting customer whose patience runs out abandons.  Abandonment keeps the queue
  stable at any load.  As ``theta -> 0`` it becomes Erlang C.

Service level here always means *answered within T, out of all offered*: a customer counts if
it reaches an agent no later than ``T`` after arriving (customers who do not wait count as
answered in time), and customers who abandon never count.  This is the definition of
``service_level`` of the KPI catalogue (sim.catalogue).

Chat concurrency: an agent who holds up to ``k`` conversations at once is modelled as ``k``
servers, so ``n`` agents are an M/M/(n*k)(+M) queue (``slots_per_agent=k``).  **This is an
approximation**: it ignores that an agent has one pair of hands (replies are typed one at a
time, so concurrent chats slow each other down) and any slowdown factor; it is optimistic when
agents are busy.  The discrete-event model (``sim.model``) is the reference for chat; these
formulas give a quick first estimate.

All rates are per second and all times are in seconds.  The module does no I/O.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
import numpy.typing as npt
from scipy import special

__all__ = [
    "QueueMetrics",
    "QueueTooLongError",
    "agents_for_service_level",
    "erlang_a",
    "erlang_b",
    "erlang_c",
    "erlang_c_probability",
    "gmr_a",
    "min_stable_agents",
    "queue_metrics",
]

Model = Literal["erlang_c", "erlang_a"]

#: The queue-length series of Erlang A is cut where the remaining terms are below this share.
_TAIL = 1e-17
#: Largest number of queue-length terms evaluated (guards against absurd patience values).
_MAX_TERMS = 1 << 21
#: Estimated relative error above which a GMR closed form is replaced by the exact series.
_CLOSED_FORM_TOLERANCE = 1e-10
_EPS = float(np.finfo(float).eps)


class QueueTooLongError(ValueError):
    """Erlang A with patience so long, under overload, that the queue is astronomically long."""


_TOO_LONG = (
    "mean_patience is so long for this overload that the queue would hold millions of "
    "customers; use Erlang C (no patience) or more agents"
)


@dataclass(frozen=True, slots=True)
class QueueMetrics:
    """Steady-state figures of one queue with ``agents * slots_per_agent`` servers.

    Attributes:
        model: ``"erlang_c"`` (infinite patience) or ``"erlang_a"`` (exponential patience).
        agents: number of agents ``n``.
        slots_per_agent: concurrent conversations per agent ``k`` (servers = ``n*k``).
        offered_load: ``lambda/mu`` in Erlangs.
        target: the service-level threshold ``T`` in seconds.
        p_wait: probability that an arriving customer finds all servers busy and queues.
        p_abandon: probability that a customer abandons before service (0 for Erlang C).
        mean_wait: mean time in queue over *all* customers, abandoned ones included (their
            wait is their patience); for Erlang C this is the ASA.
        mean_wait_served: mean time in queue of the customers who are served.
        service_level: share of offered customers served within ``target`` seconds.
        occupancy: served load per server, ``lambda*(1 - p_abandon)/(n*k*mu)``; with
            ``k > 1`` this is slot utilisation, not the agents' hands-busy time.

    An unstable Erlang C queue (``offered_load >= servers``) grows without bound: it is
    reported with ``p_wait = 1``, infinite waits, ``service_level = 0`` and ``occupancy = 1``.
    """

    model: Model
    agents: int
    slots_per_agent: int
    offered_load: float
    target: float
    p_wait: float
    p_abandon: float
    mean_wait: float
    mean_wait_served: float
    service_level: float
    occupancy: float

    @property
    def servers(self) -> int:
        """Number of servers (chat slots): ``agents * slots_per_agent``."""
        return self.agents * self.slots_per_agent

    @property
    def stable(self) -> bool:
        """False for an Erlang C queue whose load reaches its number of servers."""
        return math.isfinite(self.mean_wait)


# --------------------------------------------------------------------------- Erlang B and C


def erlang_b(servers: int, load: float) -> float:
    """Erlang B: probability that a Poisson arrival finds all ``servers`` busy in M/M/s/s.

    ``B(s, a) = (a^s/s!) / sum_{i<=s} a^i/i!`` is the Poisson(a) probability of ``s`` divided
    by its distribution function at ``s``; it is evaluated in log space with the regularised
    upper incomplete gamma function (``P(Poisson(a) <= s) = Q(s+1, a)``), which is exact and
    stable for thousands of servers.  Where ``Q`` underflows (far more load than servers) the
    classical stable recursion ``B(i) = a B(i-1) / (i + a B(i-1))`` is used instead.
    """
    _check_int("servers", servers, minimum=0)
    _check_number("load", load, minimum=0.0)
    if servers == 0:
        return 1.0
    if load == 0.0:
        return 0.0
    cdf = float(special.gammaincc(servers + 1, load))
    if cdf > 1e-280:
        log_pmf = servers * math.log(load) - load - float(special.gammaln(servers + 1))
        return min(1.0, math.exp(log_pmf - math.log(cdf)))
    blocking = 1.0
    for i in range(1, servers + 1):
        blocking = load * blocking / (i + load * blocking)
    return blocking


def erlang_c_probability(servers: int, load: float) -> float:
    """Erlang C: probability of waiting in M/M/s with offered load ``load`` Erlangs.

    Computed from Erlang B as ``C = s B / (s - a (1 - B))``; 1.0 when ``load >= servers``
    (the queue is unstable and, in the long run, everybody waits).
    """
    _check_int("servers", servers, minimum=1)
    _check_number("load", load, minimum=0.0)
    if load >= servers:
        return 1.0
    blocking = erlang_b(servers, load)
    return min(1.0, servers * blocking / (servers - load * (1.0 - blocking)))


def min_stable_agents(arrival_rate: float, mean_service: float, slots_per_agent: int = 1) -> int:
    """Smallest number of agents ``n`` with ``n * slots_per_agent > lambda * mean_service``.

    Below it an Erlang C queue is unstable.  (Erlang A is stable with any staffing.)
    """
    _check_number("arrival_rate", arrival_rate, minimum=0.0)
    _check_number("mean_service", mean_service, positive=True)
    _check_int("slots_per_agent", slots_per_agent, minimum=1)
    load = arrival_rate * mean_service
    return max(1, math.floor(load / slots_per_agent) + 1)


def _queue_size(
    arrival_rate: float, mean_service: float, agents: int, target: float, slots_per_agent: int
) -> tuple[int, float]:
    """Check the common arguments; returns the number of servers and the offered load."""
    _check_number("arrival_rate", arrival_rate, minimum=0.0)
    _check_number("mean_service", mean_service, positive=True)
    _check_int("agents", agents, minimum=1)
    _check_number("target", target, minimum=0.0)
    _check_int("slots_per_agent", slots_per_agent, minimum=1)
    return agents * slots_per_agent, arrival_rate * mean_service


def erlang_c(
    arrival_rate: float,
    mean_service: float,
    agents: int,
    target: float,
    *,
    slots_per_agent: int = 1,
) -> QueueMetrics:
    """Erlang C (M/M/s) figures for ``agents`` agents, ``s = agents * slots_per_agent``.

    Args:
        arrival_rate: ``lambda``, customers per second (>= 0).
        mean_service: mean handle time ``1/mu`` in seconds (> 0).
        agents: number of agents (>= 1).
        target: service-level threshold ``T`` in seconds (>= 0).
        slots_per_agent: concurrent conversations per agent; see the module docstring for why
            this is only an approximation of chat work.
    """
    servers, load = _queue_size(arrival_rate, mean_service, agents, target, slots_per_agent)
    if load >= servers:
        inf = math.inf
        return QueueMetrics(
            "erlang_c", agents, slots_per_agent, load, target, 1.0, 0.0, inf, inf, 0.0, 1.0
        )
    p_wait = erlang_c_probability(servers, load)
    drain = servers / mean_service - arrival_rate  # s*mu - lambda, the rate of the wait tail
    mean_wait = p_wait / drain
    service_level = 1.0 - p_wait * math.exp(-drain * target)
    return QueueMetrics(
        model="erlang_c",
        agents=agents,
        slots_per_agent=slots_per_agent,
        offered_load=load,
        target=target,
        p_wait=p_wait,
        p_abandon=0.0,
        mean_wait=mean_wait,
        mean_wait_served=mean_wait,
        service_level=min(1.0, max(0.0, service_level)),
        occupancy=load / servers,
    )


# ------------------------------------------------------------------------------- Erlang A


def gmr_a(x: float, y: float) -> float:
    """The function ``A(x, y)`` of Garnett, Mandelbaum & Reiman (2002).

    ``A(x, y) = x e^y / y^x * gamma(x, y)`` with the lower incomplete gamma function
    ``gamma(x, y) = int_0^y t^(x-1) e^-t dt``; equivalently the series
    ``sum_{j>=0} y^j / ((x+1)(x+2)...(x+j))``.  With ``x = s*mu/theta`` and ``y = lambda/theta``
    it is the ratio ``P(wait) / P(exactly s in system)`` of the Erlang A queue.  Evaluated in
    log space with scipy.special.gammainc, or by the series where that form is ill-conditioned
    (``x`` very large); large values overflow to ``inf`` (the model works with ``log A``).
    """
    _check_number("x", x, positive=True)
    _check_number("y", y, minimum=0.0)
    log_a, error = _log_gmr_a(x, y)
    if not error <= _CLOSED_FORM_TOLERANCE:
        log_a = _queue_series(x, y).log_total
    return math.exp(log_a) if log_a < 709.0 else math.inf


def _log_gmr_a(x: float, y: float) -> tuple[float, float]:
    """``log A(x, y)`` and an estimate of its absolute rounding error (inf if unusable).

    ``log A = log x + y - x log y + log Gamma(x) + log P(x, y)``, with ``P`` the regularised
    lower incomplete gamma function (scipy.special.gammainc).  The terms can be large, so the
    rounding error grows with them (about ``eps * x log y``); where ``P`` underflows the error
    is reported as infinite.  Callers switch to the exact series when the error is too big.
    """
    if y == 0.0:
        return 0.0, 0.0
    regularised = float(special.gammainc(x, y))
    if not regularised > 1e-280:
        return math.nan, math.inf
    terms = (math.log(x), y, x * math.log(y), float(special.gammaln(x)))
    value = terms[0] + terms[1] - terms[2] + terms[3] + math.log(regularised)
    error = 2.0 * _EPS * (sum(abs(t) for t in terms) + 1.0) + 1e-14
    return value, error


@dataclass(frozen=True, slots=True)
class _QueueSeries:
    """The distribution of the number waiting, seen by an arrival that has to wait.

    ``prob[j] = P(j customers ahead | wait) = t_j / A(x, y)``, ``t_j = prod_{i<=j} y/(x+i)``.
    """

    log_total: float  # log of the sum of t_j, i.e. log A(x, y) by the series
    prob: npt.NDArray[np.float64]  # normalised t_j, j = 0..J


def _queue_series(x: float, y: float) -> _QueueSeries:
    """Evaluate the terms ``t_j`` until the remaining tail is below ``_TAIL`` of the total.

    Cumulative sums of ``log(y/(x+i))`` avoid the cancellation of ``log Gamma`` differences
    when ``x`` is large (long patience).  Past the mode ``j > y - x`` the ratio of successive
    terms is below 1 and falling, so the tail after the last term is bounded by a geometric
    series.
    """
    size = max(0.0, y - x) + 12.0 * math.sqrt(y + 1.0) + 64.0
    if size > _MAX_TERMS:
        raise QueueTooLongError(_TOO_LONG)
    size = int(size)
    while True:
        i = np.arange(1, size + 1, dtype=float)
        log_terms = np.concatenate(([0.0], np.cumsum(np.log(y / (x + i)))))
        peak = float(log_terms.max())
        last_ratio = y / (x + size + 1.0)
        if last_ratio < 1.0:
            tail = math.exp(float(log_terms[-1]) - peak) * last_ratio / (1.0 - last_ratio)
            if tail < _TAIL:
                break
        if size >= _MAX_TERMS:
            raise QueueTooLongError(_TOO_LONG)
        size = min(2 * size, _MAX_TERMS)
    weights = np.exp(log_terms - peak)
    total = float(weights.sum())
    return _QueueSeries(log_total=peak + math.log(total), prob=weights / total)


def erlang_a(
    arrival_rate: float,
    mean_service: float,
    mean_patience: float,
    agents: int,
    target: float,
    *,
    slots_per_agent: int = 1,
) -> QueueMetrics:
    """Erlang A (M/M/s+M) figures; ``mean_patience = inf`` gives Erlang C.

    With ``s = agents * slots_per_agent``, ``x = s*mu/theta``, ``y = lambda/theta``,
    ``rho = lambda/(s*mu)``, ``E = erlang_b(s, lambda/mu)`` and ``A = A(x, y)`` (see
    :func:`gmr_a`), the closed forms of Garnett, Mandelbaum & Reiman (2002) are::

        P(wait)          = A E / (1 + (A - 1) E)
        P(Ab | wait)     = 1/(rho A) + 1 - 1/rho
        E[W] (all)       = P(Ab) / theta          (abandonment rate theta x mean queue, Little)

    ``log A`` comes from scipy.special.gammainc.  When patience is very long, ``log A`` is a
    small difference of huge terms and ``P(Ab | wait)`` a difference tending to 0, so both lose
    digits; where the estimated rounding error exceeds 1e-10 (relative) the identical exact
    series ``A = sum_j t_j`` and ``P(Ab | wait) = sum_j (t_j/A) (j+1)/(x+j+1)`` are used.

    Service level ``P(served within T)``: an arrival that waits finds ``j`` customers ahead
    with probability ``t_j/A`` (PASTA; ``t_j = prod_{i<=j} y/(x+i)``).  Its position then
    falls as a pure-death chain: with ``i`` ahead the next one leaves (served or abandoning)
    at rate ``s*mu + i*theta``; with none ahead it reaches an agent at rate ``s*mu``.  The
    time ``tau`` to reach an agent is thus a sum of exponentials with rates
    ``s*mu + i*theta, i = 0..j``, whose Laplace transform shows ``exp(-theta*tau) ~
    Beta(x, j+1)``.  Its own patience is exponential and independent, so it is served within
    ``T`` with probability ``E[exp(-theta*tau); tau <= T] = x/(x+j+1) * I_c(x+1, j+1;
    exp(-theta*T))`` (regularised upper incomplete beta, scipy.special.betaincc), and its
    mean wait if served is ``E[tau exp(-theta*tau)]`` from the same Beta law.  The series over
    ``j`` is cut once the remaining probability is below 1e-17.

    Args:
        arrival_rate: ``lambda``, customers per second (>= 0).
        mean_service: mean handle time ``1/mu`` in seconds (> 0).
        mean_patience: mean patience ``1/theta`` in seconds (> 0; ``math.inf`` for Erlang C).
        agents: number of agents (>= 1).
        target: service-level threshold ``T`` in seconds (>= 0).
        slots_per_agent: concurrent conversations per agent (an approximation, see module).
    """
    _check_number("mean_patience", mean_patience, positive=True, allow_inf=True)
    if math.isinf(mean_patience):
        return erlang_c(arrival_rate, mean_service, agents, target, slots_per_agent=slots_per_agent)
    servers, load = _queue_size(arrival_rate, mean_service, agents, target, slots_per_agent)
    if arrival_rate == 0.0:
        return QueueMetrics(
            "erlang_a", agents, slots_per_agent, 0.0, target, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0
        )

    theta = 1.0 / mean_patience
    capacity = servers / mean_service  # s*mu, the service rate when all servers are busy
    x = capacity / theta
    y = arrival_rate / theta
    rho = arrival_rate / capacity
    series = _queue_series(x, y)
    j = np.arange(series.prob.size, dtype=float)

    # GMR closed forms, with log A from gammainc when that is well conditioned; otherwise (very
    # long patience: log A is then a small difference of huge terms) the exact series.
    abandon_series = float(np.sum(series.prob * (j + 1.0) / (x + j + 1.0)))
    log_a, log_a_error = _log_gmr_a(x, y)
    if log_a_error <= _CLOSED_FORM_TOLERANCE:
        # P(Ab | wait) = 1/(rho A) + 1 - 1/rho tends to 0 - 0 as theta -> 0: keep it only
        # while its rounding error stays small next to its value.
        abandon_closed = 1.0 + math.expm1(-log_a) / rho
        closed_error = log_a_error * math.exp(-log_a) / rho
        if closed_error <= _CLOSED_FORM_TOLERANCE * abandon_series:
            abandon_given_wait = abandon_closed
        else:
            abandon_given_wait = abandon_series
    else:
        log_a, abandon_given_wait = series.log_total, abandon_series
    abandon_given_wait = min(1.0, max(0.0, abandon_given_wait))

    # P(wait) = A E / (1 + (A-1) E) = 1 / (1 + (1-E)/(A E)), evaluated with logs of A and E.
    blocking = erlang_b(servers, load)
    if blocking >= 1.0:
        p_wait = 1.0
    elif blocking <= 0.0:  # underflow: a tiny load on many servers
        p_wait = 0.0
    else:
        ratio = math.log1p(-blocking) - log_a - math.log(blocking)
        p_wait = 1.0 / (1.0 + math.exp(ratio)) if ratio < 700.0 else 0.0
    p_abandon = p_wait * abandon_given_wait

    # Served within T, and the mean wait of the served, from the Beta law of exp(-theta*tau).
    reach = x / (x + j + 1.0)  # P(served | j ahead)
    mass = series.prob > 1e-20  # skip the negligible (and costly) incomplete beta terms
    within = reach[mass] * special.betaincc(x + 1.0, j[mass] + 1.0, math.exp(-theta * target))
    service_level = (1.0 - p_wait) + p_wait * float(np.sum(series.prob[mass] * within))
    # E[tau; served | j] = reach * sum_{i=1}^{j+1} 1/(s*mu + i*theta)
    wait_if_served = reach * np.cumsum(1.0 / (capacity + (j + 1.0) * theta))
    served = 1.0 - p_abandon
    wait_served_total = p_wait * float(np.sum(series.prob * wait_if_served))

    return QueueMetrics(
        model="erlang_a",
        agents=agents,
        slots_per_agent=slots_per_agent,
        offered_load=load,
        target=target,
        p_wait=p_wait,
        p_abandon=p_abandon,
        mean_wait=p_abandon / theta,
        mean_wait_served=wait_served_total / served if served > 0.0 else math.inf,
        service_level=min(1.0, max(0.0, service_level)),
        occupancy=min(1.0, rho * served),
    )


def queue_metrics(
    arrival_rate: float,
    mean_service: float,
    agents: int,
    target: float,
    *,
    mean_patience: float | None = None,
    slots_per_agent: int = 1,
) -> QueueMetrics:
    """Erlang A when ``mean_patience`` is given (and finite), Erlang C otherwise."""
    if mean_patience is None:
        return erlang_c(arrival_rate, mean_service, agents, target, slots_per_agent=slots_per_agent)
    return erlang_a(
        arrival_rate, mean_service, mean_patience, agents, target, slots_per_agent=slots_per_agent
    )


def agents_for_service_level(
    arrival_rate: float,
    mean_service: float,
    target: float,
    service_level: float,
    *,
    mean_patience: float | None = None,
    max_abandon: float | None = None,
    slots_per_agent: int = 1,
    max_agents: int = 1_000_000,
) -> QueueMetrics:
    """The figures of the smallest number of agents that meets the targets.

    The targets are ``metrics.service_level >= service_level`` and, when given (Erlang A
    only), ``metrics.p_abandon <= max_abandon``.  Both figures improve monotonically with the
    number of agents, so the search doubles an upper bound and then bisects.  At least one
    agent is returned, even for zero traffic.

    Raises:
        ValueError: for invalid arguments, or if more than ``max_agents`` would be needed.
    """
    _check_number("arrival_rate", arrival_rate, minimum=0.0)
    _check_number("mean_service", mean_service, positive=True)
    _check_number("target", target, minimum=0.0)
    _check_number("service_level", service_level, minimum=0.0)
    if not service_level < 1.0:
        raise ValueError(
            f"service_level must be below 1 (no finite staff reaches 1), got {service_level!r}"
        )
    if max_abandon is not None:
        _check_number("max_abandon", max_abandon, positive=True)
        if max_abandon > 1.0:
            raise ValueError(f"max_abandon must be at most 1, got {max_abandon!r}")
        if mean_patience is None:
            raise ValueError("max_abandon needs mean_patience (Erlang A)")
    _check_int("slots_per_agent", slots_per_agent, minimum=1)
    _check_int("max_agents", max_agents, minimum=1)

    def evaluate(agents: int) -> QueueMetrics | None:
        try:
            return queue_metrics(
                arrival_rate,
                mean_service,
                agents,
                target,
                mean_patience=mean_patience,
                slots_per_agent=slots_per_agent,
            )
        except QueueTooLongError:  # such a queue certainly misses the targets
            return None

    def meets(metrics: QueueMetrics | None) -> bool:
        if metrics is None or metrics.service_level < service_level:
            return False
        return max_abandon is None or metrics.p_abandon <= max_abandon

    load = arrival_rate * mean_service
    # Lower bound: served load cannot exceed capacity, so n*k >= service_level * load.
    low = max(1, math.ceil(service_level * load / slots_per_agent))
    if mean_patience is None:
        low = max(low, min_stable_agents(arrival_rate, mean_service, slots_per_agent))
    if low > max_agents:
        raise ValueError(f"more than max_agents={max_agents} agents would be needed")
    best = evaluate(low)
    if best is not None and meets(best):
        return best
    # Invariant: `low` fails; find a `high` that meets, then bisect.
    step = max(1, math.ceil(math.sqrt(load / slots_per_agent)))
    high = low + step
    while True:
        if high > max_agents:
            high = max_agents
        best = evaluate(high)
        if best is not None and meets(best):
            break
        if high == max_agents:
            raise ValueError(f"more than max_agents={max_agents} agents would be needed")
        low, high = high, high + 2 * (high - low)
    while high - low > 1:
        middle = (low + high) // 2
        metrics = evaluate(middle)
        if metrics is not None and meets(metrics):
            high, best = middle, metrics
        else:
            low = middle
    return best


# ------------------------------------------------------------------------------ validation


def _check_number(
    name: str,
    value: float,
    *,
    minimum: float | None = None,
    positive: bool = False,
    allow_inf: bool = False,
) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if math.isnan(value) or (math.isinf(value) and not allow_inf):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be at least {minimum:g}, got {value!r}")


def _check_int(name: str, value: int, *, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value!r}")
