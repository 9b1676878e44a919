"""Numbers and durations in tables are written for people: a few significant digits, units that
fit the size (µs to days), never Python's ``0.00749`` or ``1e-05`` forms."""

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from experimentkit.cli.output import human_duration, human_float


@pytest.mark.parametrize(
    "seconds, text",
    [
        (0.000040, "40µs"),
        (0.00749, "7.49ms"),
        (0.0999, "99.9ms"),
        (0.25, "0.25s"),
        (12.34, "12.3s"),
        (185, "3m 05s"),
        (3720, "1h 02m"),
        (2 * 86400 + 3 * 3600, "2d 03h"),
        (-0.5, "-0.5s"),
    ],
)
def test_durations_use_the_unit_that_fits(seconds, text):
    assert human_duration(dt.timedelta(seconds=seconds)) == text


@given(st.floats(min_value=0, max_value=10 * 365 * 86400, allow_nan=False))
def test_every_duration_is_short_and_has_a_unit(seconds):
    text = human_duration(dt.timedelta(seconds=seconds))
    assert len(text) <= 9  # up to '9999d 23h'
    assert text.endswith(("µs", "ms", "s", "m", "h")) and "e" not in text


@pytest.mark.parametrize(
    "value, text",
    [
        (0.6681, "0.6681"),
        (123456.7, "123,457"),
        (1.0, "1"),
        (1234567.0, "1.23e+06"),
        (0.000012345, "1.23e-05"),
    ],
)
def test_floats_keep_four_significant_digits_and_exponents_only_at_the_extremes(value, text):
    assert human_float(value) == text
