"""Scenario: the traffic a contact centre is offered and the agents it has.

A scenario is read from YAML (README.md, "Scenario format") and validated completely before
anything runs: every problem is reported as an :class:`~sim.errors.InputError` naming the file,
the key path (``channels.whatsapp.patience.mean``) and what is wrong.

Times inside a scenario are seconds after its ``start`` clock time; ``duration`` is the horizon
(at most a week) and ``interval`` the reporting and staffing interval. A clock is ``"HH:MM"``,
or ``"Mon 08:00"`` with its day (needed on the start and the shifts of a horizon longer than a
day); :meth:`Scenario.offset` and :meth:`Scenario.clock` are the one place that turns clocks
into scenario seconds and back.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import json
import types
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Annotated, Any, Union, get_args, get_origin

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sim.distributions import COUNT_DISTS, DURATION_DISTS, Constant, ConstantCount, Count, Duration
from sim.durations import (
    DAY,
    WEEK,
    WEEKDAYS,
    WeekTime,
    format_clock,
    format_day_clock,
    format_duration,
    parse_day_clock,
    parse_duration,
    weekday,
)
from sim.errors import InputError
from sim.protocols import Protocol

Seconds = Annotated[float, BeforeValidator(parse_duration)]


def _dump_clock(clock: float) -> float | str:
    """A clock with its day as the user writes it (``"Tue 07:00"``); one without as seconds
    after midnight, as scenario hashes have always recorded it."""
    return format_day_clock(clock) if isinstance(clock, WeekTime) else clock


Clock = Annotated[
    float,
    PlainValidator(parse_day_clock, json_schema_input_type=str),
    PlainSerializer(_dump_clock),
]
"""A clock time, ``"HH:MM"`` (a ``float``, seconds after midnight) or ``"Mon 08:00"`` (a
:class:`~sim.durations.WeekTime`, seconds after Monday 00:00). :meth:`Scenario.offset` places
either on the scenario's time line."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


def _weekday_name(value: object) -> str:
    """``"Mon"`` for any spelling of a weekday (``"monday"``, ``"MON"``)."""
    return WEEKDAYS[weekday(value)]


def _profile_day(value: object) -> str:
    """A key of a profile by weekday: a weekday, or ``default`` for the days not listed."""
    if isinstance(value, str) and value.strip().lower() == "default":
        return "default"
    try:
        return _weekday_name(value)
    except ValueError as error:
        raise ValueError(f"{error}, or 'default' for the days not listed") from None


def _one_name_per_day(value: Any) -> Any:
    """Refuses a day given twice under two spellings (``Mon`` and ``monday``)."""
    if isinstance(value, dict):
        seen: dict[str, Any] = {}
        for key in value:
            try:
                name = _profile_day(key)
            except ValueError:
                continue  # reported on the key itself
            if name in seen:
                raise ValueError(f"{name} is given twice ({seen[name]!r} and {key!r})")
            seen[name] = key
    return value


Weight = Annotated[float, Field(ge=0)]
DayWeights = Annotated[
    dict[Annotated[str, BeforeValidator(_weekday_name)], Weight],
    BeforeValidator(_one_name_per_day),
]
ProfileByDay = Annotated[
    dict[Annotated[str, BeforeValidator(_profile_day)], list[Weight]],
    BeforeValidator(_one_name_per_day),
]
"""Intraday weights (one per interval of a day, from 00:00) per weekday, ``default`` for the
days not listed; each day's weights give only its shape (they are normalised per day), and a
channel's ``day_weights`` weigh the days against each other."""


def _profile_form(value: Any) -> str:
    if isinstance(value, dict):
        return "dict[weekday]"
    return "str" if isinstance(value, str) else "list[weight]"


Profile = Annotated[
    Annotated[list[Weight], Tag("list[weight]")]
    | Annotated[ProfileByDay, Tag("dict[weekday]")]
    | Annotated[str, Tag("str")],
    Discriminator(_profile_form),
]


class Bot(_Model):
    """A chatbot in front of the agents: it contains a share of conversations outright, and
    hands the rest to the agent queue after ``time``."""

    containment: Annotated[float, Field(ge=0, le=1)]
    time: Duration = Constant(dist="constant", value=0.0)


class Volume(_Model):
    """A volume with its uncertainty (a forecast's): each replication draws its own level,
    lognormal with mean ``mean`` and coefficient of variation ``cv`` (see
    :func:`sim.traffic.volume_level`)."""

    mean: Annotated[float, Field(ge=0)]
    cv: Annotated[float, Field(ge=0, le=2)] = 0.0


