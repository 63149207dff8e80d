"""The per-session cookie: express's ``Cookie`` in seconds, its exact JSON and its Set-Cookie."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from coatcheck import CookieOptions, SessionCookie
from coatcheck._session_cookie import iso_millis, millis

from .cycle import EXPIRES_60, NOW


class Clock:
    """A settable clock for one cookie."""

    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def new_cookie(
    clock: Clock | None = None, *, over_https: bool = False, **options: Any
) -> SessionCookie:
    return SessionCookie.from_options(CookieOptions(**options), clock or Clock(), over_https)


def compact(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"))


# -- express's getters and setters -------------------------------------------------------------


def test_max_age_sets_expires_and_original_max_age() -> None:
    cookie = new_cookie(max_age=60)
    assert cookie.expires == NOW + timedelta(seconds=60)
    assert cookie.original_max_age == 60.0
    assert cookie.max_age == 60.0


def test_max_age_is_the_time_remaining() -> None:
    clock = Clock()
    cookie = new_cookie(clock=clock, max_age=60)
    clock.now = NOW + timedelta(seconds=45)
    assert cookie.max_age == 15.0
    clock.now = NOW + timedelta(seconds=70)
    assert cookie.max_age == -10.0  # may be negative, as in express
    assert cookie.original_max_age == 60.0


def test_browser_session_cookie_has_no_expiry() -> None:
    cookie = new_cookie()
    assert cookie.expires is None
    assert cookie.max_age is None
    assert cookie.original_max_age is None


def test_setting_max_age_rebases_both() -> None:
    clock = Clock()
    cookie = new_cookie(clock=clock, max_age=60)
    clock.now = NOW + timedelta(seconds=10)
    cookie.max_age = timedelta(minutes=2)
    assert cookie.expires == NOW + timedelta(seconds=130)
    assert cookie.original_max_age == 120.0
    cookie.max_age = None
    assert browser_session(cookie)


def browser_session(cookie: SessionCookie) -> bool:
    """No expiry and no lifetime (a function, so type checkers forget earlier narrowing)."""
    return cookie.expires is None and cookie.original_max_age is None


def test_setting_expires_rebases_original_max_age() -> None:
    cookie = new_cookie(max_age=60)
    cookie.expires = NOW + timedelta(hours=1)
    assert cookie.original_max_age == 3600.0
    cookie.expires = None
    assert cookie.original_max_age is None


def test_expires_must_be_aware() -> None:
    cookie = new_cookie()
    with pytest.raises(ValueError, match="timezone-aware"):
        cookie.expires = datetime(2030, 1, 1)


def test_reset_max_age_slides_expires() -> None:
    clock = Clock()
    cookie = new_cookie(clock=clock, max_age=60)
    clock.now = NOW + timedelta(seconds=30)
    cookie.reset_max_age()
    assert cookie.expires == NOW + timedelta(seconds=90)
    assert cookie.original_max_age == 60.0


def test_expires_option_gives_an_exact_original_max_age() -> None:
    """DIFFERENCE: express computes originalMaxAge a tick later and stores 1999 for 2000 ms."""
    cookie = new_cookie(expires=NOW + timedelta(seconds=2))
    assert cookie.original_max_age == 2.0
    assert cookie.to_json()["originalMaxAge"] == 2000


def test_a_fixed_expires_behaves_like_a_sliding_max_age() -> None:
    clock = Clock()
    cookie = new_cookie(clock=clock, expires=NOW + timedelta(seconds=60))
    clock.now = NOW + timedelta(seconds=30)
    cookie.reset_max_age()
    assert cookie.expires == NOW + timedelta(seconds=90)


@pytest.mark.parametrize(
    ("secure", "expected_secure", "expected_same_site"),
    [(False, False, "lax"), (True, True, "none")],
)
def test_auto_is_resolved_from_the_request(
    secure: bool, expected_secure: bool, expected_same_site: str
) -> None:
    cookie = new_cookie(over_https=secure, secure="auto", same_site="auto")
    assert cookie.secure is expected_secure
    assert cookie.same_site == expected_same_site


# -- stored JSON -----------------------------------------------------------------------------


def test_json_keys_in_express_order_unset_ones_omitted() -> None:
    cookie = new_cookie(
        max_age=60,
        same_site="strict",
        domain="example.com",
        secure=True,
        priority="high",
        partitioned=True,
        path="/app",
        http_only=False,
    )
    assert compact(cookie.to_json()) == (
        '{"originalMaxAge":60000,"partitioned":true,"priority":"high",'
        '"expires":"2026-11-27T22:57:24.381Z","secure":true,"httpOnly":false,'
        '"domain":"example.com","path":"/app","sameSite":"strict"}'
    )


def test_json_of_a_browser_session_cookie() -> None:
    assert compact(new_cookie().to_json()) == (
        '{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}'
    )


@pytest.mark.parametrize(
    ("seconds", "ms"), [(60.0, 60000), (1.5, 1500), (0.001, 1), (1234.567, 1234567), (None, None)]
)
def test_milliseconds_are_integral_where_exact(seconds: float | None, ms: int | None) -> None:
    value = millis(seconds)
    assert value == ms
    assert type(value) is type(ms)


def test_iso_millis_is_date_to_json() -> None:
    assert iso_millis(NOW + timedelta(seconds=60)) == "2026-11-27T22:57:24.381Z"
    assert iso_millis(datetime(2026, 1, 1, 1, tzinfo=timezone(timedelta(hours=1)))) == (
        "2026-01-01T00:00:00.000Z"
    )


def test_from_json_round_trips() -> None:
    original = new_cookie(max_age=60, same_site=True, domain="example.com", priority="Low")
    loaded = SessionCookie.from_json(original.to_json(), Clock())
    assert loaded.to_json() == original.to_json()
    assert loaded.original_max_age == 60.0
    assert loaded.expires == NOW + timedelta(seconds=60)
    assert loaded.same_site is True


def test_from_json_keeps_the_stored_lifetime_not_the_remaining_time() -> None:
    stored = {"originalMaxAge": 60000, "expires": "2026-11-27T22:57:00.000Z", "httpOnly": True}
    cookie = SessionCookie.from_json(stored, Clock())
    assert cookie.original_max_age == 60.0
    assert cookie.max_age == pytest.approx(35.619)


@pytest.mark.parametrize(
    "stored",
    [
        {"originalMaxAge": "60000", "expires": None},
        {"originalMaxAge": True, "expires": None},
        {"originalMaxAge": 1, "expires": "yesterday"},
        {"originalMaxAge": 1, "expires": 1700000000000},
    ],
)
def test_from_json_refuses_malformed_cookies(stored: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        SessionCookie.from_json(stored, Clock())


# -- Set-Cookie --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("same_site", "attribute"),
    [
        (True, "; SameSite=Strict"),
        ("strict", "; SameSite=Strict"),
        ("lax", "; SameSite=Lax"),
        ("LAX", "; SameSite=Lax"),
        ("none", "; SameSite=None"),
        (False, ""),
        (None, ""),
    ],
)
def test_same_site_spellings(same_site: Any, attribute: str) -> None:
    cookie = new_cookie(same_site=same_site)
    assert cookie.serialize("sid", "v") == f"sid=v; Path=/; HttpOnly{attribute}"


@pytest.mark.parametrize(
    ("priority", "attribute"),
    [("low", "Low"), ("medium", "Medium"), ("HIGH", "High")],
)
def test_priority_spellings(priority: str, attribute: str) -> None:
    assert new_cookie(priority=priority).serialize("sid", "v") == (
        f"sid=v; Path=/; HttpOnly; Priority={attribute}"
    )


def test_every_attribute_in_express_order() -> None:
    cookie = new_cookie(
        max_age=60,
        domain="example.com",
        secure=True,
        partitioned=True,
        priority="medium",
        same_site="none",
    )
    assert cookie.serialize("connect.sid", "s:id.sig") == (
        f"connect.sid=s%3Aid.sig; Domain=example.com; Path=/; Expires={EXPIRES_60}; HttpOnly; "
        "Secure; Partitioned; Priority=Medium; SameSite=None"
    )


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("same_site", "sometimes", "option sameSite is invalid"),
        ("priority", "urgent", "option priority is invalid"),
        ("path", "/a;b", "option path is invalid"),
        ("path", "/\r\n", "option path is invalid"),
        ("domain", "exa mple.com", "option domain is invalid"),
    ],
)
def test_invalid_per_session_settings_raise_cookie_messages_when_set(
    attribute: str, value: str, message: str
) -> None:
    # issue 10.7: refused at assignment (never stored to fail every later request)
    cookie = new_cookie()
    with pytest.raises(ValueError, match=f"^cookie\\.{attribute}: {message}"):
        setattr(cookie, attribute, value)
    assert cookie.serialize("sid", "v") == "sid=v; Path=/; HttpOnly"


def test_clearing_cookie_keeps_name_path_domain_and_flags() -> None:
    cookie = new_cookie(
        max_age=60,
        path="/app",
        domain="example.com",
        secure=True,
        partitioned=True,
        priority="high",
        same_site="lax",
    )
    assert cookie.serialize_clearing("connect.sid") == (
        "connect.sid=; Domain=example.com; Path=/app; Expires=Thu, 01 Jan 1970 00:00:00 GMT; "
        "HttpOnly; Secure; Partitioned; SameSite=Lax"
    )


def test_repr_shows_the_json() -> None:
    assert repr(new_cookie()) == (
        "SessionCookie({'originalMaxAge': None, 'expires': None, 'httpOnly': True, 'path': '/'})"
    )
