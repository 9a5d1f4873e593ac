"""Scenario files (sim.scenario): the bundled ones load, and every invalid input ends in an
InputError that names the file, the key path and the problem."""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from sim.distributions import Exponential, Geometric
from sim.errors import InputError
from sim.scenario import (
    AgentGroup,
    Bot,
    Channel,
    Scenario,
    Shift,
    Targets,
    load_scenario,
    parse_scenario,
)

ROOT = Path(__file__).resolve().parents[1]
SCENARIOS = ROOT / "scenarios"


def small_data() -> dict[str, Any]:
    """A compact valid scenario: two channels over one hour in four 15-minute intervals."""
    return {
        "name": "tiny",
        "start": "09:00",
        "duration": "1h",
        "interval": "15m",
        "channels": {
            "whatsapp": {
                "protocol": "whatsapp",
                "volume": 100,
                "profile": [1, 2, 3, 4],
                "patience": {"dist": "exponential", "mean": "3m"},
                "turns": {"dist": "geometric", "mean": 2},
                "think": {"dist": "lognormal", "mean": "30s", "cv": 1.0},
                "reply": {"dist": "lognormal", "mean": "20s", "cv": 0.6},
                "close_after": {"dist": "constant", "value": "1m"},
            },
            "webchat": {
                "protocol": "webchat",
                "volume": 50,
                "patience": {"dist": "exponential", "mean": "2m"},
                "reply": {"dist": "gamma", "mean": "20s", "cv": 0.5},
                "bot": {"containment": 0.3, "time": {"dist": "constant", "value": "30s"}},
            },
        },
        "agents": [
            {
                "group": "experts",
                "skills": ["whatsapp", "webchat"],
                "max_chats": 3,
                "slowdown": [1.0, 1.1, 1.2],
                "shifts": [
                    {"start": "09:00", "end": "10:00", "count": 2},
                    {"start": "09:30", "end": "10:00", "count": 1},
                ],
            }
        ],
    }


def write_yaml(path: Path, data: Any) -> Path:
    path.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def error_of(tmp_path: Path, mutate: Callable[[dict[str, Any]], Any]) -> InputError:
    data = copy.deepcopy(small_data())
    mutate(data)
    path = write_yaml(tmp_path / "scenario.yaml", data)
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    return caught.value


# --- the bundled scenarios ----------------------------------------------------------------


def test_small_loads() -> None:
    scenario = load_scenario(SCENARIOS / "small.yaml")
    assert isinstance(scenario, Scenario)
    assert scenario.name == "small"
    assert scenario.duration == 3 * 3600
    assert scenario.interval == 900
    assert scenario.n_intervals == 12
    assert scenario.start == 9 * 3600
    assert set(scenario.channels) == {"whatsapp", "telegram", "webchat"}
    assert scenario.channels["webchat"].bot is not None
    assert scenario.channels["whatsapp"].patience.mean_value == 240
    assert sum(scenario.weights("whatsapp")) == pytest.approx(1.0)
    assert scenario.weights("telegram") == [pytest.approx(1 / 12)] * 12


def test_tele2_weekday_loads() -> None:
    scenario = load_scenario(SCENARIOS / "tele2-weekday.yaml")
    assert scenario.duration == 86_400
    assert scenario.n_intervals == 96
    assert len(scenario.channels) >= 5
    assert any(channel.bot is not None for channel in scenario.channels.values())
    assert any(group.shifts for group in scenario.agents)
    for name in scenario.channels:
        assert sum(scenario.weights(name)) == pytest.approx(1.0)


def test_valid_small_data_parses() -> None:
    scenario = parse_scenario(small_data(), file="x.yaml")
    assert scenario.channels["whatsapp"].reply.mean_value == 20
    assert scenario.weights("whatsapp") == pytest.approx([0.1, 0.2, 0.3, 0.4])
    assert scenario.channels["webchat"].silent is False
    assert scenario.channels["whatsapp"].silent is True
    assert scenario.agents[0].slowdown_factors == (1.0, 1.1, 1.2)


# --- invalid inputs: file, key path and problem ------------------------------------------------


def _unknown_skill(data: dict[str, Any]) -> None:
    data["agents"][0]["skills"] = ["whatsapp", "viber", "webchat"]