class Channel(_Model):
    """One way customers reach the operator (a messenger, site chat, in-app chat, …).

    ``reply`` is the agent's work to answer one customer message; ``first_reply``, when given,
    replaces it for the first message only (in chat the first answer is often a greeting or a
    template, which is why operators see first responses faster than in-session ones).
    """

    protocol: Protocol
    volume: Annotated[float, Field(ge=0)] | Volume
    """Expected conversations over the horizon, before bots; or ``{mean, cv}`` with the
    uncertainty of a forecast."""
    profile: Profile | None = None
    day_weights: DayWeights | None = None
    """How the days of a profile by weekday (or of a flat profile) weigh against each other,
    per weekday; 1 for a day not listed."""
    silent_abandon: bool | None = None
    patience: Duration
    turns: Count = ConstantCount(dist="constant", value=1)
    think: Duration = Constant(dist="constant", value=0.0)
    reply: Duration
    first_reply: Duration | None = None
    close_after: Duration = Constant(dist="constant", value=0.0)
    bot: Bot | None = None
    priority: int = 0
    first_response_target: Annotated[Seconds, Field(gt=0)] = 60.0
    targets: Targets | None = None
    """This channel's own targets: its conversations are held to these instead of the
    scenario's (which then cover the other channels, pooled)."""

    @property
    def mean_volume(self) -> float:
        """Expected conversations over the horizon (the mean of an uncertain volume)."""
        return self.volume.mean if isinstance(self.volume, Volume) else self.volume

    @property
    def volume_cv(self) -> float:
        """Coefficient of variation of the horizon's volume between replications (0: known)."""
        return self.volume.cv if isinstance(self.volume, Volume) else 0.0

    @property
    def silent(self) -> bool:
        """Whether a customer who gives up leaves without telling the gateway.

        Messengers default to silent (the customer just stops writing); webchat tells.
        """
        if self.silent_abandon is not None:
            return self.silent_abandon
        return self.protocol != "webchat"


class Break(_Model):
    """A pause every agent of a shift takes: away from chats for ``length``.

    It is placed by exactly one of ``after`` (that long after the shift starts), ``at`` (a
    clock time) or ``window`` (the shift's agents are spread evenly over it, so that they do
    not all leave at once). ``paid`` breaks count as paid time; unpaid ones (a lunch) do not.
    The agent stops taking new chats its group's ``wind_down`` before the break (see
    :mod:`sim.roster` for what happens to chats still open when it starts).
    """

    length: Annotated[Seconds, Field(gt=0)]
    after: Seconds | None = None
    at: Clock | None = None
    window: tuple[Clock, Clock] | None = None
    paid: bool = True

    @model_validator(mode="after")
    def _one_placement(self) -> Break:
        given = [key for key in ("after", "at", "window") if getattr(self, key) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                "break_placement",
                "give exactly one of 'after', 'at' or 'window' to place the break, got {given}",
                {"given": ", ".join(given) or "none"},
            )
        return self


class Shift(_Model):
    """``count`` agents log in at ``start`` and stop taking chats at ``end``, taking their
    ``breaks`` in between."""

    start: Clock
    end: Clock
    count: Annotated[int, Field(ge=0)]
    breaks: list[Break] = []

    def break_starts(self, pause: Break) -> tuple[float, float]:
        """Earliest and latest start of ``pause``, in seconds after this shift starts (equal
        unless the break has a window). Clock times count forward from the shift's start, so
        a break after midnight in a night shift is on the next day."""
        if pause.after is not None:
            return pause.after, pause.after
        if pause.at is not None:
            offset = (pause.at - self.start) % 86400.0
            return offset, offset
        opens, closes = pause.window  # type: ignore[misc]  # one placement is given
        first = (opens - self.start) % 86400.0
        return first, first + (closes - opens) % 86400.0 - pause.length


class BreakRule(_Model):
    """A break of a shift template, placed by the planner: ``length`` away, starting between
    ``earliest`` and ``latest`` after the shift starts (both durations). ``paid`` breaks count
    as paid time; unpaid ones (a lunch) are not paid."""

    length: Annotated[Seconds, Field(gt=0)]
    earliest: Seconds
    latest: Seconds
    paid: bool = True

    @model_validator(mode="after")
    def _window(self) -> BreakRule:
        if self.latest < self.earliest:
            raise PydanticCustomError(
                "break_window",
                "the latest start ({latest} after the shift starts) is before the earliest "
                "({earliest})",
                {
                    "latest": format_duration(self.latest),
                    "earliest": format_duration(self.earliest),
                },
            )
        return self


class Template(_Model):
    """A kind of shift the planner may roster for a group (``chatsim staff``).

    A shift of the template lasts one of its ``lengths`` and starts at a clock time from
    ``earliest`` to ``latest`` every ``step`` (default: the scenario's interval), on every day of
    the horizon; its ``breaks`` are placed by the planner within their windows. ``min`` and
    ``max`` bound how many shifts of the template (agents) the plan has over the horizon. A
    start late in the day makes a night shift that runs past midnight (see
    :mod:`sim.templates` for how a shift past the horizon's end is counted).
    """

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    lengths: Annotated[list[Annotated[Seconds, Field(gt=0)]], Field(min_length=1)]
    earliest: Clock
    latest: Clock
    step: Annotated[Seconds, Field(gt=0)] | None = None
    breaks: list[BreakRule] = []
    min: Annotated[int, Field(ge=0)] = 0
    max: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _bounds(self) -> Template:
        if self.latest < self.earliest:
            raise PydanticCustomError(
                "template_window",
                "the latest start ({latest}) is before the earliest ({earliest}): a start "
                "window across midnight is two templates",
                {"latest": format_clock(self.latest), "earliest": format_clock(self.earliest)},
            )
        if self.max is not None and self.min > self.max:
            raise PydanticCustomError(
                "template_bounds",
                "min ({min}) is above max ({max})",
                {"min": self.min, "max": self.max},
            )
        return self


