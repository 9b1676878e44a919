"""The sweep grammar of ``-M``/``--multirun``, spaces and their expansion (parser: hypothesis)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from experimentkit.errors import UsageError
from experimentkit.sweep.grammar import Axis, parse_axis_value, parse_sweep_words, split_top_level
from experimentkit.sweep.space import Space, load_sweep_file, space_from_mapping, space_from_words


def test_commas_make_an_axis_and_items_are_parsed_like_single_values():
    assert parse_axis_value("0.1,0.01") == [0.1, 0.01]
    assert parse_axis_value("adam,sgd") == ["adam", "sgd"]
    assert parse_axis_value("True,None,'x'") == [True, None, "x"]
    assert parse_axis_value("[1,2],[3]") == [[1, 2], [3]]


@pytest.mark.parametrize("text", ["[1,2]", "(1,2)", "{'a': 1, 'b': 2}", "'a,b'", '"x,y"', "0.1"])
def test_commas_inside_brackets_or_quotes_are_one_value(text):
    assert parse_axis_value(text) is None


def test_range_logspace_linspace_choice():
    assert parse_axis_value("range(1,5)") == [1, 2, 3, 4]
    assert parse_axis_value("range(3)") == [0, 1, 2]
    assert parse_axis_value("range(0,1,0.25)") == [0, 0.25, 0.5, 0.75]
    assert parse_axis_value("logspace(-4,-1,4)") == [1e-4, 1e-3, 1e-2, 1e-1]
    assert parse_axis_value("linspace(0,1,3)") == [0.0, 0.5, 1.0]
    assert parse_axis_value("choice([1,2],[3])") == [[1, 2], [3]]


@pytest.mark.parametrize(
    "text, message",
    [
        ("range(5,1)", "the axis has no values"),
        ("range(a,3)", "'a' is not a number"),
        ("range(1,", "cannot parse"),
        ("logspace(-4,-1)", "start, stop and a positive whole count"),
        ("range(1,5,0)", "step must not be zero"),
        ("0.1,,0.2", "empty value between commas"),
        ("0.1,", "empty value between commas"),
        ("choice()", "choice\\(\\) needs values"),
    ],
)
def test_bad_axes_are_usage_errors(text, message):
    with pytest.raises(UsageError, match=message):
        parse_axis_value(text, "sweep 'x'")


def test_words_keep_order_and_named_config_axes():
    items = parse_sweep_words(["lr=0.1,0.01", "big,small", "epochs=3", "quick"])
    assert items == [Axis("lr", (0.1, 0.01)), Axis(None, ("big", "small")), "epochs=3", "quick"]


def test_a_key_swept_twice_is_an_error():
    with pytest.raises(UsageError, match="'lr' is swept twice"):
        parse_sweep_words(["lr=1,2", "lr=3,4"])


def test_malformed_key_gets_the_single_update_message():
    with pytest.raises(UsageError, match="Malformed update"):
        parse_sweep_words(["a b=1,2"])


def test_grid_expansion_is_the_cartesian_product_in_order():
    tasks = space_from_words(["lr=0.1,0.01", "batch=32,64,128", "opt.momentum=0.9", "big,small"]).expand()
    assert len(tasks) == 12
    assert [t.index for t in tasks] == list(range(12))
    assert tasks[0].values == {"lr": 0.1, "batch": 32, "named_config": "big"}
    assert tasks[0].updates == {"lr": 0.1, "batch": 32, "opt": {"momentum": 0.9}}
    assert tasks[0].named_configs == ["big"]
    assert tasks[-1].values == {"lr": 0.01, "batch": 128, "named_config": "small"}
    assert len({tuple(sorted(t.values.items())) for t in tasks}) == 12


def test_random_space_is_seeded_and_within_bounds():
    space = space_from_mapping(
        {
            "lr": {"loguniform": [1e-4, 1e-1]},
            "n": {"int": [1, 4]},
            "opt": {"choice": ["adam", "sgd"]},
            "p": {"uniform": [0, 0.5]},
            "width": [8, 16],
        },
        samples=5,
        seed=3,
    )
    tasks = space.expand()
    assert len(tasks) == 10
    again = space_from_mapping(
        {
            "lr": {"loguniform": [1e-4, 1e-1]},
            "n": {"int": [1, 4]},
            "opt": {"choice": ["adam", "sgd"]},
            "p": {"uniform": [0, 0.5]},
            "width": [8, 16],
        },
        samples=5,
        seed=3,
    ).expand()
    assert [t.values for t in tasks] == [t.values for t in again]
    for task in tasks:
        assert 1e-4 <= task.values["lr"] <= 1e-1
        assert task.values["n"] in (1, 2, 3, 4)
        assert task.values["opt"] in ("adam", "sgd")
        assert 0 <= task.values["p"] <= 0.5


def test_random_without_samples_and_bad_distributions():
    with pytest.raises(UsageError, match="need a number of samples"):
        space_from_mapping({"lr": {"uniform": [0, 1]}}).expand()
    with pytest.raises(UsageError, match="did you mean 'uniform'"):
        space_from_mapping({"lr": {"unifrom": [0, 1]}})
    with pytest.raises(UsageError, match="loguniform needs positive bounds"):
        space_from_mapping({"lr": {"loguniform": [0, 1]}})
    with pytest.raises(UsageError, match="the axis has no values"):
        space_from_mapping({"lr": []})


def test_sweep_file_grid_and_random(tmp_path):
    path = tmp_path / "sweep.yaml"
    path.write_text(
        "grid:\n  batch: [32, 64]\n  n: 'range(2)'\nrandom:\n  lr: {loguniform: [0.001, 0.1]}\n"
        "samples: 3\nnamed_configs: [big, small]\n"
    )
    tasks = load_sweep_file(str(path), Space()).expand()
    assert len(tasks) == 2 * 2 * 2 * 3
    assert {t.values["named_config"] for t in tasks} == {"big", "small"}
    path.write_text("grid:\n  batch: [32]\nsampels: 3\n")
    with pytest.raises(UsageError, match="did you mean 'samples'"):
        load_sweep_file(str(path), Space())
    with pytest.raises(UsageError, match="no such file"):
        load_sweep_file(str(tmp_path / "missing.yaml"), Space())


# ---- properties -----------------------------------------------------------------------------------
_plain = st.one_of(
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
        lambda s: s not in ("range", "choice", "logspace", "linspace")
    ),
    st.lists(st.integers(-9, 9), max_size=3),
)


@given(st.lists(_plain, min_size=2, max_size=6))
def test_joined_values_parse_back_to_themselves(values):
    text = ",".join(repr(v) if not isinstance(v, str) else v for v in values)
    parsed = parse_axis_value(text)
    assert len(parsed) == len(values)
    for got, want in zip(parsed, values):
        if isinstance(want, float):
            assert math.isclose(got, want) or got == want
        else:
            assert got == want


@given(st.text(alphabet="ab,[](){}'\" ", max_size=30))
def test_split_never_loses_text(text):
    parts = split_top_level(text)
    assert ",".join(parts) == text


@given(st.lists(st.integers(-99, 99), min_size=1, max_size=5), st.sampled_from("[({"))
def test_bracketed_commas_are_never_a_sweep(values, opener):
    closer = {"[": "]", "(": ")", "{": "}"}[opener]
    text = opener + ",".join(map(str, values)) + closer
    assert parse_axis_value(text) is None
    quoted = "'" + ",".join(map(str, values)) + "'"
    assert parse_axis_value(quoted) is None


@given(st.integers(-20, 20), st.integers(-20, 20), st.integers(1, 5))
def test_range_matches_python(start, stop, step):
    expected = list(range(start, stop, step))
    if not expected:
        with pytest.raises(UsageError):
            parse_axis_value(f"range({start},{stop},{step})")
    else:
        assert parse_axis_value(f"range({start},{stop},{step})") == expected