def _staffing_wrong_length(data: dict[str, Any]) -> None:
    del data["agents"][0]["shifts"]
    data["agents"][0]["staffing"] = [1, 2, 3]


def _both(data: dict[str, Any]) -> None:
    data["agents"][0]["staffing"] = [1, 1, 1, 1]


def _neither(data: dict[str, Any]) -> None:
    del data["agents"][0]["shifts"]


def _unserved(data: dict[str, Any]) -> None:
    data["agents"][0]["skills"] = ["whatsapp"]


def _never_staffed(data: dict[str, Any]) -> None:
    for shift in data["agents"][0]["shifts"]:
        shift["count"] = 0


INVALID: list[tuple[str, Callable[[dict[str, Any]], Any], str, str]] = [
    # (label, mutation, expected key path, a word of the problem)
    ("unknown top-level key", lambda d: d.update(foo=1), "foo", "unknown key"),
    (
        "unknown nested key",
        lambda d: d["channels"]["whatsapp"].update(foo=1),
        "channels.whatsapp.foo",
        "unknown key",
    ),
    (
        "unknown key inside a distribution",
        lambda d: d["channels"]["whatsapp"]["patience"].update(sigma=1),
        "channels.whatsapp.patience.sigma",
        "unknown key",
    ),
    (
        "negative mean",
        lambda d: d["channels"]["whatsapp"]["patience"].update(mean=-3),
        "channels.whatsapp.patience.mean",
        "negative",
    ),
    (
        "negative mean with a unit",
        lambda d: d["channels"]["whatsapp"]["patience"].update(mean="-3m"),
        "channels.whatsapp.patience.mean",
        "negative",
    ),
    (
        "cv zero",
        lambda d: d["channels"]["whatsapp"]["think"].update(cv=0),
        "channels.whatsapp.think.cv",
        "greater than 0",
    ),
    (
        "cv above 10",
        lambda d: d["channels"]["whatsapp"]["think"].update(cv=11),
        "channels.whatsapp.think.cv",
        "10",
    ),
    (
        "unknown distribution",
        lambda d: d["channels"]["whatsapp"]["think"].update(dist="weibull"),
        "channels.whatsapp.think",
        "weibull",
    ),
    (
        "unknown count distribution",
        lambda d: d["channels"]["whatsapp"]["turns"].update(dist="lognormal"),
        "channels.whatsapp.turns",
        "lognormal",
    ),
    (
        "bad duration string",
        lambda d: d["channels"]["whatsapp"]["reply"].update(mean="20 parsecs"),
        "channels.whatsapp.reply.mean",
        "20 parsecs",
    ),
    (
        "bot time negative",
        lambda d: d["channels"]["webchat"]["bot"]["time"].update(value=-1),
        "channels.webchat.bot.time.value",
        "negative",
    ),
    (
        "containment above 1",
        lambda d: d["channels"]["webchat"]["bot"].update(containment=1.5),
        "channels.webchat.bot.containment",
        "1",
    ),
    (
        "negative volume",
        lambda d: d["channels"]["webchat"].update(volume=-5),
        "channels.webchat.volume",
        "0",
    ),
    (
        "unknown protocol",
        lambda d: d["channels"]["webchat"].update(protocol="icq"),
        "channels.webchat.protocol",
        "icq",
    ),
    ("channel no agent can serve", _unserved, "channels.webchat", "webchat"),
    ("channel whose agents are never on duty", _never_staffed, "channels.whatsapp", "0 agents"),
    ("agent skill naming an unknown channel", _unknown_skill, "agents[0].skills[1]", "viber"),
    (
        "shift ending after the horizon",
        lambda d: d["agents"][0]["shifts"][1].update(end="10:30"),
        "agents[0].shifts[1].end",
        "10:30",
    ),
    (
        "shift starting before the horizon",
        lambda d: d["agents"][0]["shifts"][1].update(start="08:00"),
        "agents[0].shifts[1].start",
        "08:00",
    ),
    (
        "shift starting at the end of the horizon",
        lambda d: d["agents"][0]["shifts"][0].update(start="10:00", end="10:00"),
        "agents[0].shifts[0].start",
        "10:00",
    ),
    (
        "bad shift clock",
        lambda d: d["agents"][0]["shifts"][0].update(start="9h"),
        "agents[0].shifts[0].start",
        "HH:MM",
    ),
    (
        "profile of the wrong length",
        lambda d: d["channels"]["whatsapp"].update(profile=[1, 2, 3]),
        "channels.whatsapp.profile",
        "4",
    ),
    (
        "negative profile weight",
        lambda d: d["channels"]["whatsapp"].update(profile=[1, -2, 3, 4]),
        "channels.whatsapp.profile[1]",
        "0",
    ),
    (
        "all-zero profile with a volume",
        lambda d: d["channels"]["whatsapp"].update(profile=[0, 0, 0, 0]),
        "channels.whatsapp.profile",
        "zero",
    ),
    ("staffing of the wrong length", _staffing_wrong_length, "agents[0].staffing", "4"),
    ("both shifts and staffing", _both, "agents[0]", "exactly one"),
    ("neither shifts nor staffing", _neither, "agents[0]", "exactly one"),
    (
        "slowdown length != max_chats",
        lambda d: d["agents"][0].update(slowdown=[1.0, 1.1]),
        "agents[0].slowdown",
        "3",
    ),
    (
        "duration not a multiple of interval",
        lambda d: d.update(interval="7m"),
        "interval",
        "whole number",
    ),
    ("missing required key (top)", lambda d: d.pop("name"), "name", "missing"),
    (
        "missing required key (nested)",
        lambda d: d["channels"]["webchat"].pop("reply"),
        "channels.webchat.reply",
        "missing",
    ),
    ("bad start clock", lambda d: d.update(start="25:00"), "start", "25:00"),
    (
        "distribution not a mapping",
        lambda d: d["channels"]["whatsapp"].update(patience=5),
        "channels.whatsapp.patience",
        "distribution",
    ),
    ("max_chats zero", lambda d: d["agents"][0].update(max_chats=0), "agents[0].max_chats", "1"),
    (
        "volume cv too large",
        lambda d: d["channels"]["whatsapp"].update(volume={"mean": 100, "cv": 5}),
        "channels.whatsapp.volume.cv",
        "less than or equal to 2",
    ),
    (
        "negative volume",
        lambda d: d["channels"]["whatsapp"].update(volume=-3),
        "channels.whatsapp.volume",
        "greater than or equal to 0",
    ),
]


