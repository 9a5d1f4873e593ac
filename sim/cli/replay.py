"""``chatsim replay``: the trace against a live gateway with Locust, next to the model."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from sim.capacity import REPLAY, Replayed, read_baseline, write_baseline
from sim.catalogue import Tolerance, compared
from sim.cli.app import app, console, err_console
from sim.cli.options import (
    output_directory,
    progress_bar,
    scenario_from,
    seed_option,
    tolerance_option,
    trace_for,
)
from sim.cli.outputs import JsonOption, JunitOption, MarkdownOption, ReportOption, emit
from sim.compare import judgeable, timing_resolution
from sim.errors import InputError, InvalidRunError
from sim.loadtest.collect import MAX_LATENESS_MS
from sim.loadtest.desk import REFERENCE_DESK, DeskError, load_desk
from sim.loadtest.raw import RESPONDERS, Responder
from sim.loadtest.run import run_replay
from sim.loadtest.settings import OUTAGE_LIMIT
from sim.protocols import DEFAULT_EMULATOR_PORT
from sim.replay_baseline import parse_gateway_tolerance, replay_baseline_checks
from sim.results import Results
from sim.scenario import Scenario
from sim.thresholds import Threshold, judge_thresholds, parse_threshold
from sim.trace import write_trace
from sim.traffic import draw_trace
from sim.verdict import Verdict


def side_by_side(model: Results, replay: Results) -> Table:
    table = Table(
        title="model vs replay on the same trace", title_justify="left", header_style="bold"
    )
    for column in ("KPI", "model", "replay", "difference"):
        table.add_column(column, justify="left" if column == "KPI" else "right")
    for kpi in compared():
        predicted, measured = model.mean(kpi.key), replay.mean(kpi.key)
        difference = None if predicted is None or measured is None else measured - predicted
        table.add_row(kpi.key, kpi.text(predicted), kpi.text(measured), kpi.delta(difference))
    return table


@app.command("replay")
def replay(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO", help="Scenario YAML file.")],
    speedup: Annotated[
        float, typer.Option("--speedup", help="Time compression: scenario seconds per wall second.")
    ],
    trace: Annotated[
        Path | None,
        typer.Option(
            "--trace", help="Trace to replay; drawn with --seed into OUT/trace.jsonl when absent."
        ),
    ] = None,
    seed: Annotated[
        int | None, seed_option("Seed of the drawn trace (default: the baseline's, else 1).")
    ] = None,
    gateway: Annotated[
        str | None,
        typer.Option(
            "--gateway",
            help="Your gateway's base URL; the reference gateway is started when absent.",
        ),
    ] = None,
    processes: Annotated[
        int, typer.Option("--processes", help="Locust processes (distributed mode when above 1).")
    ] = 1,
    agents: Annotated[
        str | None,
        typer.Option(
            "--agents",
            metavar="MODULE:CLASS",
            help=(
                "Your gateway's agent desk: an implementation of sim.loadtest.desk.AgentDesk, "
                "as package.module:Class or path/to/file.py:Class (default: the reference "
                "gateway's agent API)."
            ),
        ),
    ] = None,
    responder: Annotated[
        str,
        typer.Option(
            "--responder",
            help=(
                "Who answers the customers: 'agents' (emulated through the desk) or 'bot' "
                "(the gateway's own bot, no agents; needs --gateway)."
            ),
        ),
    ] = "agents",
    out: Annotated[
        Path,
        typer.Option(
            "--out", help="Directory for the trace, Locust's CSV/HTML, replay and model results."
        ),
    ] = Path("reports/replay"),
    emulator_port: Annotated[
        int | None,
        typer.Option(
            "--emulator-port",
            help=(
                f"Port of the provider emulator (default {DEFAULT_EMULATOR_PORT} with --gateway, "
                "else a free port)."
            ),
        ),
    ] = None,
    max_lateness: Annotated[
        float,
        typer.Option(
            "--max-lateness",
            help="Dispatch lateness p99 bound, wall milliseconds; above it the run is invalid.",
        ),
    ] = MAX_LATENESS_MS,
    time_limit: Annotated[
        float | None,
        typer.Option(
            "--time-limit",
            help=(
                "Safety net, wall seconds: the run ends (invalid) if conversations are still open "
                "by then. Default: 3 x the scenario's wall duration + 60 s."
            ),
        ),
    ] = None,
    outage_limit: Annotated[
        float,
        typer.Option(
            "--outage-limit",
            help=(
                "Wall seconds the gateway may fail /healthz in a row before the run ends "
                "(invalid); customers redeliver unacknowledged webhooks for as long, as the "
                "platforms do. Shorter outages are reported with their effect."
            ),
        ),
    ] = OUTAGE_LIMIT,
    report: ReportOption = None,
    threshold: Annotated[
        list[str] | None,
        typer.Option(
            "--threshold",
            help=(
                "NAME<VALUE (repeatable; <, <=, >, >=; NAME[CHANNEL] for one channel): fail the "
                "replay (exit 1) unless it holds. NAME is a KPI of the results (frt_mean<40s, "
                "missed_rate<3%, service_level>90%) or a gateway measure in wall ms: "
                "ack_p50|p99|max, delivery_p50|p99|max, lateness_p50|p99|max (ack_p99<50ms)."
            ),
        ),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help=(
                "Replay baseline to hold the run to (KPIs by their per-interval noise band, "
                "ack_p99 and delivery_p99 within 25%, at least 2 ms): another gateway build on "
                "the same trace."
            ),
        ),
    ] = None,
    update_baseline: Annotated[
        bool,
        typer.Option(
            "--update-baseline",
            help="Record this replay as the baseline (a valid run only) instead of checking.",
        ),
    ] = False,
    tolerance: Annotated[
        list[str] | None,
        tolerance_option(
            "With --baseline: KEY=MS or KEY=REL% (repeatable) for a gateway measure, e.g. "
            "ack_p99=5 or delivery_p99=50%: replaces its default room, or holds one more."
        ),
    ] = None,
    json_path: JsonOption = None,
    junit: JunitOption = None,
    markdown: MarkdownOption = None,
) -> None:
    """Replay a trace against a live gateway with Locust and compare with the model; exit 1
    when a --threshold or a --baseline check fails, 3 when the run itself is invalid."""
    if speedup <= 0:
        raise InputError("must be positive", key="--speedup")
    if processes < 1:
        raise InputError("must be at least 1", key="--processes")
    if outage_limit <= 0:
        raise InputError("must be positive", key="--outage-limit")
    if time_limit is not None and time_limit <= 0:
        raise InputError("must be positive", key="--time-limit")
    chosen = _responder(responder, agents, gateway)
    desk = agents or REFERENCE_DESK
    if chosen == "agents":
        try:
            load_desk(desk)  # here, so that a wrong name is exit 2 before anything starts
        except DeskError as error:
            raise InputError(str(error), key="--agents") from None
    scenario = scenario_from(scenario_path)
    thresholds: list[Threshold] = []
    for text in threshold or []:
        try:
            thresholds.append(parse_threshold(text, scenario.channels))
        except ValueError as error:
            raise InputError(str(error), key="--threshold") from None
    tolerances = _tolerances(tolerance or [], baseline)
    if update_baseline and baseline is None:
        raise InputError("--update-baseline needs --baseline FILE", key="--update-baseline")
    reference = (
        read_baseline(baseline, scenario, REPLAY)
        if baseline is not None and not update_baseline
        else None
    )
    # The trace is drawn from the seed: with the baseline's, both replays play the same one.
    if seed is None:
        seed = reference.seed if reference is not None and reference.seed is not None else 1
    output_directory(out)
    output_directory(report.parent if report is not None else None, key="--report")
    if trace is None:
        trace_path = out / "trace.jsonl"
        played = draw_trace(scenario, seed)
        write_trace(played, trace_path)
    else:
        trace_path, played = trace, trace_for(scenario, trace)
    if any(c.customer is None for c in played):
        raise InputError(
            "the trace has no customers: write it with `chatsim trace`", file=trace_path
        )
    if gateway:
        err_console.print(
            f"replaying against {gateway}: its outbound base URLs must point at "
            f"http://127.0.0.1:{emulator_port or DEFAULT_EMULATOR_PORT}"
        )
    expected = scenario.duration / speedup
    with progress_bar(
        f"replaying {len(played):,} conversations at {speedup:g}x", round(expected)
    ) as bar:
        task = bar.task_ids[0]
        outcome = run_replay(
            scenario, scenario_path, played, trace_path, speedup=speedup, out=out, gateway=gateway,
            processes=processes, emulator_port=emulator_port, max_lateness_ms=max_lateness,
            limit=time_limit, outage_limit=outage_limit, agents=desk, responder=chosen,
            on_tick=lambda elapsed: bar.update(task, completed=min(elapsed, expected)),
        )  # fmt: skip
    validity = outcome.validity
    console.print(side_by_side(outcome.model, outcome.replay))
    targets = [c.first_response_target for c in scenario.channels.values()]
    warning = judgeable(timing_resolution(outcome.replay), speedup, min(targets))
    if warning:
        err_console.print(f"[yellow]warning:[/] {warning}")
    console.print(
        f"dispatch lateness p50 {validity.lateness_p50_ms:.1f} ms, "
        f"p99 {validity.lateness_p99_ms:.1f} ms · "
        f"gateway ack p50 {validity.ack_p50_ms:.1f} ms, p99 {validity.ack_p99_ms:.1f} ms · "
        f"reply delivery p50 {_ms(validity.delivery_p50_ms)}, "
        f"p99 {_ms(validity.delivery_p99_ms)} · "
        f"lost: {validity.lost_inbound} inbound, {validity.lost_replies} replies · "
        f"webhooks redelivered: {validity.retries}"
        + (
            f" · worker clocks within {abs(validity.clock_offset_ms):.2f} ms of the master's "
            f"(±{(validity.clock_round_trip_ms or 0) / 2:.2f})"
            if validity.clock_offset_ms is not None
            else ""
        )
    )
    for outage in validity.outages:
        err_console.print(f"[yellow]gateway outage:[/] {describe_outage(outage, scenario)}")
    console.print(
        f"wrote {out / 'replay' / 'results.json'}, {out / 'model' / 'results.json'} "
        f"and Locust's {out / 'locust.html'}"
    )
    if report is not None:
        from sim.report import write_report

        write_report([out / "model", out / "replay"], report, scenario)
        console.print(f"wrote {report}")
    replayed = Replayed(
        trace_sha256=outcome.replay.trace_sha256 or played.sha256(),
        speedup=speedup,
        gateway=gateway or "reference",
    )
    played_seed = played.header.seed
    invalid = "the replay is invalid: " + "; ".join(validity.reasons)
    if update_baseline and baseline is not None and not validity.valid:
        # An invalid run's numbers are not to be trusted, so nothing is to be held to them.
        invalid += f"; not recorded as the baseline {baseline}"
    elif update_baseline and baseline is not None:
        write_baseline(outcome.replay, baseline, scenario, played_seed, 1, replayed=replayed)
        console.print(
            f"recorded replay baseline {baseline} (seed {played_seed}, speedup {speedup:g}, "
            f"gateway {replayed.gateway})"
        )
    verdict = None
    if thresholds or reference is not None or json_path or junit or markdown:
        title = f"thresholds of the replay of {scenario.name}"
        if reference is not None:
            title = f"the replay of {scenario.name} against {baseline}" + (
                " and its thresholds" if thresholds else ""
            )
        verdict = Verdict(title, judge_thresholds(outcome.replay, thresholds))
        if reference is not None:
            checks, notes = replay_baseline_checks(
                outcome.replay, reference, scenario, played_seed, replayed, tolerances
            )
            verdict.checks += checks
            verdict.notes += notes
        if not validity.valid:
            verdict.notes.append(invalid)
        emit(verdict, json_path, junit, markdown)
    if not validity.valid:
        raise InvalidRunError(invalid)
    raise typer.Exit(verdict.exit_code if verdict is not None else 0)


def _responder(given: str, agents: str | None, gateway: str | None) -> Responder:
    """``--responder``, checked against the options it needs and excludes."""
    for responder in RESPONDERS:
        if given == responder:
            break
    else:
        raise InputError(f"must be one of {', '.join(RESPONDERS)}", key="--responder")
    if responder == "bot" and agents is not None:
        raise InputError("a bot answers: no agents are emulated, so no desk", key="--agents")
    if responder == "bot" and not gateway:
        raise InputError(
            "a bot responder replays against your gateway's bot: give --gateway URL "
            "(the reference gateway has no bot)",
            key="--responder",
        )
    return responder


def _tolerances(texts: list[str], baseline: Path | None) -> dict[str, Tolerance]:
    """``--tolerance KEY=VALUE`` for gateway measures held to the baseline."""
    if texts and baseline is None:
        raise InputError(
            "holds gateway measures to a baseline: give --baseline FILE", key="--tolerance"
        )
    tolerances = {}
    for text in texts:
        try:
            key, value = parse_gateway_tolerance(text)
        except ValueError as error:
            raise InputError(str(error), key="--tolerance") from None
        tolerances[key] = value
    return tolerances


def describe_outage(outage: dict[str, float | int | None], scenario: Scenario) -> str:
    """One outage of the validity block in words, on the scenario's clock."""
    start, end = outage.get("start"), outage.get("end")
    clock = scenario.clock(float(start or 0.0))
    until = "the end of the run" if end is None else scenario.clock(float(end))
    return (
        f"/healthz failed from {clock} to {until} (scenario time; "
        f"{float(outage.get('wall_seconds') or 0.0):.1f} wall s): "
        f"{outage.get('conversations')} conversations arrived meanwhile, "
        f"{outage.get('missed')} of them missed"
    )


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.1f} ms"
