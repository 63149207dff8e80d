"""The record nesting rule (issue 10.7): the same on every Python, whatever ``json`` manages."""

from __future__ import annotations

from typing import Any

import pytest

from coatcheck._errors import InvalidRecordError
from coatcheck.stores import _codec
from coatcheck.stores._codec import MAX_DEPTH, cookie_json, decode_record, to_json


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


@pytest.mark.parametrize(
    "cookie",
    [
        {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"},
        {"originalMaxAge": None, "expires": None, "httpOnly": 1, "path": "/"},  # True == 1
        {"originalMaxAge": None, "expires": None, "httpOnly": 1.0, "path": "/"},
        {"originalMaxAge": 60000, "expires": "2030-01-01T00:00:00.000Z", "path": "/"},
        {"expires": None, "sameSite": ["lax"]},  # unhashable: encoded every time
    ],
)
def test_a_cookies_text_is_its_json_remembered_or_not(cookie: dict[str, Any]) -> None:
    for _ in range(2):  # first encoded, then (browser-session cookies) remembered
        assert cookie_json(cookie) == to_json(cookie)


def test_remembered_cookie_texts_stay_bounded() -> None:
    for n in range(300):
        cookie_json({"expires": None, "path": f"/{n}"})
    assert 0 < len(_codec._COOKIE_TEXTS) <= 256