@pytest.mark.parametrize(
    ("label", "mutate", "key", "word"), INVALID, ids=[case[0] for case in INVALID]
)
def test_invalid_scenario_names_file_key_and_problem(
    tmp_path: Path, label: str, mutate: Callable[[dict[str, Any]], Any], key: str, word: str
) -> None:
    error = error_of(tmp_path, mutate)
    assert error.file == str(tmp_path / "scenario.yaml")
    assert error.key == key, (label, error.key, error.problem)
    assert word in error.problem, (label, error.problem)
    text = str(error)
    assert str(tmp_path / "scenario.yaml") in text
    assert key in text
    assert error.exit_code == 2


def test_bad_yaml_syntax_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nduration: 1h\n  interval: 15m\nchannels: {}\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.file == str(path)
    assert "YAML" in caught.value.problem
    assert "line 3" in caught.value.problem


def test_top_level_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.file == str(path)
    assert "mapping" in caught.value.problem


def test_empty_file_is_not_a_mapping(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.file == str(path)


def test_file_not_found(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.file == str(path)
    assert "not found" in caught.value.problem


@pytest.mark.parametrize(
    ("field", "value", "key"),
    [
        ("volume", float("inf"), "channels.whatsapp.volume"),
        ("profile", [float("inf"), 1, 1, 1], "channels.whatsapp.profile[0]"),
    ],
)
def test_infinite_volume_or_weight_is_rejected(
    tmp_path: Path, field: str, value: Any, key: str
) -> None:
    error = error_of(tmp_path, lambda d: d["channels"]["whatsapp"].update({field: value}))
    assert error.key is not None
    assert error.key.startswith(key.split("[")[0])


def test_key_path_keeps_a_channel_named_like_a_distribution(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["channels"]["gamma"] = d["channels"].pop("webchat")
        d["agents"][0]["skills"] = ["whatsapp", "gamma"]
        d["channels"]["gamma"]["patience"]["mean"] = -1

    assert error_of(tmp_path, mutate).key == "channels.gamma.patience.mean"


# --- "did you mean" for unknown keys ---------------------------------------------------------


def _put(data: dict[str, Any], where: tuple[str | int, ...], key: str, value: Any) -> None:
    mapping: Any = data
    for part in where:
        mapping = mapping[part]
    mapping[key] = value


TYPOS: list[tuple[tuple[str | int, ...], str, str, str]] = [
    # (where the mapping is, the misspelt key, the key meant, the key path reported)
    ((), "chanels", "channels", "chanels"),
    (("channels", "whatsapp"), "volumne", "volume", "channels.whatsapp.volumne"),
    (("channels", "whatsapp", "patience"), "maen", "mean", "channels.whatsapp.patience.maen"),
    (("channels", "whatsapp", "think"), "cvv", "cv", "channels.whatsapp.think.cvv"),
    (("agents", 0), "max_chat", "max_chats", "agents[0].max_chat"),
    (("agents", 0, "shifts", 1), "cuont", "count", "agents[0].shifts[1].cuont"),
    (("targets",), "servce_level", "service_level", "targets.servce_level"),
    (
        ("channels", "webchat", "bot"),
        "containmnet",
        "containment",
        "channels.webchat.bot.containmnet",
    ),
    (("channels", "webchat", "bot", "time"), "valeu", "value", "channels.webchat.bot.time.valeu"),
]


@pytest.mark.parametrize(("where", "typo", "meant", "key"), TYPOS, ids=[t[1] for t in TYPOS])
def test_unknown_key_suggests_the_close_known_key(
    tmp_path: Path, where: tuple[str | int, ...], typo: str, meant: str, key: str
) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["targets"] = {"service_level": 0.8}
        _put(d, where, typo, 1)

    error = error_of(tmp_path, mutate)
    assert error.key == key
    assert error.problem == f"unknown key (did you mean {meant!r}?)"
    assert error.exit_code == 2


@pytest.mark.parametrize(
    ("where", "meant", "typo"),
    [
        (("channels", "whatsapp"), "patience", "patiance"),
        ((), "name", "nmae"),
        (("channels", "whatsapp", "patience"), "mean", "maen"),
    ],
)
def test_misspelt_required_key_is_reported_as_the_unknown_key(
    tmp_path: Path, where: tuple[str, ...], meant: str, typo: str
) -> None:
    """Misspelling a required key makes it missing too; the unknown key is what to fix."""

    def mutate(d: dict[str, Any]) -> None:
        mapping: Any = d
        for part in where:
            mapping = mapping[part]
        mapping[typo] = mapping.pop(meant)  # replaced, as a misspelling does

    error = error_of(tmp_path, mutate)
    key = ".".join((*where, typo))
    assert error.key == key
    assert f"{key}: unknown key (did you mean {meant!r}?)" in str(error)


def test_missing_key_is_still_reported_beside_an_unrelated_unknown_key(tmp_path: Path) -> None:
    def mutate(d: dict[str, Any]) -> None:
        d["channels"]["webchat"]["answer"] = d["channels"]["webchat"].pop("reply")

    error = error_of(tmp_path, mutate)
    assert (error.key, error.problem) == ("channels.webchat.reply", "missing required key")


def test_unknown_key_without_a_close_known_key_has_no_suggestion(tmp_path: Path) -> None:
    error = error_of(tmp_path, lambda d: d["channels"]["whatsapp"].update(zzz=1))
    assert (error.key, error.problem) == ("channels.whatsapp.zzz", "unknown key")


# Mappings of small_data() (with targets added) and the model that says which keys they take.
MAPPINGS: list[tuple[tuple[str | int, ...], type[BaseModel]]] = [
    ((), Scenario),
    (("channels", "whatsapp"), Channel),
    (("channels", "whatsapp", "patience"), Exponential),
    (("channels", "whatsapp", "turns"), Geometric),
    (("agents", 0), AgentGroup),
    (("agents", 0, "shifts", 1), Shift),
    (("targets",), Targets),
    (("channels", "webchat", "bot"), Bot),
]
LETTERS = "abcdefghijklmnopqrstuvwxyz_"


@st.composite
def one_edit(draw: st.DrawFn, key: str) -> str:
    """``key`` with one letter inserted, deleted or replaced."""
    at = draw(st.integers(0, len(key) - 1))
    letter = draw(st.sampled_from(LETTERS))
    edit = draw(st.sampled_from(["insert", "delete", "replace"]))
    if edit == "insert":
        return key[:at] + letter + key[at:]
    if edit == "delete":
        return key[:at] + key[at + 1 :]
    return key[:at] + letter + key[at + 1 :]


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_an_unknown_key_one_edit_from_a_known_key_gets_a_known_key_suggested(
    data: st.DataObject,
) -> None:
    where, model = data.draw(st.sampled_from(MAPPINGS))
    known = list(model.model_fields)
    # difflib's cutoff (0.6) is out of reach of one replaced letter in a key of two letters
    key = data.draw(st.sampled_from([k for k in known if len(k) >= 3]))
    typo = data.draw(one_edit(key))
    assume(typo not in known and typo != "in_session_mean")
    scenario = small_data()
    scenario["targets"] = {}
    _put(scenario, where, typo, 1)
    with pytest.raises(InputError) as caught:
        parse_scenario(scenario, file="s.yaml")
    assert caught.value.key is not None and caught.value.key.endswith(f".{typo}" if where else typo)
    suggested = caught.value.problem.removeprefix("unknown key (did you mean '").removesuffix("'?)")
    assert suggested in known, caught.value.problem


# --- distributions of the wrong family ----------------------------------------------------

DURATIONS_TAKE = "durations take constant, exponential, uniform, lognormal, gamma or empirical"
COUNTS_TAKE = "counts take constant, geometric, poisson or empirical"


@pytest.mark.parametrize(
    ("field", "spec", "problem"),
    [
        (
            "turns",
            {"dist": "lognormal", "mean": 3},
            f"lognormal is a distribution of durations; {COUNTS_TAKE}",
        ),
        (
            "turns",
            {"dist": "exponential", "mean": 3},
            f"exponential is a distribution of durations; {COUNTS_TAKE}",
        ),
        (
            "turns",
            {"dist": "uniform", "low": 1, "high": 3},
            f"uniform is a distribution of durations; {COUNTS_TAKE}",
        ),
        (
            "turns",
            {"dist": "gamma", "mean": 3, "cv": 1},
            f"gamma is a distribution of durations; {COUNTS_TAKE}",
        ),
        (
            "think",
            {"dist": "geometric", "mean": 3},
            f"geometric is a distribution of counts; {DURATIONS_TAKE}",
        ),
        (
            "patience",
            {"dist": "poisson", "mean": 3},
            f"poisson is a distribution of counts; {DURATIONS_TAKE}",
        ),
    ],
)
def test_a_distribution_of_the_other_family_says_which_ones_fit(
    tmp_path: Path, field: str, spec: dict[str, Any], problem: str
) -> None:
    error = error_of(tmp_path, lambda d: d["channels"]["whatsapp"].update({field: spec}))
    assert error.key == f"channels.whatsapp.{field}"
    assert error.problem == problem
    assert f"channels.whatsapp.{field}: {problem}" in str(error)


def test_bot_time_of_a_count_distribution_says_durations(tmp_path: Path) -> None:
    error = error_of(
        tmp_path,
        lambda d: d["channels"]["webchat"]["bot"].update(time={"dist": "geometric", "mean": 2}),
    )
    assert error.key == "channels.webchat.bot.time"
    assert error.problem == f"geometric is a distribution of counts; {DURATIONS_TAKE}"


# --- targets ----------------------------------------------------------------------------------


def test_targets_are_named_like_kpis_and_listed_in_a_fixed_order() -> None:
    data = small_data()
    data["targets"] = {
        "insession_mean": "90s",
        "frt_mean": "45s",
        "missed_rate": 0.05,
        "service_level": 0.8,
    }
    targets = parse_scenario(data).targets
    assert targets.insession_mean == 90
    assert targets.items() == [
        ("service_level", 0.8),
        ("missed_rate", 0.05),
        ("frt_mean", 45.0),
        ("insession_mean", 90.0),
    ]
    assert Targets(missed_rate=0.1, insession_mean=30).items() == [
        ("missed_rate", 0.1),
        ("insession_mean", 30.0),
    ]
    assert Targets().items() == []


def test_old_target_name_in_session_mean_is_still_read() -> None:
    data = small_data()
    data["targets"] = {"service_level": 0.8, "in_session_mean": "2m"}
    targets = parse_scenario(data).targets
    assert targets.insession_mean == 120
    assert targets.items() == [("service_level", 0.8), ("insession_mean", 120.0)]
    dumped = targets.model_dump()
    assert dumped["insession_mean"] == 120 and "in_session_mean" not in dumped


@pytest.mark.parametrize("name", ["small.yaml", "tele2-weekday.yaml"])
def test_bundled_scenario_reads_the_same_with_the_old_target_name(
    tmp_path: Path, name: str
) -> None:
    text = (SCENARIOS / name).read_text(encoding="utf-8")
    assert "insession_mean:" in text and "in_session_mean" not in text
    old = tmp_path / name
    old.write_text(text.replace("insession_mean:", "in_session_mean:"), encoding="utf-8")
    current = load_scenario(SCENARIOS / name)
    assert current.targets.insession_mean == 90
    assert load_scenario(old) == current
    assert load_scenario(old).sha256 == current.sha256


def test_old_and_new_target_name_together_is_an_error_naming_the_old_key(tmp_path: Path) -> None:
    error = error_of(
        tmp_path, lambda d: d.update(targets={"in_session_mean": "1m", "insession_mean": 60})
    )
    assert error.key == "targets.in_session_mean"
    assert "in_session_mean" in error.problem and "insession_mean" in error.problem
    assert error.exit_code == 2


def test_renaming_the_target_kept_the_hash_recorded_before(tmp_path: Path) -> None:
    """Baselines, traces and results hold scenario hashes recorded before the rename."""
    for key in ("insession_mean", "in_session_mean"):
        path = tmp_path / f"{key}.yaml"
        path.write_text(BLOCK + f"targets: {{service_level: 0.8, {key}: 90s}}\n", encoding="utf-8")
        assert (
            load_scenario(path).sha256
            == "44ad1b02cb7f3ced9464533c7fdc92d8f40f2704553d2d8e1f26022db5dc87e6"
        )


# --- CSV profiles ---------------------------------------------------------------------------


def _scenario_with_csv(tmp_path: Path, csv_text: str) -> Path:
    folder = tmp_path / "site"
    (folder / "data").mkdir(parents=True)
    (folder / "data" / "profile.csv").write_text(csv_text, encoding="utf-8")
    data = small_data()
    data["channels"]["whatsapp"]["profile"] = "data/profile.csv"
    return write_yaml(folder / "scenario.yaml", data)


@pytest.mark.parametrize(
    "csv_text",
    [
        "interval,weight\n09:00,1\n09:15,2\n09:30,0\n09:45,5\n",
        "1\n2\n0\n5\n",
        "09:00,1\n09:15,2\n\n09:30,0\n09:45,5\n",
    ],
    ids=["with header", "without header", "blank line"],
)
def test_csv_profile_relative_to_scenario_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, csv_text: str
) -> None:
    path = _scenario_with_csv(tmp_path, csv_text)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the path is relative to the scenario file, not the cwd
    scenario = load_scenario(path)
    assert scenario.channels["whatsapp"].profile == [1.0, 2.0, 0.0, 5.0]
    assert scenario.weights("whatsapp") == pytest.approx([0.125, 0.25, 0.0, 0.625])


def test_csv_profile_wrong_length(tmp_path: Path) -> None:
    path = _scenario_with_csv(tmp_path, "weight\n1\n2\n3\n")
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.file == str(path)
    assert caught.value.key == "channels.whatsapp.profile"
    assert "4" in caught.value.problem and "3" in caught.value.problem


def test_csv_profile_non_numeric_row(tmp_path: Path) -> None:
    path = _scenario_with_csv(tmp_path, "weight\n1\n2\nlots\n4\n")
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.file == str(path)
    assert caught.value.key == "channels.whatsapp.profile"
    assert "lots" in caught.value.problem
    assert "row 4" in caught.value.problem


def test_csv_profile_negative_weight(tmp_path: Path) -> None:
    path = _scenario_with_csv(tmp_path, "1\n-2\n3\n4\n")
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.key == "channels.whatsapp.profile"


def test_csv_profile_missing_file(tmp_path: Path) -> None:
    data = small_data()
    data["channels"]["whatsapp"]["profile"] = "missing.csv"
    path = write_yaml(tmp_path / "scenario.yaml", data)
    with pytest.raises(InputError) as caught:
        load_scenario(path)
    assert caught.value.file == str(path)
    assert caught.value.key == "channels.whatsapp.profile"
    assert "missing.csv" in caught.value.problem


# --- sha256 ---------------------------------------------------------------------------------

BLOCK = """\
# a comment that must not matter
name: tiny
start: "09:00"
duration: 1h
interval: 15m
channels:
  webchat:
    protocol: webchat
    volume: 50          # per horizon
    patience:
      dist: exponential
      mean: 2m
    reply:
      dist: gamma
      mean: 20s
      cv: 0.5
agents:
  - group: all
    skills: [webchat]
    staffing: [1, 2, 2, 1]
"""

FLOW = """\
{name: tiny, start: "09:00", duration: 3600, interval: "900s",
 channels: {webchat: {reply: {cv: 0.5, mean: 20, dist: gamma}, protocol: webchat, volume: 50.0,
   patience: {dist: exponential, mean: 120}}},
 agents: [{group: all, skills: [webchat], staffing: [1, 2, 2, 1]}]}
"""


def test_sha256_ignores_layout_and_comments(tmp_path: Path) -> None:
    block = tmp_path / "block.yaml"
    flow = tmp_path / "flow.yaml"
    block.write_text(BLOCK, encoding="utf-8")
    flow.write_text(FLOW, encoding="utf-8")
    a, b = load_scenario(block), load_scenario(flow)
    assert len(a.sha256) == 64
    assert a.sha256 == b.sha256
    assert a.sha256 == load_scenario(block).sha256  # stable across loads


def test_sha256_changes_when_a_value_changes(tmp_path: Path) -> None:
    block = tmp_path / "block.yaml"
    block.write_text(BLOCK, encoding="utf-8")
    base = load_scenario(block).sha256
    for old, new in [
        ("volume: 50", "volume: 51"),
        ("mean: 2m", "mean: 3m"),
        ("[1, 2, 2, 1]", "[1, 2, 2, 2]"),
    ]:
        changed = tmp_path / "changed.yaml"
        changed.write_text(BLOCK.replace(old, new), encoding="utf-8")
        assert load_scenario(changed).sha256 != base, new


def test_sha256_of_csv_profile_follows_the_csv_content(tmp_path: Path) -> None:
    path = _scenario_with_csv(tmp_path, "1\n2\n0\n5\n")
    before = load_scenario(path).sha256
    (path.parent / "data" / "profile.csv").write_text("1\n2\n0\n6\n", encoding="utf-8")
    assert load_scenario(path).sha256 != before


# --- the CLI -------------------------------------------------------------------------------


def test_cli_reports_invalid_scenario_without_traceback(tmp_path: Path) -> None:
    data = small_data()
    data["channels"]["whatsapp"]["patience"]["mean"] = -3
    bad = write_yaml(tmp_path / "BAD.yaml", data)
    done = subprocess.run(
        [sys.executable, "-m", "sim", "simulate", str(bad)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2, done.stderr
    assert "BAD.yaml" in done.stderr
    assert "channels.whatsapp.patience.mean" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr


def test_visible_abandonment_needs_webchat():
    data = yaml.safe_load(
        (Path(__file__).resolve().parent.parent / "scenarios" / "small.yaml").read_text()
    )
    data["channels"]["telegram"]["silent_abandon"] = False
    with pytest.raises(InputError) as error:
        parse_scenario(data, file="s.yaml")
    assert (
        error.value.key == "channels.telegram.silent_abandon"
        and "close event" in error.value.problem
    )


def test_a_channel_may_carry_its_own_targets() -> None:
    data = yaml.safe_load((ROOT / "scenarios" / "small.yaml").read_text(encoding="utf-8"))
    before = parse_scenario(data).sha256
    data["channels"]["webchat"]["targets"] = {"service_level": 0.95, "in_session_mean": "1m"}
    scenario = parse_scenario(data)
    own = scenario.channels["webchat"].targets
    assert own is not None and own.items() == [("service_level", 0.95), ("insession_mean", 60.0)]
    assert scenario.channels["whatsapp"].targets is None
    assert scenario.sha256 != before  # a channel's targets are content
    data["channels"]["webchat"]["targets"] = {"service_levle": 0.9}
    with pytest.raises(InputError, match="did you mean 'service_level'"):
        parse_scenario(data)
