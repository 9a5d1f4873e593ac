"""``chatsim calibrate``: fit scenario parameters to observed KPIs with the model.

The library (:mod:`sim.calibrate`) parses the parameters and observations and runs the search;
this command reads the inputs, shows a progress bar over the model evaluations, prints the
fitted values and the KPIs side by side, and writes the calibrated scenario and the report.
"""

from __future__ import annotations

import math
import shlex
import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer
import yaml
from rich.markup import escape
from rich.table import Table

from sim.calibrate import (
    DEFAULT_KPIS,
    Calibration,
    CalibrationError,
    Observation,
    RewriteError,
    check_observations,
    check_parameters,
    edits,
    fresh_scenario,
    observations_from_history,
    observations_from_results,
    parse_observation,
    parse_vary,
    rewrite_scenario,
)
from sim.calibrate import calibrate as run_calibration
from sim.catalogue import kpi as kpi_of
from sim.cli.app import app, console, err_console
from sim.cli.cluster import executor_for, scheduler_option
from sim.cli.fit import parse_pairs, report_problems
from sim.cli.options import (
    jobs_option,
    output_directory,
    progress_bar,
    replications_option,
    scenario_from,
    seed_option,
)
from sim.cli.outputs import ReportOption
from sim.errors import InputError
from sim.history import read_history
from sim.results import read_results
from sim.scenario import Scenario, parse_scenario

FLAGS = {
    "vary": "--vary",
    "observe": "--observe",
    "observe_results": "--observe-results",
    "observe_kpi": "--observe-kpi",
    "channels": "--channel",
    "replications": "--replications",
    "max_evaluations": "--max-evaluations",
    "step": "--step",
}
"""The flag of each argument of :func:`sim.calibrate.calibrate` and its parsers."""


def _input_error(error: CalibrationError) -> InputError:
    return InputError(str(error), key=FLAGS.get(error.parameter, error.parameter))


def _observations(
    scenario: Scenario,
    observe: list[str],
    results_path: Path | None,
    kpis: list[str],
    channels: list[str] | None,
    per_interval: bool,
    logs: Sequence[Path] = (),
    messages: Sequence[Path] = (),
    mapping: Sequence[str] = (),
) -> list[Observation]:
    """``--observe-logs`` and ``--observe-results`` first, then ``--observe`` (which replaces
    the same KPI)."""
    if results_path is None and per_interval:
        raise InputError("applies to --observe-results: give a results file", key="--per-interval")
    if results_path is None and not logs and kpis:
        raise InputError(
            "applies to --observe-results or --observe-logs: give one", key="--observe-kpi"
        )
    found: dict[tuple[str, str | None, int | None], Observation] = {}
    if logs:
        columns = parse_pairs(list(mapping), "--map", "OUR_NAME=THEIR_COLUMN (created_at=Started)")
        history = read_history(list(logs), mapping=columns, messages=list(messages))
        report_problems(history.problems)
        for observation in observations_from_history(
            history, scenario, kpis or DEFAULT_KPIS, channels
        ):
            found[(observation.kpi, observation.channel, observation.interval)] = observation
    if results_path is not None:
        results = read_results(results_path)
        try:
            observed = observations_from_results(
                results, scenario, kpis or DEFAULT_KPIS, channels, per_interval=per_interval
            )
        except CalibrationError as error:
            raise InputError(str(error), file=results_path) from None
        if not observed:
            raise InputError(
                "no observed KPI in the file has a value", file=results_path, key="--observe-kpi"
            )
        for observation in observed:
            found[(observation.kpi, observation.channel, observation.interval)] = observation
    for text in observe:
        observation = parse_observation(scenario, text)
        found[(observation.kpi, observation.channel, None)] = observation
    if not found:
        raise InputError(
            "nothing observed: give --observe KPI=VALUE (such as service_level=0.936), "
            "--observe-results FILE or --observe-logs LOGS",
            key="--observe",
        )
    return list(found.values())


