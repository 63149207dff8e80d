"""The verified id of a Cookie header, remembered per header (``coatcheck._cookie_ids``): the
same answers as checking every time, fewer HMACs, bounded memory."""

from __future__ import annotations

from typing import Any

from coatcheck._cookie_ids import LONGEST_REMEMBERED, REMEMBERED, CookieIds
from coatcheck._signing import ExpressSigner

from .cycle import STORED_ID, cookie_header, given_stored, make_config, run_cycle


def test_a_returning_browsers_header_is_verified_once(hmac_count: list[int]) -> None:
    config = make_config(resave=False)
    cookie = given_stored(config)
    assert run_cycle(config, cookie=cookie).session.id == STORED_ID
    first = hmac_count[0]
    assert first == 1
    assert run_cycle(config, cookie=cookie).session.id == STORED_ID
    assert hmac_count[0] == first  # the second request's header was not checked again


def test_a_repeated_forged_header_is_checked_once_and_stays_forged(hmac_count: list[int]) -> None:
    ids = CookieIds("connect.sid", ExpressSigner(["secret"]))
    forged = "connect.sid=s%3Aabc.forged"
    assert ids.read(forged) == (True, None)
    assert ids.read(forged) == (True, None)
    assert hmac_count[0] == 1


def test_answers_match_reading_every_time() -> None:
    signer = ExpressSigner(["new", "old"])
    ids = CookieIds("connect.sid", signer)
    valid = cookie_header("abc", "old", "connect.sid")
    other = cookie_header("xyz", "new", "connect.sid")
    cases: list[Any] = [
        None,
        "",
        "other=1",
        valid,
        f"other=1; {valid}",
        [valid],
        ["other=1", other],
        f"connect.sid=s%3Aabc.forged; {other}",
        "connect.sid=",
    ]
    expected = [
        (False, None),
        (False, None),
        (False, None),
        (True, "abc"),
        (True, "abc"),
        (True, "abc"),
        (True, "xyz"),
        (True, "xyz"),
        (False, None),
    ]
    for _ in range(2):  # first read, then remembered
        assert [ids.read(case) for case in cases] == expected


def test_the_table_is_bounded_and_long_headers_are_never_kept() -> None:
    ids = CookieIds("connect.sid", ExpressSigner(["secret"]))
    for n in range(REMEMBERED + 10):
        ids.read(f"connect.sid=s%3A{n}.forged")
    assert len(ids._seen) <= REMEMBERED
    ids._seen.clear()
    long_header = "x=" + "y" * LONGEST_REMEMBERED + "; connect.sid=s%3Aabc.forged"
    assert ids.read(long_header) == (True, None)
    assert ids._seen == {}


def test_each_config_has_its_own_table() -> None:
    # the same header means different things under different secrets or cookie names
    signer_config = make_config(secret="one")
    other_config = make_config(secret="two")
    header = cookie_header("abc", "one", "connect.sid")
    assert signer_config.cookie_ids.read(header) == (True, "abc")
    assert other_config.cookie_ids.read(header) == (True, None)
    assert make_config(name="other").cookie_ids.read(header) == (False, None)