class AgentGroup(_Model):
    """Agents with the same skills, concurrency and speed."""

    group: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    skills: Annotated[list[str], Field(min_length=1)]
    max_chats: Annotated[int, Field(ge=1, le=50)] = 1
    slowdown: list[Annotated[float, Field(gt=0)]] | None = None
    reply_factor: Annotated[float, Field(gt=0)] = 1.0
    cost: Annotated[float, Field(gt=0)] = 1.0
    """What an agent-hour of this group costs, in any unit (the planner minimises the sum)."""
    shrinkage: Annotated[float, Field(ge=0, lt=1)] = 0.0
    """Share of an agent's working time (its shift less its breaks) lost to meetings, training
    and coaching: played as away spans inside each shift (:mod:`sim.roster`)."""
    absence: Annotated[float, Field(ge=0, lt=1)] = 0.0
    """Probability that an agent of a shift does not show up at all (drawn per replication)."""
    wind_down: Seconds = 300.0
    """How long before a break or a shrinkage activity the agent stops taking new chats, so
    that it can finish the ones it holds."""
    shifts: list[Shift] | None = None
    staffing: list[Annotated[int, Field(ge=0)]] | None = None
    templates: Annotated[list[Template], Field(min_length=1)] | None = None
    """The shifts the planner may roster for this group (``shifts`` or ``staffing`` stay what is
    rostered now); without templates it rosters any block of ``--shift-length``."""
    min_agents: Annotated[int, Field(ge=0)] | None = None
    """The fewest shifts (agents) the planner rosters for this group over all its templates."""
    max_agents: Annotated[int, Field(ge=0)] | None = None
    """The most shifts (agents) the planner rosters for this group over all its templates."""

    @property
    def slowdown_factors(self) -> tuple[float, ...]:
        """Reply-work multiplier at 1..max_chats active chats (all 1.0 when not given)."""
        return tuple(self.slowdown) if self.slowdown else (1.0,) * self.max_chats


_OLD_INSESSION = "in_session_mean"
"""What scenario files called ``insession_mean`` before targets were named like their KPIs."""

_OLD_AND_NEW = "old_and_new_key"
"""The error type of a key given under both its old and its new name; ``ctx["key"]`` is the old
name, so that the reported key path ends in it."""


class Targets(_Model):
    """What the operator promises; ``check`` and ``staff`` test against these.

    Each target is named like the KPI it bounds (see :mod:`sim.kpi`): ``service_level`` is a
    floor, the others are ceilings. A target left out is not checked.
    """

    service_level: Annotated[float, Field(ge=0, le=1)] | None = None
    missed_rate: Annotated[float, Field(ge=0, le=1)] | None = None
    insession_mean: Seconds | None = None
    frt_mean: Seconds | None = None

    @model_validator(mode="before")
    @classmethod
    def _old_name(cls, data: Any) -> Any:
        """Reads ``in_session_mean`` as ``insession_mean``: scenario files written before the
        rename keep working."""
        if not isinstance(data, dict) or _OLD_INSESSION not in data:
            return data
        if "insession_mean" in data:
            raise PydanticCustomError(
                _OLD_AND_NEW,
                "'{key}' is the old name of 'insession_mean': give only one of them",
                {"key": _OLD_INSESSION},
            )
        new = {_OLD_INSESSION: "insession_mean"}
        return {new.get(key, key): value for key, value in data.items()}

    def items(self) -> list[tuple[str, float]]:
        """The targets that are set, as ``(kpi, value)`` in a fixed order: service_level,
        missed_rate, frt_mean, insession_mean."""
        pairs = (
            ("service_level", self.service_level),
            ("missed_rate", self.missed_rate),
            ("frt_mean", self.frt_mean),
            ("insession_mean", self.insession_mean),
        )
        return [(kpi, value) for kpi, value in pairs if value is not None]


Channel.model_rebuild()  # its targets are defined below it


_LATER_DEFAULTS: dict[str, object] = {
    "cost": 1.0,
    "shrinkage": 0.0,
    "absence": 0.0,
    "wind_down": 300.0,
    "templates": None,
    "min_agents": None,
    "max_agents": None,
}
"""Agent-group keys added after scenarios were first hashed, at their defaults: left out of the
hash, so that a scenario which does not use them keeps the hash it always had."""


