"""The record nesting rule (issue 10.7): the same on every Python, whatever ``json`` manages."""

from __future__ import annotations

from typing import Any

import pytest

from coatcheck._errors import InvalidRecordError
from coatcheck.stores._codec import MAX_DEPTH, decode_record, to_json


def _nested(depth: int) -> Any:
    """A record ``depth`` containers deep (the record object itself is level 1)."""
    value: Any = []
    for _ in range(depth - 2):
        value = [value]
    return {"cookie": {}, "d": value}


def test_a_record_exactly_max_depth_deep_is_written_and_read() -> None:
    text = to_json(_nested(MAX_DEPTH))
    assert decode_record(text) == _nested(MAX_DEPTH)


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 2000])
def test_a_record_deeper_than_max_depth_is_refused_and_reads_as_none(depth: int) -> None:
    with pytest.raises(InvalidRecordError, match=f"deeper than {MAX_DEPTH}"):
        to_json(_nested(depth))
    text = '{"cookie":{},"d":' + "[" * (depth - 1) + "]" * (depth - 1) + "}"
    assert decode_record(text) is None
    assert decode_record(text.encode()) is None


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    record = {"cookie": {}, "s": "[{" * MAX_DEPTH, "n": [[1], {"a": [2]}]}
    assert decode_record(to_json(record)) == record
