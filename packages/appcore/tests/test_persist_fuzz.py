"""Property tests: any value tree round-trips, guess never misreads, junk never escapes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from appcore import AppcoreError, dumps, loads, sniff_format, structurally_equal

FORMATS = ("pickle", "xml", "source")

keys = st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none())
leaves = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.binary(max_size=20),
)
values: Any = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.tuples(inner, inner),
        st.dictionaries(keys, inner, max_size=4),
        st.frozensets(st.one_of(st.integers(), st.text(max_size=5)), max_size=4),
        st.sets(st.one_of(st.integers(), st.text(max_size=5)), max_size=4),
    ),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=values, fmt=st.sampled_from(FORMATS))
def test_values_round_trip_and_are_recognised(value: Any, fmt: str) -> None:
    data = dumps(value, fmt)  # type: ignore[arg-type]
    assert sniff_format(data) == (fmt, False)
    back = loads(data)
    assert structurally_equal(value, back)
    if fmt != "pickle":
        assert dumps(back, fmt) == data  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(data=st.binary(max_size=200), fmt=st.sampled_from(("guess", *FORMATS)))
def test_junk_only_raises_appcore_errors(data: bytes, fmt: str) -> None:
    try:
        loads(data, fmt)  # type: ignore[arg-type]
    except AppcoreError:
        pass


@settings(max_examples=200, deadline=None)
@given(value=values, fmt=st.sampled_from(FORMATS), data=st.data())
def test_damaged_files_only_raise_appcore_errors(value: Any, fmt: str, data: Any) -> None:
    raw = bytearray(dumps(value, fmt))  # type: ignore[arg-type]
    position = data.draw(st.integers(0, len(raw) - 1))
    raw[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        loads(bytes(raw[:cut]), fmt)  # type: ignore[arg-type]
    except AppcoreError:
        pass


def test_empty_and_blank_inputs() -> None:
    for blob in (b"", b"   \n"):
        with pytest.raises(AppcoreError, match="empty"):
            loads(blob)