class Scenario(_Model):
    """A validated scenario. Build it with :func:`load_scenario` or :func:`parse_scenario`."""

    name: Annotated[str, Field(min_length=1)]
    start: Clock = 0.0
    duration: Annotated[Seconds, Field(gt=0)]
    interval: Annotated[Seconds, Field(gt=0)] = 900.0
    channels: Annotated[dict[str, Channel], Field(min_length=1)]
    agents: Annotated[list[AgentGroup], Field(min_length=1)]
    targets: Targets = Targets()

    @field_validator("channels")
    @classmethod
    def _channel_names(cls, channels: dict[str, Channel]) -> dict[str, Channel]:
        for name in channels:
            if not name or not all(ch.isalnum() or ch in "_-" for ch in name):
                raise ValueError(f"channel name {name!r} must be letters, digits, '_' or '-'")
        return channels

    @property
    def n_intervals(self) -> int:
        return round(self.duration / self.interval)

    @property
    def weekday(self) -> int | None:
        """The weekday of the start, 0 (Monday) to 6; ``None`` when ``start`` has no day."""
        if not isinstance(self.start, WeekTime):
            return None
        return int((self.start % WEEK) // DAY)

    def clock(self, seconds: float) -> str:
        """The clock time ``seconds`` after the start: ``"HH:MM"``, or ``"Mon 08:00"`` when the
        start has a day (the inverse of :meth:`offset`)."""
        if isinstance(self.start, WeekTime):
            return format_day_clock((self.start + seconds) % WEEK)
        return format_clock(self.start + seconds)

    def interval_label(self, index: int) -> str:
        """Clock time at which interval ``index`` starts: ``"HH:MM"``, or ``"Mon 08:00"`` when
        the start has a day."""
        return self.clock(index * self.interval)

    def weights(self, channel: str) -> list[float]:
        """The channel's arrival profile normalised to sum 1 over the intervals (by weekday:
        each day's shape normalised, times its day weight); arrivals are drawn from these."""
        profile = self.channels[channel].profile
        if isinstance(profile, dict) or self.channels[channel].day_weights is not None:
            raw = self._by_weekday(channel)
        elif isinstance(profile, list):
            raw = profile
        else:
            return [1.0 / self.n_intervals] * self.n_intervals
        total = sum(raw)
        return [w / total for w in raw] if total > 0 else [0.0] * len(raw)

    def _by_weekday(self, channel: str) -> list[float]:
        """Per-interval weights of a profile by weekday (flat when absent): each day's shape
        normalised to sum 1, times the day's weight."""
        profile = self.channels[channel].profile
        by_day = profile if isinstance(profile, dict) else {}
        days = self.channels[channel].day_weights or {}
        per_day = round(DAY / self.interval)
        shapes: dict[str, list[float]] = {}
        weights = []
        for j in range(self.n_intervals):
            at = (self.start + j * self.interval) % WEEK
            name = WEEKDAYS[int(at // DAY)]
            if name not in shapes:
                shape = by_day.get(name, by_day.get("default", [1.0] * per_day))
                total = sum(shape)
                scale = days.get(name, 1.0) / total if total > 0 else 0.0
                shapes[name] = [w * scale for w in shape]
            weights.append(shapes[name][round((at % DAY) / self.interval) % per_day])
        return weights

    def offset(self, clock: float, after: float = 0.0) -> float:
        """Seconds after the scenario start of a clock time: the first time at or after
        ``after`` (scenario seconds) that the clock shows. A clock with a day (``"Tue 07:00"``)
        comes once a week, one without (``"07:00"``) every day."""
        period = WEEK if isinstance(clock, WeekTime) and isinstance(self.start, WeekTime) else DAY
        return after + (clock - self.start - after) % period

    def shift_window(self, shift: Shift) -> tuple[float, float]:
        """``(login, end)`` of a shift in scenario seconds; an end at or before the start is the
        next time the clock shows it (without a day: on the next day)."""
        begin = self.offset(shift.start)
        end = self.offset(shift.end, after=begin)
        if end <= begin:
            end += WEEK if isinstance(shift.end, WeekTime) and self.weekday is not None else DAY
        return begin, end

    @property
    def sha256(self) -> str:
        """Hash of the validated content (formatting and comments do not change it)."""
        content = self.model_dump(mode="json")
        # Baselines, traces and results record this hash. Renaming the target changed no
        # content, so the hash keeps the old name and what was recorded before still matches.
        content["targets"][_OLD_INSESSION] = content["targets"].pop("insession_mean")
        for channel in content["channels"].values():  # and a channel without targets of its own
            if channel["day_weights"] is None:  # or day weights, which came later
                del channel["day_weights"]
            if channel["targets"] is None:
                del channel["targets"]
            else:
                channel["targets"][_OLD_INSESSION] = channel["targets"].pop("insession_mean")
        for group in content["agents"]:  # so do keys added later, at their defaults
            for key, default in _LATER_DEFAULTS.items():
                if group[key] == default:
                    del group[key]
            for shift in group["shifts"] or ():
                if not shift["breaks"]:
                    del shift["breaks"]
        canonical = json.dumps(content, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raises :class:`InputError` on any problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("file not found", file=path) from None
    except (OSError, UnicodeDecodeError) as error:
        raise InputError(f"cannot read: {error}", file=path) from None
    try:
        data = yaml.load(text, Loader=_LOADER)  # a safe loader
    except yaml.YAMLError as error:
        raise InputError(f"invalid YAML: {_yaml_problem(error)}", file=path) from None
    return parse_scenario(data, file=path)


_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""PyYAML's safe loader, on libyaml where PyYAML was built with it (a quarter of the time of
the pure-Python parser on a scenario, which every command reads first)."""


def _yaml_problem(error: yaml.YAMLError) -> str:
    """PyYAML's marks as "line L, column C", the place a construct began first."""

    def at(mark: Any) -> str:
        return f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""

    problem = getattr(error, "problem", None) or str(error)
    where = at(getattr(error, "problem_mark", None))
    context = getattr(error, "context", None)
    if context:
        return f"{context} at {at(getattr(error, 'context_mark', None))}: {problem} at {where}"
    return f"{where}: {problem}" if where else problem


def parse_scenario(data: Any, *, file: str | Path = "<scenario>") -> Scenario:
    """Validate already-parsed YAML/JSON data; CSV profiles are read relative to ``file``."""
    if not isinstance(data, dict):
        raise InputError(
            "a scenario must be a mapping of keys (name, duration, channels, …)", file=file
        )
    try:
        scenario = Scenario.model_validate(data)
    except ValidationError as error:
        reported = _reported(error.errors())
        loc = tuple(reported["loc"])
        if reported["type"] == _OLD_AND_NEW:
            loc += (reported["ctx"]["key"],)
        raise InputError(_problem(reported), file=file, key=_key_path(loc)) from None
    scenario = _resolve_profiles(scenario, Path(file))
    _check_consistency(scenario, file)
    return scenario


def _key_path(loc: Sequence[int | str]) -> str:
    parts: list[str] = []
    previous: int | str | None = None
    for part in loc:
        if isinstance(part, int):
            parts[-1:] = [f"{parts[-1]}[{part}]"] if parts else [f"[{part}]"]
        elif previous in _UNION_FIELDS and _is_union_tag(part):
            pass  # pydantic names the union member it tried ("lognormal", "list[...]")
        elif part == "[key]":
            pass  # pydantic's mark of a mapping's key that is wrong, after the key itself
        else:
            parts.append(part)
        previous = part
    return ".".join(parts) or "(top level)"


_UNION_FIELDS = {
    "patience",
    "turns",
    "think",
    "reply",
    "first_reply",
    "close_after",
    "time",
    "profile",
    "volume",
}
_TAGS = {*DURATION_DISTS, *COUNT_DISTS, "str", "constrained-float", "float", "Volume"}
_SCALAR_TAGS = {"constrained-float", "float"}


def _is_union_tag(part: str) -> bool:
    return part in _TAGS or part.startswith(("list[", "dict[", "function-"))


_DISTRIBUTION_KEYS = _UNION_FIELDS - {"profile"}


def _reported(errors: Sequence[Any]) -> Any:
    """The one error to show: pydantic's first, except for a misspelt key.

    A misspelt required key is two errors of one mapping, the key missing and an unknown key,
    and pydantic lists the missing one first; the unknown key, with its suggestion, is the one
    that tells what to fix.
    """
    first = errors[0]
    if first["loc"] and first["loc"][-1] in _SCALAR_TAGS and isinstance(first["input"], dict):
        # A mapping given where a number or a mapping may stand (``volume: {mean, cv}``): the
        # mapping's own error tells what to fix, not that it is not a number.
        prefix = tuple(first["loc"][:-1])
        for error in errors[1:]:
            if tuple(error["loc"][: len(prefix)]) == prefix:
                return error
    if first["type"] == "missing":
        for error in errors:
            if (
                error["type"] == "extra_forbidden"
                and tuple(error["loc"][:-1]) == tuple(first["loc"][:-1])
                and _suggestion(error["loc"]) == first["loc"][-1]
            ):
                return error
    return first


def _suggestion(loc: Sequence[int | str]) -> str | None:
    """The known key closest to the unknown key ``loc[-1]`` of its mapping, if one is close."""
    unknown = loc[-1]
    if not isinstance(unknown, str):
        return None
    close = difflib.get_close_matches(unknown, _known_keys(loc[:-1]), n=1)
    return close[0] if close else None


def _known_keys(loc: Sequence[int | str]) -> list[str]:
    """The keys a scenario may have in the mapping at ``loc`` (an error location of pydantic,
    union members named by their ``dist``); none when ``loc`` is not a model's mapping."""
    node: Any = Scenario
    for part in loc:
        node = _child(node, part)
        if node is None:
            return []
    models = [option for option in _options(node) if _is_model(option)]
    return list(models[0].model_fields) if len(models) == 1 else []


def _child(node: Any, part: int | str) -> Any:
    """The type at ``part`` inside a value of type ``node``, or ``None``."""
    for option in _options(node):
        origin = get_origin(option)
        if isinstance(part, int):
            if origin is list:
                return get_args(option)[0]
        elif origin is dict:
            return get_args(option)[1]
        elif _is_model(option):
            if part in option.model_fields:
                return option.model_fields[part].annotation
            dist = option.model_fields.get("dist")
            if dist is not None and part in get_args(dist.annotation):
                return option  # the member of a distribution union that pydantic tried
    return None


def _options(node: Any) -> list[Any]:
    """The alternatives of a type: the members of a union (not ``None``), each without its
    ``Annotated`` constraints."""
    while get_origin(node) is Annotated:
        node = get_args(node)[0]
    if get_origin(node) in (Union, types.UnionType):
        return [option for member in get_args(node) for option in _options(member)]
    return [] if node is type(None) else [node]


def _is_model(node: Any) -> bool:
    return isinstance(node, type) and issubclass(node, BaseModel)


def _one_of(names: Sequence[str]) -> str:
    return f"{', '.join(names[:-1])} or {names[-1]}"


def _misplaced_distribution(tag: Any) -> str | None:
    """Why a known distribution does not fit: counts and durations take different ones."""
    if tag in DURATION_DISTS and tag not in COUNT_DISTS:
        return f"{tag} is a distribution of durations; counts take {_one_of(COUNT_DISTS)}"
    if tag in COUNT_DISTS and tag not in DURATION_DISTS:
        return f"{tag} is a distribution of counts; durations take {_one_of(DURATION_DISTS)}"
    return None


def _problem(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        close = _suggestion(error["loc"])
        return f"unknown key (did you mean {close!r}?)" if close else "unknown key"
    if kind == "missing":
        return "missing required key"
    if kind in ("model_attributes_type", "dict_type", "model_type"):
        loc = error["loc"]
        if loc and loc[-1] in _DISTRIBUTION_KEYS:
            return (
                "expected a distribution such as {dist: exponential, mean: 3m}, "
                f"got {error['input']!r}"
            )
        return f"expected a mapping of keys, got {error['input']!r}"
    message = str(error["msg"])
    for prefix in ("Value error, ", "Assertion failed, "):
        message = message.removeprefix(prefix)
    if kind == "union_tag_invalid":
        misplaced = _misplaced_distribution(error["ctx"]["tag"])
        if misplaced:
            return misplaced
        return message.replace("Input tag", "unknown distribution").replace(
            " found using 'dist'", ""
        )
    if kind == "union_tag_not_found":
        return (
            f"missing 'dist' (one of {', '.join(DURATION_DISTS)}; counts: {', '.join(COUNT_DISTS)})"
        )
    given = error.get("input")
    if given is None or isinstance(given, dict | list) or repr(given) in message:
        return message
    return f"{message} (got {given!r})"


def _resolve_profiles(scenario: Scenario, file: Path) -> Scenario:
    channels = dict(scenario.channels)
    changed = False
    for name, channel in channels.items():
        if isinstance(channel.profile, str):
            weights = _read_profile_csv(
                file.parent / channel.profile, f"channels.{name}.profile", file
            )
            channels[name] = channel.model_copy(update={"profile": weights})
            changed = True
    return scenario.model_copy(update={"channels": channels}) if changed else scenario


def _read_profile_csv(path: Path, key: str, scenario_file: Path) -> list[float]:
    """Weights from the last column of a CSV file; a header row is allowed."""
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = [row for row in csv.reader(handle) if row and any(cell.strip() for cell in row)]
    except OSError as error:
        raise InputError(
            f"cannot read profile CSV {path}: {error.strerror}", file=scenario_file, key=key
        ) from None
    weights: list[float] = []
    for number, row in enumerate(rows, start=1):
        try:
            weight = float(row[-1])
        except ValueError:
            if number == 1:
                continue  # header
            raise InputError(
                f"{path}, row {number}: {row[-1]!r} is not a number", file=scenario_file, key=key
            ) from None
        if weight < 0 or weight != weight:
            raise InputError(
                f"{path}, row {number}: weight must be >= 0, got {weight}",
                file=scenario_file,
                key=key,
            )
        weights.append(weight)
    return weights


def _clock_text(seconds: float) -> str:
    if isinstance(seconds, WeekTime):
        return format_day_clock(seconds)
    return "24:00" if seconds == 86400.0 else format_clock(seconds)


def _day_clocks(node: Any, loc: tuple[int | str, ...] = ()) -> Iterator[tuple[str, WeekTime]]:
    """Every clock with a day in a scenario (shifts, and whatever else takes a clock), with
    its key path."""
    if isinstance(node, WeekTime):
        yield _key_path(loc), node
    elif isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _day_clocks(getattr(node, name), (*loc, name))
    elif isinstance(node, list | tuple):
        for i, item in enumerate(node):
            yield from _day_clocks(item, (*loc, i))
    elif isinstance(node, dict):
        for key, item in node.items():
            yield from _day_clocks(item, (*loc, str(key)))


def _check_days(scenario: Scenario, fail: Callable[[str, str], None]) -> None:
    """The horizon (at most a week) and the days of its clocks: a horizon longer than a day
    needs a weekday on its start and on every shift's clocks; a scenario whose start has no
    day takes no clock with a day."""
    if scenario.duration > WEEK + 1e-9:
        fail(
            "duration",
            f"a horizon is at most 7 days (168h), got {format_duration(scenario.duration)} "
            f"({scenario.duration / DAY:g} days)",
        )
    multi_day = scenario.duration > DAY + 1e-9
    if scenario.weekday is None:
        if multi_day:
            fail(
                "start",
                "a horizon longer than 24 hours needs a weekday on its start: write start as "
                f'"Mon {format_clock(scenario.start)}" (the day the horizon begins)',
            )
        for key, clock in _day_clocks(scenario):
            fail(
                key,
                f'"{_clock_text(clock)}" has a day but the scenario\'s start has none: give '
                f'start a day too ("Mon {format_clock(scenario.start)}") or drop it here',
            )
    if not multi_day or scenario.weekday is None:
        return  # "HH:MM" is unambiguous within 24 hours
    example = WEEKDAYS[scenario.weekday]
    for i, group in enumerate(scenario.agents):
        for k, shift in enumerate(group.shifts or []):
            for end in ("start", "end"):
                clock = getattr(shift, end)
                if not isinstance(clock, WeekTime):
                    fail(
                        f"agents[{i}].shifts[{k}].{end}",
                        f"in a horizon longer than 24 hours a shift's {end} needs its day: add "
                        f'it, as in "{example} {format_clock(clock)}" (got "{_clock_text(clock)}")',
                    )


def _check_profile(scenario: Scenario, name: str, fail: Callable[[str, str], None]) -> None:
    """A profile by weekday (or day weights) against the scenario's start and interval."""
    channel = scenario.channels[name]
    key = f"channels.{name}.profile"
    if isinstance(channel.profile, list) and channel.day_weights is not None:
        fail(
            f"channels.{name}.day_weights",
            "a profile over the whole horizon already weighs its days: give the profile by "
            "weekday ({Mon: [...], default: [...]}) or drop day_weights",
        )
    if not isinstance(channel.profile, dict) and channel.day_weights is None:
        return
    if not isinstance(channel.profile, dict):
        key = f"channels.{name}.day_weights"
    if scenario.weekday is None:
        fail(key, 'weights by weekday need a weekday on the start (start: "Mon 00:00")')
    per_day = DAY / scenario.interval
    if abs(per_day - round(per_day)) > 1e-9 or (scenario.start % DAY) % scenario.interval:
        fail(
            key,
            f"weights by weekday need intervals ({scenario.interval:g}s) that divide a day and "
            f"a start on one of their boundaries (start: {scenario.clock(0)})",
        )
    if not isinstance(channel.profile, dict):
        return
    for day, weights in channel.profile.items():
        if len(weights) != round(per_day):
            fail(
                f"{key}.{day}",
                f"expected {round(per_day)} weights (one per interval of {scenario.interval:g}s "
                f"of a day, from 00:00), got {len(weights)}",
            )
    if "default" not in channel.profile:
        for j in range(scenario.n_intervals):
            day = WEEKDAYS[int(((scenario.start + j * scenario.interval) % WEEK) // DAY)]
            if day not in channel.profile:
                fail(key, f"no weights for {day}, which the horizon covers: add {day} or default")


def _check_consistency(scenario: Scenario, file: str | Path) -> None:
    """Checks that span several keys; pydantic has validated each key alone."""

    def fail(key: str, problem: str) -> None:
        raise InputError(problem, file=file, key=key)

    _check_days(scenario, fail)
    ratio = scenario.duration / scenario.interval
    if abs(ratio - round(ratio)) > 1e-9:
        fail(
            "interval",
            f"duration ({scenario.duration:g}s) must be a whole number of intervals "
            f"({scenario.interval:g}s)",
        )
    n = scenario.n_intervals
    skills = {skill for group in scenario.agents for skill in group.skills}
    for name, channel in scenario.channels.items():
        if isinstance(channel.profile, list) and len(channel.profile) != n:
            by_day = ", or weights by weekday" if scenario.duration > DAY + 1e-9 else ""
            fail(
                f"channels.{name}.profile",
                f"expected {n} weights (one per interval of {scenario.interval:g}s{by_day}), "
                f"got {len(channel.profile)}",
            )
        _check_profile(scenario, name, fail)
        if channel.mean_volume > 0 and not any(scenario.weights(name)):
            where = "profile" if channel.profile is not None else "day_weights"
            fail(f"channels.{name}.{where}", "all weights are zero but volume is positive")
        if name not in skills:
            fail(
                f"channels.{name}",
                f"no agent group has the skill {name!r}: nobody could serve this channel",
            )
        if channel.silent_abandon is False and channel.protocol != "webchat":
            fail(
                f"channels.{name}.silent_abandon",
                f"a {channel.protocol} customer cannot tell the gateway that they left "
                "(only webchat has a close event): remove the key or set it to true",
            )
    seen: set[str] = set()
    for i, group in enumerate(scenario.agents):
        where = f"agents[{i}]"
        if group.group in seen:
            fail(f"{where}.group", f"duplicate group name {group.group!r}")
        seen.add(group.group)
        for j, skill in enumerate(group.skills):
            if skill not in scenario.channels:
                fail(
                    f"{where}.skills[{j}]",
                    f"unknown channel {skill!r} (channels: {', '.join(scenario.channels)})",
                )
        if group.slowdown is not None and len(group.slowdown) != group.max_chats:
            fail(
                f"{where}.slowdown",
                f"expected {group.max_chats} factors (one per active chat up to max_chats), "
                f"got {len(group.slowdown)}",
            )
        if (group.shifts is None) == (group.staffing is None):
            fail(where, "give exactly one of 'shifts' or 'staffing'")
        if group.staffing is not None and len(group.staffing) != n:
            fail(
                f"{where}.staffing",
                f"expected {n} agent counts (one per interval), got {len(group.staffing)}",
            )
        for k, shift in enumerate(group.shifts or []):
            begin, end = scenario.shift_window(shift)
            if begin >= scenario.duration:
                fail(
                    f"{where}.shifts[{k}].start",
                    f"shift starts at {_clock_text(shift.start)}, outside the horizon "
                    f"({scenario.interval_label(0)} + {scenario.duration / 3600:g}h)",
                )
            if end > scenario.duration + 1e-9:
                fail(
                    f"{where}.shifts[{k}].end",
                    f"shift ends at {_clock_text(shift.end)}, after the horizon ends "
                    f"({scenario.clock(scenario.duration)}); split it",
                )
            _check_breaks(shift, end - begin, f"{where}.shifts[{k}]", fail)
        _check_templates(scenario, group, where, fail)
        if group.staffing is not None and (group.shrinkage or group.absence):
            fail(
                f"{where}.{'shrinkage' if group.shrinkage else 'absence'}",
                "shrinkage and absence apply to shifts; per-interval staffing counts the agents "
                "at work already (plan with shifts, or net them out of the counts)",
            )
    staffed = {
        skill
        for group in scenario.agents
        if sum(s.count for s in group.shifts or ()) + sum(group.staffing or ()) > 0
        for skill in group.skills
    }
    for name, channel in scenario.channels.items():
        if name not in staffed and channel.mean_volume > 0:
            fail(
                f"channels.{name}",
                f"every group with the skill {name!r} has 0 agents in all its shifts or staffing: "
                "nobody would ever serve this channel",
            )


def _check_breaks(shift: Shift, length: float, where: str, fail: Any) -> None:
    """Every break fits inside its shift, and a window is long enough for the break."""
    for b, pause in enumerate(shift.breaks):
        key = f"{where}.breaks[{b}]"
        first, last = shift.break_starts(pause)
        if pause.window is not None and last < first:
            fail(
                f"{key}.window",
                f"the window is shorter than the break ({pause.length / 60:g} min)",
            )
        if last + pause.length > length + 1e-9 or first <= 0:
            placement = "after" if pause.after is not None else "at" if pause.at else "window"
            fail(
                f"{key}.{placement}",
                f"the break must start after the shift starts and end before it ends "
                f"({_clock_text(shift.start)}–{_clock_text(shift.end)})",
            )


def _whole(seconds: float, interval: float) -> bool:
    """Whether ``seconds`` is a whole number of intervals."""
    ratio = seconds / interval
    return abs(ratio - round(ratio)) <= 1e-9


def _check_templates(scenario: Scenario, group: AgentGroup, where: str, fail: Any) -> None:
    """A group's shift templates fit the scenario's intervals: lengths, starts, steps and break
    windows are whole intervals, every break fits inside the shortest shift after the breaks
    before it, and the head-count bounds can all hold together."""
    interval = scenario.interval
    every = f"a whole number of intervals ({format_duration(interval)})"
    templates = group.templates or []
    if not templates:
        for key in ("min_agents", "max_agents"):
            if getattr(group, key) is not None:
                fail(f"{where}.{key}", "bounds the shifts of the group's templates: give templates")
        return
    if (
        group.min_agents is not None
        and group.max_agents is not None
        and group.min_agents > group.max_agents
    ):
        fail(f"{where}.max_agents", f"below min_agents ({group.min_agents})")
    names: set[str] = set()
    for k, template in enumerate(templates):
        key = f"{where}.templates[{k}]"
        if template.name in names:
            fail(f"{key}.name", f"duplicate template name {template.name!r}")
        names.add(template.name)
        for end in ("earliest", "latest"):
            if isinstance(getattr(template, end), WeekTime):
                fail(
                    f"{key}.{end}",
                    "a template's starts are times of day, repeated on every day of the horizon: "
                    f'drop the day ("{format_clock(getattr(template, end))}")',
                )
        for i, length in enumerate(template.lengths):
            if not _whole(length, interval):
                fail(f"{key}.lengths[{i}]", f"{format_duration(length)} is not {every}")
            if length > 86400.0 + 1e-9:
                fail(
                    f"{key}.lengths[{i}]",
                    f"a shift lasts at most 24h, got {format_duration(length)}",
                )
        step = template.step if template.step is not None else interval
        if not _whole(step, interval):
            fail(f"{key}.step", f"{format_duration(step)} is not {every}")
        if not _whole(scenario.offset(template.earliest), interval):
            fail(
                f"{key}.earliest",
                f"{format_clock(template.earliest)} is not on an interval boundary (intervals of "
                f"{format_duration(interval)} from {format_clock(scenario.start)})",
            )
        if not _whole(template.latest - template.earliest, step):
            fail(
                f"{key}.latest",
                f"{_clock_text(template.latest)} is not the earliest start "
                f"({format_clock(template.earliest)}) plus a whole number of steps "
                f"({format_duration(step)})",
            )
        shortest = min(template.lengths)
        ends = 0.0  # the earliest the breaks before this one can have ended
        for b, pause in enumerate(template.breaks):
            at = f"{key}.breaks[{b}]"
            for name in ("length", "earliest", "latest"):
                value = getattr(pause, name)
                if not _whole(value, interval):
                    fail(f"{at}.{name}", f"{format_duration(value)} is not {every}")
            if pause.earliest <= 0:
                fail(f"{at}.earliest", "a break starts after the shift starts")
            if pause.latest + pause.length >= shortest - 1e-9:
                fail(
                    f"{at}.latest",
                    f"a break starting {format_duration(pause.latest)} after the shift starts "
                    f"ends at {format_duration(pause.latest + pause.length)}, not before the "
                    f"shortest shift ({format_duration(shortest)}) ends",
                )
            if pause.latest < ends - 1e-9:
                fail(
                    f"{at}.latest",
                    f"starts at the latest {format_duration(pause.latest)} after the shift starts, "
                    f"before the breaks listed before it can have ended ({format_duration(ends)}): "
                    "breaks are taken in the order listed, one after another",
                )
            ends = max(ends, pause.earliest) + pause.length
    least = sum(t.min for t in templates)
    if group.max_agents is not None and least > group.max_agents:
        fail(
            f"{where}.max_agents",
            f"below the templates' minimum head counts together ({least})",
        )
    most = [t.max for t in templates]
    if group.min_agents is not None and None not in most:
        total = sum(m for m in most if m is not None)
        if group.min_agents > total:
            fail(
                f"{where}.min_agents",
                f"above the templates' maximum head counts together ({total})",
            )