def command_line(
    scenario_path: Path,
    vary: list[str],
    observe: list[str],
    results_path: Path | None,
    kpis: list[str],
    per_interval: bool,
    channels: list[str],
    replications: int,
    seed: int,
    step: float,
    logs: Sequence[Path] = (),
    messages: Sequence[Path] = (),
    mapping: Sequence[str] = (),
) -> str:
    """The command that reproduces a calibration (what the written scenario's header says)."""
    words = ["chatsim", "calibrate", str(scenario_path)]
    words += [w for v in vary for w in ("--vary", v)]
    words += [w for o in observe for w in ("--observe", o)]
    if results_path is not None:
        words += ["--observe-results", str(results_path)]
    words += [w for f in logs for w in ("--observe-logs", str(f))]
    words += [w for f in messages for w in ("--messages", str(f))]
    words += [w for m in mapping for w in ("--map", m)]
    words += [w for k in kpis for w in ("--observe-kpi", k)]
    words += ["--per-interval"] if per_interval else []
    words += [w for c in channels for w in ("--channel", c)]
    words += ["-n", str(replications), "--seed", str(seed)]
    words += ["--step", f"{step:g}"] if step != 0.05 else []
    return shlex.join(words)


def parameter_table(calibration: Calibration) -> Table:
    """Each varied parameter: its value in the scenario, the fitted value with its standard
    error and 95% interval, and its search range."""
    table = Table(title="fitted parameters", title_justify="left", header_style="bold")
    for column in ("parameter", "scenario", "fitted", "± SE", "95% interval", "range", ""):
        table.add_column(column, justify="left" if column in ("parameter", "") else "right")
    for i, p in enumerate(calibration.parameters):
        interval = calibration.interval(i)
        note = "[yellow]at the edge of its range[/]" if calibration.at_bound(i) else ""
        table.add_row(
            p.name,
            p.text(p.start),
            f"[bold]{p.text(calibration.fitted[i])}",
            p.spread(calibration.standard_errors[i]),
            f"{p.text(interval[0])} – {p.text(interval[1])}" if interval else "–",
            f"{p.text(p.low)} – {p.text(p.high)}",
            note,
        )
    return table


def kpi_table(calibration: Calibration) -> Table:
    """Observed against simulated KPIs, at the start and calibrated (as written)."""
    table = Table(
        title=f"observed and simulated KPIs ({calibration.replications} replications, seed "
        f"{calibration.seed}, common random numbers)",
        title_justify="left",
        header_style="bold",
    )
    for column in ("KPI", "observed", "scenario", "calibrated", "difference", "unit", "z"):
        table.add_column(column, justify="left" if column == "KPI" else "right")
    for i, o in enumerate(calibration.observations):
        entry = kpi_of(o.kpi)
        simulated = calibration.written.simulated[i]
        difference = None if simulated is None else simulated - o.value
        z = calibration.written.residuals[i]
        table.add_row(
            escape(o.label),
            entry.with_ci(o.value, o.half_width),
            entry.text(calibration.start.simulated[i]),
            f"[bold]{entry.with_ci(simulated, calibration.written.ci95(i))}",
            entry.delta(difference),
            entry.spread(o.unit),
            f"{z:+.2f}",
        )
    table.caption = (
        f"objective (sum of squared z): scenario {objective_text(calibration.start.objective)}, "
        f"calibrated {objective_text(calibration.written.objective)}; z = difference / unit"
    )
    table.caption_justify = "left"
    return table


def header_lines(calibration: Calibration, command: str) -> list[str]:
    """The comment that heads the calibrated scenario file: the command and what it found."""
    lines = textwrap.wrap(
        f"Calibrated with `{command}`:", 96, subsequent_indent="    ", break_on_hyphens=False
    )
    for i, p in enumerate(calibration.parameters):
        se = calibration.standard_errors[i]
        spread = f" ± {p.spread(se)}" if se is not None else ""
        edge = " (at the edge of its range)" if calibration.at_bound(i) else ""
        lines.append(
            f"  {p.name}: {p.text(p.start)} -> {p.text(calibration.fitted[i])}{spread}{edge}"
        )
    pairs = []
    for i, o in enumerate(calibration.observations[:12]):
        entry = kpi_of(o.kpi)
        pairs.append(
            f"{o.label} {entry.text(o.value)} -> {entry.text(calibration.written.simulated[i])}"
        )
    more = len(calibration.observations) - len(pairs)
    text = "observed -> simulated: " + ", ".join(pairs) + (f" and {more} more" if more else "")
    lines += textwrap.wrap(text, 94, initial_indent="  ", subsequent_indent="    ")
    lines.append(
        f"  ({calibration.replications} replications, seed {calibration.seed}; objective "
        f"{objective_text(calibration.start.objective)} -> "
        f"{objective_text(calibration.written.objective)}; "
        f"{len(calibration.evaluations)} model evaluations)"
    )
    return lines


