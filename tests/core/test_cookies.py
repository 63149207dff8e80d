"""Cookie header parsing and Set-Cookie serialisation, as express's ``cookie`` 0.7.2 does them."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import quote, unquote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coatcheck import cookie_values, serialize_cookie, vary_with_cookie
from coatcheck._cookies import (
    MAX_COOKIE_HEADER,
    decode_uri_component,
    encode_uri_component,
    http_date,
    iter_cookie_pairs,
)

from .cycle import NOW

# -- parsing ---------------------------------------------------------------------------------


@given(st.text())
def test_parser_never_raises_on_any_text(header: str) -> None:
    for name, value in iter_cookie_pairs(header):
        assert isinstance(name, str)
        assert isinstance(value, str)
    assert isinstance(cookie_values(header, "connect.sid"), list)


@given(st.binary())
def test_parser_never_raises_on_raw_header_bytes(raw: bytes) -> None:
    # servers hand over header bytes decoded as latin-1 (ASGI, WSGI)
    assert isinstance(cookie_values(raw.decode("latin-1"), "connect.sid"), list)


@given(st.lists(st.text()))
def test_parser_never_raises_on_several_headers(headers: list[str]) -> None:
    assert isinstance(cookie_values(headers, "connect.sid"), list)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("connect.sid=abc", ["abc"]),
        ("a=1; connect.sid=abc; b=2", ["abc"]),
        ("  connect.sid \t=\t abc  ", ["abc"]),  # spaces and tabs trimmed around name and value
        ('connect.sid="abc"', ["abc"]),  # one pair of double quotes removed
        ('connect.sid=""', []),  # quoted empty value: no cookie
        ("connect.sid=s%3Aabc.d%2Fe", ["s:abc.d/e"]),  # %-decoded
        ('connect.sid="s%3Aabc"', ["s:abc"]),  # quoted, then decoded
        ("connect.sid=%E2%82%AC", ["€"]),  # UTF-8 sequences decoded as a whole
        ("connect.sid=a+b", ["a+b"]),  # + is not a space (decodeURIComponent)
        ("connect.sid=a=b=c", ["a=b=c"]),  # the value runs to the ';'
        ("connect.sid=", []),  # an empty value counts as no cookie
        ("connect.sid", []),  # a fragment without '=' is skipped
        ("HttpOnly; connect.sid=abc", ["abc"]),
        ("other=abc", []),
        ("Connect.sid=abc", []),  # names are case-sensitive
        ("", []),
    ],
)
def test_parses_like_cookie_0_7_2(header: str, expected: list[str]) -> None:
    assert cookie_values(header, "connect.sid") == expected


@pytest.mark.parametrize(
    "raw",
    [
        "100%",  # a stray %
        "%zz",  # not hex
        "%E2%82",  # a truncated UTF-8 sequence
        "%FF",  # not UTF-8 at all
        "%ED%A0%80",  # an encoded surrogate (decodeURIComponent throws)
        "ok%20then%",  # one good escape does not rescue a bad one
    ],
)
def test_invalid_percent_sequences_keep_the_raw_text(raw: str) -> None:
    assert decode_uri_component(raw) == raw
    assert cookie_values(f"connect.sid={raw}", "connect.sid") == [raw]


def test_duplicates_are_all_returned_in_order() -> None:
    header = "connect.sid=first; other=x; connect.sid=second"
    assert cookie_values(header, "connect.sid") == ["first", "second"]
    assert cookie_values(["connect.sid=first", "connect.sid=second"], "connect.sid") == [
        "first",
        "second",
    ]


def test_whole_set_cookie_string_sent_back_as_cookie() -> None:
    """express's own test harness echoes the complete Set-Cookie header as the Cookie header."""
    header = (
        "connect.sid=s%3Aabc.def; Path=/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; Secure"
    )
    assert cookie_values(header, "connect.sid") == ["s:abc.def"]
    assert cookie_values(header, "Path") == ["/"]


def test_oversized_header_gives_no_cookie() -> None:
    padding = "pad=" + "x" * MAX_COOKIE_HEADER
    assert cookie_values("connect.sid=abc; " + padding, "connect.sid") == []
    assert cookie_values(["connect.sid=abc", padding], "connect.sid") == []
    assert cookie_values("connect.sid=abc; pad=" + "x" * 4000, "connect.sid") == ["abc"]


def test_no_header_gives_no_cookie() -> None:
    assert cookie_values(None, "connect.sid") == []


@given(st.text())
def test_encode_then_decode_round_trips(text: str) -> None:
    assert decode_uri_component(encode_uri_component(text)) == text


def test_encodes_like_encode_uri_component() -> None:
    assert encode_uri_component("s:a+b/c%d e") == "s%3Aa%2Bb%2Fc%25d%20e"
    assert encode_uri_component("!'()*-._~AZaz09") == "!'()*-._~AZaz09"
    assert encode_uri_component("€") == "%E2%82%AC"


