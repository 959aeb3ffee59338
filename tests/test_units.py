from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veye.units import format_duration, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("1h", 3600),
        ("1h30m", 5400),
        ("2d", 172800),
        ("45", 45),
        (90, 90),
        ("500ms", 0.5),
    ],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "often", "15 minutes", "m15", "0s", "-5", True])
def test_bad_durations(bad: object) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - the message is checked in test_config
        parse_duration(bad)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "size"), [("15MB", 15_000_000), ("512KiB", 524288), ("100", 100), (2048, 2048)]
)
def test_sizes(text: str | int, size: int) -> None:
    assert parse_size(text) == size


@given(st.integers(min_value=1, max_value=10**7))
def test_format_duration_round_trips(seconds: int) -> None:
    assert parse_duration(format_duration(seconds)) == seconds