def objective_text(value: float) -> str:
    """An objective value: ``0.031``, ``7.25``, ``1,932``."""
    return f"{value:,.0f}" if value >= 1000 else f"{value:.3g}"


def write_scenario(calibration: Calibration, scenario_path: Path, out: Path, command: str) -> str:
    """Write the calibrated scenario to ``out``: the original text with only the calibrated
    values changed and a header comment, or a fresh file when the text cannot be edited in
    place. Returns how it was written."""
    header = header_lines(calibration, command)
    text = scenario_path.read_text(encoding="utf-8")
    try:
        written = rewrite_scenario(text, edits(calibration), header)
        if _reads_as(written, out) != calibration.scenario:
            raise RewriteError("the edited text does not read as the calibrated scenario")
        how = "the original text with the calibrated values replaced"
    except (RewriteError, InputError) as error:
        header += [
            f"(written afresh from the validated scenario: {error}; the original's comments "
            "are not kept, durations are in seconds)"
        ]
        written = fresh_scenario(calibration.scenario, header)
        if _reads_as(written, out) != calibration.scenario:  # pragma: no cover (a bug)
            raise InputError(
                "the calibrated scenario does not read back as itself", file=out
            ) from None
        how = "a fresh file (the original's text could not be edited in place)"
    out.write_text(written, encoding="utf-8")
    return how


def _reads_as(text: str, path: Path) -> Scenario:
    return parse_scenario(yaml.safe_load(text), file=path)


