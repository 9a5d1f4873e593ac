"""Fitting a scenario to conversation logs (``chatsim fit``), one concept per module:

- :mod:`sim.fit.laws`: duration laws by censored maximum likelihood (and the mixture that
  silent abandonment makes), Kaplan–Meier, confidence intervals;
- :mod:`sim.fit.calendar`: intervals on the operator's clock, what the logs covered, arrival
  rates per interval;
- :mod:`sim.fit.conversations`: one channel's conversations sorted into the samples each
  estimator needs (patience observations exact, censored or ambiguous);
- :mod:`sim.fit.agents`: agents on duty per interval and the concurrency seen;
- :mod:`sim.fit.estimate`: the scenario assembled, every value with its comment;
- :mod:`sim.fit.document`: the commented YAML text.

The package does no I/O: :mod:`sim.history` reads the logs, :mod:`sim.cli.fit` writes the file.
"""

from sim.fit.estimate import ChannelSummary, FitError, FitOptions, Fitted, fit_scenario

__all__ = ["ChannelSummary", "FitError", "FitOptions", "Fitted", "fit_scenario"]