# -- serialisation ---------------------------------------------------------------------------


def test_attribute_order_is_express_s() -> None:
    header = serialize_cookie(
        "connect.sid",
        "s:v",
        same_site="Lax",
        priority="High",
        partitioned=True,
        secure=True,
        http_only=True,
        expires=NOW + timedelta(seconds=60),
        path="/",
        domain="example.com",
    )
    assert header == (
        "connect.sid=s%3Av; Domain=example.com; Path=/; Expires=Fri, 27 Nov 2026 22:57:24 GMT; "
        "HttpOnly; Secure; Partitioned; Priority=High; SameSite=Lax"
    )
    assert "Max-Age" not in header


def test_unset_attributes_are_left_out() -> None:
    assert serialize_cookie("n", "v") == "n=v"
    assert serialize_cookie("n", "") == "n="


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(1970, 1, 1, tzinfo=timezone.utc), "Thu, 01 Jan 1970 00:00:00 GMT"),
        (NOW, "Fri, 27 Nov 2026 22:56:24 GMT"),
        (
            datetime(2026, 2, 28, 23, 30, tzinfo=timezone(timedelta(hours=-2))),
            "Sun, 01 Mar 2026 01:30:00 GMT",
        ),
    ],
)
def test_expires_is_an_http_date_in_gmt(when: datetime, expected: str) -> None:
    assert http_date(when) == expected
    assert serialize_cookie("n", "v", expires=when) == f"n=v; Expires={expected}"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"name": "bad name"}, "argument name is invalid"),
        ({"name": "sid\n"}, "argument name is invalid"),
        ({"name": ""}, "argument name is invalid"),
        ({"domain": "exa mple.com"}, "option domain is invalid"),
        ({"domain": "example.com\n"}, "option domain is invalid"),
        ({"path": "/a;b"}, "option path is invalid"),
        ({"path": "/\nSet-Cookie: x=y"}, "option path is invalid"),
        ({"path": "/\n"}, "option path is invalid"),
    ],
)
def test_invalid_values_raise_cookie_0_7_2_messages(kwargs: dict[str, str], message: str) -> None:
    name = kwargs.pop("name", "connect.sid")
    with pytest.raises(ValueError, match=f"^{message}$"):
        serialize_cookie(name, "v", **kwargs)  # type: ignore[arg-type]


def test_values_are_url_encoded_so_any_value_is_valid() -> None:
    assert serialize_cookie("n", 'a;b "c"\n') == "n=a%3Bb%20%22c%22%0A"


def test_leading_dot_domain_is_allowed() -> None:
    assert serialize_cookie("n", "v", domain=".example.com") == "n=v; Domain=.example.com"


# -- Vary ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("existing", "expected"),
    [
        (None, "Cookie"),
        ("", "Cookie"),
        ("Accept-Encoding", "Accept-Encoding, Cookie"),
        ("Accept-Encoding, cookie", "Accept-Encoding, cookie"),
        ("Cookie", "Cookie"),
        ("*", "*"),
        ("Origin,  COOKIE ", "Origin,  COOKIE "),
    ],
)
def test_vary_with_cookie(existing: str | None, expected: str) -> None:
    assert vary_with_cookie(existing) == expected


# -- the fast paths agree with the plain definitions ---------------------------------------------

_ESCAPED_TEXT = re.compile(r"(?:[^%]|%[0-9A-Fa-f]{2})*", re.DOTALL)


def reference_decode(text: str) -> str:
    """decodeURIComponent the slow, obvious way (what cookie 0.7.2's ``decode`` amounts to)."""
    if "%" not in text or not _ESCAPED_TEXT.fullmatch(text):
        return text
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        return text


percent_text = st.text(alphabet=st.sampled_from("%%%0123456789abcdefABCDEFgz:+/é€\x00 "))


@given(st.one_of(st.text(), percent_text))
def test_decode_uri_component_agrees_with_unquote(text: str) -> None:
    assert decode_uri_component(text) == reference_decode(text)


@given(st.text())
def test_encode_uri_component_agrees_with_quote(text: str) -> None:
    try:
        expected = quote(text, safe="!'()*-._~")
    except UnicodeEncodeError:  # lone surrogates: both refuse
        with pytest.raises(UnicodeEncodeError):
            encode_uri_component(text)
        return
    assert encode_uri_component(text) == expected


@given(st.one_of(st.text(), percent_text), st.sampled_from(["connect.sid", "a", "sid"]))
def test_cookie_values_agree_with_iter_cookie_pairs(header: str, name: str) -> None:
    expected = [v for k, v in iter_cookie_pairs(header) if k == name and v]
    if len(header) > MAX_COOKIE_HEADER:
        expected = []
    assert cookie_values(header, name) == expected