@app.command("calibrate")
def calibrate(
    scenario_path: Annotated[
        Path, typer.Argument(metavar="SCENARIO", help="Scenario YAML file (the starting point).")
    ],
    vary: Annotated[
        list[str] | None,
        typer.Option(
            "--vary",
            help="A parameter to fit, PATH or PATH=LOW:HIGH (repeatable): reply.mean, "
            "first_reply.mean, patience.mean, think.mean, close_after.mean (every channel), "
            "channels.NAME.reply.mean (one channel), agents.GROUP.slowdown (its last factor), "
            "agents.GROUP.reply_factor. Default range 0.25x to 4x.",
        ),
    ] = None,
    observe: Annotated[
        list[str] | None,
        typer.Option(
            "--observe",
            help="An observed KPI, KPI=VALUE or KPI[CHANNEL]=VALUE, optionally VALUE±H with a "
            "95%% half-width (repeatable): service_level=0.936, frt_mean=33s.",
        ),
    ] = None,
    observe_results: Annotated[
        Path | None,
        typer.Option(
            "--observe-results",
            help="Observe a results file (a replay's, or an export in that shape): its KPIs "
            "per channel, with their confidence intervals.",
        ),
    ] = None,
    observe_kpi: Annotated[
        list[str] | None,
        typer.Option(
            "--observe-kpi",
            help="With --observe-results: the KPIs observed (repeatable; default "
            "service_level, missed_rate, frt_mean, insession_mean).",
        ),
    ] = None,
    observe_logs: Annotated[
        list[Path] | None,
        typer.Option(
            "--observe-logs",
            help="Observe conversation logs themselves (the CSV or conversations.jsonl that "
            "chatsim fit reads; repeatable): service level, missed rate, first and in-session "
            "response per channel.",
        ),
    ] = None,
    observe_messages: Annotated[
        list[Path] | None,
        typer.Option(
            "--messages", help="With --observe-logs: the message CSV (in-session responses)."
        ),
    ] = None,
    mapping: Annotated[
        list[str] | None,
        typer.Option("--map", help="With --observe-logs: OUR_NAME=THEIR_COLUMN (repeatable)."),
    ] = None,
    per_interval: Annotated[
        bool,
        typer.Option(
            "--per-interval",
            help="With --observe-results: observe each channel per interval, not over the day.",
        ),
    ] = False,
    channel: Annotated[
        list[str] | None,
        typer.Option(
            "--channel",
            help="The observed totals cover these channels only (repeatable; default all).",
        ),
    ] = None,
    replications: Annotated[
        int, replications_option("Replications every candidate is simulated on.")
    ] = 3,
    seed: Annotated[int, seed_option("Seed of the traces (common to every candidate).")] = 1,
    jobs: Annotated[int, jobs_option()] = 1,
    scheduler: Annotated[str | None, scheduler_option()] = None,
    max_evaluations: Annotated[
        int,
        typer.Option("--max-evaluations", min=2, help="Model evaluations the search may spend."),
    ] = 60,
    step: Annotated[
        float,
        typer.Option(
            "--step",
            help="Relative step of the finite-difference Jacobian (the model is rough on "
            "smaller scales).",
        ),
    ] = 0.05,
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Write the calibrated scenario (YAML) here."),
    ] = None,
    report: ReportOption = None,
) -> None:
    """Fit scenario parameters (reply work, slowdown, patience...) so that the model reproduces
    observed KPIs, on common random numbers."""
    scenario = scenario_from(scenario_path)
    output_directory(out.parent if out is not None else None, key="--out")
    output_directory(report.parent if report is not None else None, key="--report")
    if not vary:
        raise InputError(
            "give at least one parameter to fit, such as --vary reply.mean", key="--vary"
        )
    try:
        parameters = [parse_vary(scenario, text) for text in vary]
        check_parameters(parameters)
        observations = _observations(
            scenario, observe or [], observe_results, observe_kpi or [], channel, per_interval,
            observe_logs or [], observe_messages or [], mapping or [],
        )  # fmt: skip
        check_observations(scenario, observations, parameters, channel)
    except CalibrationError as error:
        raise _input_error(error) from None
    command = command_line(
        scenario_path, vary, observe or [], observe_results, observe_kpi or [], per_interval,
        channel or [], replications, seed, step, observe_logs or [], observe_messages or [],
        mapping or [],
    )  # fmt: skip
    with (
        executor_for(scheduler, jobs) as executor,
        progress_bar(f"calibrating {scenario.name}", max_evaluations) as bar,
    ):
        task = bar.task_ids[0]
        try:
            calibration = run_calibration(
                scenario, parameters, observations, replications=replications, seed=seed,
                jobs=jobs, executor=executor, channels=channel, max_evaluations=max_evaluations,
                step=step,
                on_evaluation=lambda done, best: bar.update(
                    task, completed=done,
                    description=f"calibrating {scenario.name}: objective {best:.3g}",
                ),
            )  # fmt: skip
        except CalibrationError as error:
            raise _input_error(error) from None
    console.print(parameter_table(calibration))
    console.print(kpi_table(calibration))
    console.print(
        f"{len(calibration.evaluations)} model evaluations of {replications} replications "
        f"(scipy least_squares, trust region reflective, step {step:g}): {calibration.message}"
    )
    for note in calibration.notes:
        err_console.print(f"[yellow]note:[/] {escape(note)}")
    if not calibration.converged:
        err_console.print(
            "[yellow]note:[/] the search did not converge: raise --max-evaluations, or narrow "
            "the ranges"
        )
    if any(se is not None and math.isinf(se) for se in calibration.standard_errors):
        err_console.print(
            "[yellow]note:[/] a parameter the observed KPIs do not move is not identified: "
            "observe a KPI it changes, or do not vary it"
        )
    if out is not None:
        how = write_scenario(calibration, scenario_path, out, command)
        console.print(f"wrote {out} ({how})")
    if report is not None:
        from sim.report.calibration import write_calibration_report

        console.print(f"wrote {write_calibration_report(calibration, report, command)}")
