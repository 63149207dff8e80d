"""One request cycle, end to end: loading, the stored JSON, the Set-Cookie, and every place
where coatcheck deliberately differs from express-session 1.19.0 (DESIGN.md)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coatcheck import (
    CookieOptions,
    CycleStateError,
    InvalidRecordError,
    Phase,
    RequestReceived,
    Session,
    SessionCycle,
    StoreDestroy,
    StoreError,
    StoreGet,
    StoreSet,
    SyncSession,
)
from coatcheck._cookies import MAX_COOKIE_CANDIDATES, MAX_COOKIE_HEADER
from coatcheck._merge import data_json
from coatcheck.stores._codec import encode_record, to_json

from .cycle import (
    EXPIRES_60,
    ID1,
    ID2,
    NOW,
    SECRET,
    STORED_ID,
    RecordingStore,
    SequentialIds,
    cookie_header,
    given_stored,
    iso,
    make_config,
    record,
    run_cycle,
    signed,
)

LATER = NOW + timedelta(seconds=30)
CLEARING = "Expires=Thu, 01 Jan 1970 00:00:00 GMT"


def compact(data: Any) -> str:
    """``JSON.stringify``'s spelling."""
    return json.dumps(data, separators=(",", ":"))


# -- the stored record is express's JSON, byte for byte (behaviour §12) -------------------------


def test_record_with_max_age_and_user() -> None:
    result = run_cycle(make_config(cookie={"max_age": 60}), handler=lambda s: s.update(user="bob"))
    assert compact(result.written()) == (
        '{"cookie":{"originalMaxAge":60000,"expires":"2026-11-27T22:57:24.381Z",'
        '"httpOnly":true,"path":"/"},"user":"bob"}'
    )


def test_record_without_cookie_options() -> None:
    result = run_cycle(make_config())
    assert compact(result.written()) == (
        '{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}}'
    )


def test_record_with_auto_secure_and_same_site_over_http() -> None:
    config = make_config(cookie={"max_age": 60, "secure": "auto", "same_site": "auto"})
    result = run_cycle(config, handler=lambda s: s.update(a="1"))
    assert compact(result.written()) == (
        '{"cookie":{"originalMaxAge":60000,"expires":"2026-11-27T22:57:24.381Z","secure":false,'
        '"httpOnly":true,"path":"/","sameSite":"lax"},"a":"1"}'
    )


def test_record_with_priority_partitioned_and_domain() -> None:
    config = make_config(
        cookie={"max_age": 60, "priority": "high", "partitioned": True, "domain": "example.com"}
    )
    assert compact(run_cycle(config).written()) == (
        '{"cookie":{"originalMaxAge":60000,"partitioned":true,"priority":"high",'
        '"expires":"2026-11-27T22:57:24.381Z","httpOnly":true,"domain":"example.com","path":"/"}}'
    )


def test_stored_expires_is_the_set_cookie_expires() -> None:
    config = make_config(cookie={"max_age": 60})
    result = run_cycle(config, now=LATER)
    assert result.written()["cookie"]["expires"] == "2026-11-27T22:57:54.381Z"
    assert "Expires=Fri, 27 Nov 2026 22:57:54 GMT" in (result.set_cookie or "")


def test_loaded_sessions_keep_the_stored_key_order() -> None:
    config = make_config(resave=False)
    stored = {"a": 1, "cookie": record(60)["cookie"], "b": 2}
    config.store.put(STORED_ID, stored)
    result = run_cycle(config, cookie=cookie_header(STORED_ID), handler=lambda s: s.update(c=3))
    assert list(result.session) == ["a", "b", "c"]
    assert list(result.written()) == ["a", "cookie", "b", "c"]


def test_new_sessions_store_cookie_first() -> None:
    result = run_cycle(make_config(), handler=lambda s: s.update(z=1, a=2))
    assert list(result.written()) == ["cookie", "z", "a"]


def test_original_max_age_is_exact() -> None:
    """DIFFERENCE: express stores 1999 for an ``expires`` 2 s away (a 1 ms drift)."""
    config = make_config(resave=False, cookie={"expires": NOW + timedelta(seconds=2)})
    first = run_cycle(config)
    assert first.written()["cookie"]["originalMaxAge"] == 2000
    again = run_cycle(config, cookie=first.cookie, now=NOW + timedelta(seconds=1))
    assert again.session.cookie.original_max_age == 2.0
    assert again.written("touch")["cookie"]["originalMaxAge"] == 2000


def test_loaded_record_round_trips_unchanged() -> None:
    config = make_config(resave=True)
    stored = record(60, user={"name": "bob", "roles": ["admin"]}, n=1.5, ok=True, none=None)
    config.store.put(STORED_ID, stored)
    result = run_cycle(config, cookie=cookie_header(STORED_ID))
    assert result.written() == stored


# -- "auto", in every form of the cookie options (DIFFERENCE) -----------------------------------

AUTO = {"max_age": 60, "secure": "auto", "same_site": "auto"}


@pytest.mark.parametrize(
    "cookie",
    [CookieOptions(**AUTO), dict(AUTO), lambda request: dict(AUTO)],  # type: ignore[arg-type]
    ids=["CookieOptions", "dict", "callable"],
)
@pytest.mark.parametrize(
    ("https", "attributes", "stored"),
    [
        (
            False,
            "HttpOnly; SameSite=Lax",
            '"secure":false,"httpOnly":true,"path":"/","sameSite":"lax"',
        ),
        (
            True,
            "HttpOnly; Secure; SameSite=None",
            '"secure":true,"httpOnly":true,"path":"/","sameSite":"none"',
        ),
    ],
)
def test_auto_is_resolved_in_every_form(
    cookie: Any, https: bool, attributes: str, stored: str
) -> None:
    result = run_cycle(make_config(cookie=cookie), secure=https)
    assert result.set_cookie == (
        f"connect.sid={signed(ID1)}; Path=/; Expires={EXPIRES_60}; {attributes}"
    )
    assert compact(result.written()["cookie"]).endswith(stored + "}")


def test_cookie_options_only_apply_to_new_sessions() -> None:
    """express #1077: a loaded session keeps the cookie attributes it was stored with."""
    config = make_config(rolling=True, cookie={"domain": "example.com", "same_site": "strict"})
    result = run_cycle(config, cookie=given_stored(config))
    assert result.set_cookie == (
        f"connect.sid={signed(STORED_ID)}; Path=/; Expires={EXPIRES_60}; HttpOnly"
    )


def test_per_session_cookie_settings() -> None:
    def handler(session: SyncSession) -> None:
        session.cookie.max_age = 60
        session.cookie.same_site = "strict"
        session.cookie.domain = "example.com"

    result = run_cycle(make_config(), handler=handler)
    assert result.set_cookie == (
        f"connect.sid={signed(ID1)}; Domain=example.com; Path=/; Expires={EXPIRES_60}; "
        "HttpOnly; SameSite=Strict"
    )
    assert result.written()["cookie"]["sameSite"] == "strict"


def test_invalid_per_session_cookie_setting_fails_before_any_write() -> None:
    config = make_config()

    def handler(session: SyncSession) -> None:
        session.cookie.same_site = "sometimes"

    # issue 10.7: refused at the assignment itself (it used to fail at serialisation)
    with pytest.raises(ValueError, match=r"^cookie\.same_site: option sameSite is invalid"):
        run_cycle(config, handler=handler)
    assert config.store.calls == []


# -- reading the cookie -----------------------------------------------------------------------


def test_signed_cookie_loads_the_stored_session() -> None:
    config = make_config()
    result = run_cycle(config, cookie=given_stored(config, user="bob"))
    assert result.session.id == STORED_ID
    assert dict(result.session) == {"user": "bob"}
    assert result.cycle.had_cookie


@pytest.mark.parametrize(
    "value",
    [
        STORED_ID,  # a bare id
        "s:" + STORED_ID,  # prefixed but unsigned
        "s%3A" + STORED_ID,
        signed(STORED_ID, "another secret"),  # signed with a secret we do not know
        signed(STORED_ID)[:-2],  # truncated signature
        "s%3A" + STORED_ID + ".x" + signed(STORED_ID).rsplit(".", 1)[1],  # tampered
    ],
)
def test_unsigned_or_tampered_cookie_is_a_new_session(value: str) -> None:
    config = make_config()
    given_stored(config, user="bob")
    result = run_cycle(config, cookie=f"connect.sid={value}")
    assert result.session.id == ID1
    assert dict(result.session) == {}
    assert result.calls == [("set", ID1)]  # the store is never asked for an unverified id
    assert result.cycle.had_cookie


def test_whole_set_cookie_sent_back_as_cookie_loads_the_session() -> None:
    """express's test harness echoes the complete Set-Cookie header."""
    config = make_config(cookie={"max_age": 60, "secure": True, "same_site": "lax"})
    first = run_cycle(config, secure=True)
    assert first.set_cookie is not None
    again = run_cycle(config, cookie=first.set_cookie, secure=True)
    assert again.session.id == ID1


def test_quoted_cookie_value_loads_the_session() -> None:
    config = make_config()
    cookie = given_stored(config)
    name, value = cookie.split("=", 1)
    assert run_cycle(config, cookie=f'{name}="{value}"').session.id == STORED_ID


def test_oversized_cookie_header_is_a_new_session() -> None:
    config = make_config()
    padding = "; pad=" + "x" * MAX_COOKIE_HEADER
    result = run_cycle(config, cookie=given_stored(config) + padding)
    assert result.session.id == ID1
    assert result.calls == [("set", ID1)]


def test_other_cookie_names_are_ignored() -> None:
    config = make_config(name="app.sid")
    cookie = given_stored(config)  # app.sid=...
    result = run_cycle(config, cookie=cookie.replace("app.sid", "connect.sid"))
    assert result.session.id == ID1


# -- duplicate cookies (DIFFERENCE, express #881) ---------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "connect.sid=bogus; {valid}",  # express takes "bogus" and loses the session
        "{valid}; connect.sid=bogus",
        f"connect.sid={signed(STORED_ID, 'old secret')}; {{valid}}",
        "connect.sid=; {valid}",
    ],
)
def test_first_verified_duplicate_wins(header: str) -> None:
    config = make_config()
    valid = given_stored(config)
    result = run_cycle(config, cookie=header.format(valid=valid))
    assert result.session.id == STORED_ID
    assert result.calls[0] == ("get", STORED_ID)


def test_first_of_two_verified_duplicates_wins() -> None:
    config = make_config()
    first = given_stored(config, sid="first-" + "a" * 26)
    second = given_stored(config, sid="second-" + "b" * 25)
    result = run_cycle(config, cookie=[second, first])  # two Cookie headers
    assert result.session.id == "second-" + "b" * 25


FORGED_PAIR = "connect.sid=s:a.b"  # 17 characters: 858 of them fill a 16 KiB header


@pytest.mark.parametrize("secrets", [1, 5])
def test_a_header_of_858_forged_pairs_costs_a_handful_of_hmacs(
    secrets: int, hmac_count: list[int]
) -> None:
    # issue 10.11: every pair used to be checked (858 x 5 HMACs per request)
    header = "; ".join([FORGED_PAIR] * 858)
    assert len(header) <= MAX_COOKIE_HEADER
    config = make_config(secret=[f"secret {n}" for n in range(secrets)])
    hmac_count[0] = 0
    result = run_cycle(config, cookie=header)
    assert result.session.id == ID1  # a fresh session, as for any forged cookie
    assert result.cycle.had_cookie
    checked = hmac_count[0] - 1  # the new session's own cookie is signed once
    assert checked == MAX_COOKIE_CANDIDATES * secrets
    assert MAX_COOKIE_CANDIDATES == 4


def test_the_first_that_verifies_still_wins_within_the_cap() -> None:
    config = make_config()
    valid = given_stored(config)
    forged = "; ".join([FORGED_PAIR] * (MAX_COOKIE_CANDIDATES - 1))
    result = run_cycle(config, cookie=f"{forged}; {valid}; {forged}")
    assert result.session.id == STORED_ID


def test_a_valid_cookie_behind_the_cap_is_not_looked_at() -> None:
    config = make_config()
    valid = given_stored(config)
    forged = "; ".join([FORGED_PAIR] * MAX_COOKIE_CANDIDATES)
    result = run_cycle(config, cookie=[forged, valid])
    assert result.session.id == ID1
    assert ("get", STORED_ID) not in result.calls


# -- path gating (DIFFERENCE: RFC 6265 path-match) -----------------------------------------------


@pytest.mark.parametrize(
    ("cookie_path", "request_path", "in_scope"),
    [
        ("/admin", "/admin", True),
        ("/admin", "/admin/users", True),
        ("/admin", "/administrator", False),
        ("/admin", "/", False),
        ("/admin/", "/admin/users", True),
        ("/admin/", "/admin", False),
    ],
)
def test_cookie_path_gates_the_session(cookie_path: str, request_path: str, in_scope: bool) -> None:
    config = make_config(cookie={"path": cookie_path})
    cookie = given_stored(config)
    cycle: SessionCycle[Session] = SessionCycle(
        config, RequestReceived(now=NOW, path=request_path, cookie_header=cookie)
    )
    assert cycle.in_scope is in_scope
    if in_scope:
        assert run_cycle(config, path=request_path).set_cookie == (
            f"connect.sid={signed(ID1)}; Path={cookie_path}; HttpOnly"
        )
    else:
        assert cycle.phase is Phase.OUT_OF_SCOPE
        assert not cycle.had_cookie  # the cookie is not even read
        with pytest.raises(CycleStateError):
            cycle.begin()
    assert config.store.calls == ([("set", ID1)] if in_scope else [])


# -- store reads ----------------------------------------------------------------------------------


@pytest.mark.parametrize("unset", ["keep", "destroy"])
def test_failing_store_read_raises_and_destroys_nothing(unset: str) -> None:
    """DIFFERENCE: with unset="destroy" express destroys the session after a failed read."""
    config = make_config(unset=unset)
    cookie = given_stored(config, user="bob")
    config.store.fail["get"] = ConnectionError("redis is down")
    with pytest.raises(StoreError) as raised:
        run_cycle(config, cookie=cookie)
    assert raised.value.operation == "get"
    assert isinstance(raised.value.cause, ConnectionError)
    assert config.store.calls == [("get", STORED_ID)]
    assert config.store.stored(STORED_ID)["user"] == "bob"


def test_missing_session_is_a_new_session() -> None:
    config = make_config()
    result = run_cycle(config, cookie=cookie_header(STORED_ID))
    assert result.session.id == ID1
    assert result.calls == [("get", STORED_ID), ("set", ID1)]
    assert result.set_cookie == f"connect.sid={signed(ID1)}; Path=/; HttpOnly"


def test_enoent_from_the_store_is_not_found() -> None:
    config = make_config()
    cookie = given_stored(config)
    config.store.fail["get"] = FileNotFoundError("no such session")
    result = run_cycle(config, cookie=cookie)
    assert result.session.id == ID1


@pytest.mark.parametrize("age", [60, 61, 3600], ids=["exactly expired", "1s late", "1h late"])
def test_expired_session_is_missing(age: int) -> None:
    """Expiry is the store's job (express's MemoryStore drops ``expires <= now`` on read)."""
    config = make_config()
    cookie = given_stored(config, user="bob")  # saved at NOW for 60 s
    result = run_cycle(config, cookie=cookie, now=NOW + timedelta(seconds=age))
    assert result.session.id == ID1
    assert dict(result.session) == {}
    assert result.calls == [("get", STORED_ID), ("set", ID1)]


def test_a_record_the_store_still_returns_is_live_whatever_its_expires() -> None:
    """connect-redis's touch extends the key's TTL but leaves the stored ``cookie.expires``
    behind, and express's middleware never checks it: the store decides what is alive."""
    config = make_config(resave=False, rolling=True)
    config.store.raw[STORED_ID] = record(60, now=NOW - timedelta(hours=1), user="bob")
    result = run_cycle(config, cookie=cookie_header(STORED_ID))
    assert result.session.id == STORED_ID
    assert dict(result.session) == {"user": "bob"}
    assert result.written("touch")["cookie"]["expires"] == "2026-11-27T22:57:24.381Z"
    assert result.set_cookie == (
        f"connect.sid={signed(STORED_ID)}; Path=/; Expires={EXPIRES_60}; HttpOnly"
    )


@pytest.mark.parametrize(
    "stored",
    [
        ["not", "a", "mapping"],
        "a string",
        {"user": "bob"},  # no cookie
        {"cookie": "yes"},
        {"cookie": {"expires": "soon"}},
        {"cookie": {"expires": 1767225600000}},
        {"cookie": {"originalMaxAge": "a minute", "expires": None}},
        {"cookie": {"expires": None}, "when": object()},  # data JSON cannot carry
    ],
)
def test_invalid_stored_record_is_a_fresh_session_and_a_warning(
    stored: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="coatcheck")
    config = make_config()
    config.store.raw[STORED_ID] = stored
    result = run_cycle(config, cookie=cookie_header(STORED_ID))
    assert result.session.id == ID1
    # issue 10.7: the unusable record is destroyed, so the next request does not read it again
    assert result.calls == [("get", STORED_ID), ("destroy", STORED_ID), ("set", ID1)]
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.name == "coatcheck"
    assert "is invalid" in warning.getMessage()
    assert STORED_ID[:6] in warning.getMessage()
    assert STORED_ID not in caplog.text


def _nested(depth: int) -> Any:
    value: Any = []
    for _ in range(depth):
        value = [value]
    return value


def _cookie(**changes: Any) -> dict[str, Any]:
    cookie = record(60)["cookie"]
    cookie.update(changes)
    return cookie


FAR = "9999-12-31T23:59:59.000Z"
#: Stored records whose cookie cannot be used (issue 10.7): each used to fail every request
#: carrying its id (OverflowError, ValueError at serialisation, RecursionError ...).
UNUSABLE = {
    "originalMaxAge NaN": {"cookie": _cookie(originalMaxAge=float("nan"))},
    "originalMaxAge Infinity": {"cookie": _cookie(originalMaxAge=float("inf"))},
    "originalMaxAge -Infinity": {"cookie": _cookie(originalMaxAge=float("-inf"))},
    "originalMaxAge 1e300": {"cookie": _cookie(originalMaxAge=1e300)},
    "expires year 9999": {
        "cookie": _cookie(
            expires=FAR,
            originalMaxAge=(datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc) - NOW)
            // timedelta(milliseconds=1),
        )
    },
    "expires year 9999, no maxAge": {"cookie": _cookie(expires=FAR, originalMaxAge=None)},
    "sameSite bogus": {"cookie": _cookie(sameSite="sometimes")},
    "sameSite auto": {"cookie": _cookie(sameSite="auto")},
    "priority bogus": {"cookie": _cookie(priority="urgent")},
    "path CR/LF": {"cookie": _cookie(path="/\r\nSet-Cookie: evil=1")},
    "path not a str": {"cookie": _cookie(path=["/"])},
    "domain CR/LF": {"cookie": _cookie(domain="example.com\r\nX: 1")},
    "data nested 2,000 deep": {"cookie": _cookie(), "deep": _nested(2000)},
}


@pytest.mark.parametrize("stored", UNUSABLE.values(), ids=UNUSABLE.keys())
@pytest.mark.parametrize("resave", [True, False])
def test_a_record_with_an_unusable_cookie_is_a_fresh_session_destroyed_once(
    stored: dict[str, Any], resave: bool, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="coatcheck")
    config = make_config(resave=resave, cookie={"max_age": 60})
    config.store.raw[STORED_ID] = stored
    result = run_cycle(config, cookie=cookie_header(STORED_ID), handler=lambda s: s.update(a=1))
    assert result.session.id == ID1
    assert dict(result.session) == {"a": 1}
    assert result.calls == [("get", STORED_ID), ("destroy", STORED_ID), ("set", ID1)]
    assert result.set_cookie is not None
    assert result.set_cookie.startswith(f"connect.sid={signed(ID1)};")
    (warning,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert "is invalid" in warning.getMessage()
    assert STORED_ID[:6] in warning.getMessage()
    assert STORED_ID not in caplog.text
    # the browser's next request, with the new cookie, just works
    again = run_cycle(config, cookie=result.cookie)
    assert again.session.id == ID1
    assert dict(again.session) == {"a": 1}


def test_an_unusable_record_in_a_real_store_is_gone_after_one_request() -> None:
    config = make_config(resave=False, save_uninitialized=False)
    config.store.put(STORED_ID, {"cookie": _cookie(originalMaxAge=1e300), "user": "bob"})
    result = run_cycle(config, cookie=cookie_header(STORED_ID))
    assert result.session.id == ID1
    assert config.store.stored(STORED_ID) is None
    assert run_cycle(config, cookie=cookie_header(STORED_ID)).calls == [("get", STORED_ID)]


@pytest.mark.parametrize(
    ("attribute", "value", "message"),
    [
        ("expires", datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone.utc), "within 1000 years"),
        ("expires", datetime(1, 1, 1, tzinfo=timezone.utc), "within 1000 years"),
        ("max_age", 1e300, "at most"),
        ("max_age", -1e300, "at most"),
        ("max_age", float("nan"), "finite"),
        ("max_age", timedelta(days=999_999_999), "at most"),
        ("same_site", "sometimes", "option sameSite is invalid"),
        ("same_site", "auto", "option sameSite is invalid"),
        ("priority", "urgent", "option priority is invalid"),
        ("path", "/\r\nX: 1", "option path is invalid"),
        ("domain", "example.com\n", "option domain is invalid"),
    ],
)
def test_the_app_setting_an_unusable_cookie_value_fails_at_the_assignment(
    attribute: str, value: Any, message: str
) -> None:
    config = make_config(cookie={"max_age": 60})
    failures: list[BaseException] = []

    def handler(session: SyncSession) -> None:
        session["a"] = 1
        try:
            setattr(session.cookie, attribute, value)
        except ValueError as exc:
            failures.append(exc)

    first = run_cycle(config, handler=handler)
    (failure,) = failures
    assert type(failure) is ValueError
    assert str(failure).startswith(f"cookie.{attribute}")
    assert message in str(failure)
    # nothing of it was kept: this response and every later request work
    assert first.written()["cookie"] == record(60)["cookie"]
    assert dict(run_cycle(config, cookie=first.cookie).session) == {"a": 1}


def test_the_app_may_still_set_a_long_but_sane_lifetime() -> None:
    config = make_config()

    def handler(session: SyncSession) -> None:
        session.cookie.expires = NOW + timedelta(days=365 * 100)

    first = run_cycle(config, handler=handler)
    later = run_cycle(config, cookie=first.cookie, now=NOW + timedelta(days=1))
    assert later.session.id == ID1


# -- modifications ------------------------------------------------------------------------------


def test_cookie_only_changes_are_not_modifications() -> None:
    config = make_config(resave=False)

    def handler(session: SyncSession) -> None:
        session.cookie.max_age = 120

    result = run_cycle(config, cookie=given_stored(config, user="bob"), handler=handler)
    assert result.calls == [("get", STORED_ID), ("touch", STORED_ID)]
    assert result.set_cookie is None  # express re-sends only with rolling
    assert result.written("touch")["cookie"]["originalMaxAge"] == 120000


def test_nested_mutation_is_a_modification() -> None:
    config = make_config(resave=False)

    def handler(session: SyncSession) -> None:
        session["cart"]["items"].append("pear")

    cookie = given_stored(config, cart={"items": ["apple"]})
    result = run_cycle(config, cookie=cookie, handler=handler)
    assert result.calls == [("get", STORED_ID), ("set", STORED_ID)]
    assert result.written()["cart"] == {"items": ["apple", "pear"]}


def test_key_reorder_is_a_modification() -> None:
    config = make_config(resave=False)

    def handler(session: SyncSession) -> None:
        session["a"] = session.pop("a")

    result = run_cycle(config, cookie=given_stored(config, a=1, b=2), handler=handler)
    assert result.calls == [("get", STORED_ID), ("set", STORED_ID)]
    assert list(result.written()) == ["cookie", "b", "a"]


def test_writing_the_same_value_is_not_a_modification() -> None:
    config = make_config(resave=False)
    result = run_cycle(config, cookie=given_stored(config, a=1), handler=lambda s: s.update(a=1))
    assert result.calls == [("get", STORED_ID), ("touch", STORED_ID)]


def test_replacing_the_session_with_a_mapping_replaces_its_data() -> None:
    """DIFFERENCE: express hangs the response when req.session becomes a plain object."""
    config = make_config(resave=False)

    def handler(session: SyncSession) -> None:
        session.cycle.replace({"b": 2, "cookie": "ignored"})

    result = run_cycle(config, cookie=given_stored(config, a=1), handler=handler)
    assert dict(result.session) == {"b": 2}
    assert result.calls == [("get", STORED_ID), ("set", STORED_ID)]
    assert result.written() == {"cookie": record(60)["cookie"], "b": 2}
    assert result.vary


def test_replacing_after_unset_keeps_the_session() -> None:
    config = make_config(unset="destroy")

    def handler(session: SyncSession) -> None:
        session.cycle.set_unset()
        session.cycle.replace({"b": 2})

    result = run_cycle(config, handler=handler)
    assert result.calls == [("set", ID1)]


def test_non_json_data_fails_at_decide_before_any_write() -> None:
    config = make_config()
    with pytest.raises(InvalidRecordError, match="not JSON-serialisable"):
        run_cycle(config, handler=lambda s: s.update(when=datetime.now(timezone.utc)))
    with pytest.raises(InvalidRecordError):
        run_cycle(config, handler=lambda s: s.update(n=float("nan")))
    assert config.store.calls == []


# -- destroy (DIFFERENCES: once, and the browser is told to forget) -------------------------------


def test_destroy_hits_the_store_once_and_clears_the_cookie() -> None:
    config = make_config()
    result = run_cycle(config, cookie=given_stored(config), handler=lambda s: s.destroy())
    assert result.calls == [("get", STORED_ID), ("destroy", STORED_ID)]
    assert result.operations == ()
    assert result.set_cookie == f"connect.sid=; Path=/; {CLEARING}; HttpOnly"
    assert config.store.stored(STORED_ID) is None
    assert result.vary


def test_destroy_with_unset_destroy_hits_the_store_once() -> None:
    """DIFFERENCE: express calls store.destroy twice (§17.5)."""
    config = make_config(unset="destroy")

    def handler(session: SyncSession) -> None:
        session.destroy()
        session.cycle.set_unset()

    result = run_cycle(config, cookie=given_stored(config), handler=handler)
    assert result.calls == [("get", STORED_ID), ("destroy", STORED_ID)]


def test_destroy_clearing_cookie_keeps_path_domain_and_flags() -> None:
    config = make_config(
        cookie={
            "path": "/app",
            "domain": "example.com",
            "secure": True,
            "partitioned": True,
            "same_site": "strict",
            "priority": "high",
            "max_age": 60,
        }
    )
    first = run_cycle(config, path="/app", secure=True)
    result = run_cycle(
        config, cookie=first.cookie, path="/app/x", secure=True, handler=lambda s: s.destroy()
    )
    assert result.set_cookie == (
        f"connect.sid=; Domain=example.com; Path=/app; {CLEARING}; "
        "HttpOnly; Secure; Partitioned; SameSite=Strict"
    )


def test_destroy_without_our_cookie_sends_no_set_cookie() -> None:
    config = make_config()
    result = run_cycle(config, cookie="other=1", handler=lambda s: s.destroy())
    assert result.calls == [("destroy", ID1)]
    assert result.set_cookie is None


def test_destroy_clears_an_invalid_cookie_of_our_name_too() -> None:
    result = run_cycle(make_config(), cookie="connect.sid=bogus", handler=lambda s: s.destroy())
    assert result.set_cookie == f"connect.sid=; Path=/; {CLEARING}; HttpOnly"


def test_after_destroy_nothing_is_saved() -> None:
    config = make_config()

    def handler(session: SyncSession) -> None:
        session.destroy()
        session["late"] = 1
        session.save()

    result = run_cycle(config, cookie=given_stored(config), handler=handler)
    assert result.calls == [("get", STORED_ID), ("destroy", STORED_ID)]
    assert dict(result.session) == {"late": 1}


# -- regenerate -------------------------------------------------------------------------------


def test_regenerate_drops_the_data_by_default() -> None:
    config = make_config(resave=False)
    result = run_cycle(
        config, cookie=given_stored(config, cart=["apple"]), handler=lambda s: s.regenerate()
    )
    assert result.session.id == ID1
    assert dict(result.session) == {}
    assert result.calls == [("get", STORED_ID), ("destroy", STORED_ID), ("set", ID1)]


def test_regenerate_keep_data_moves_the_data_to_the_new_id() -> None:
    """DIFFERENCE (express #425): fixation defence at login without losing the cart."""
    config = make_config(resave=False, cookie={"max_age": 60})

    def handler(session: SyncSession) -> None:
        session.regenerate(keep_data=True)
        session["user"] = "bob"

    result = run_cycle(config, cookie=given_stored(config, cart=["apple"]), handler=handler)
    assert result.calls == [("get", STORED_ID), ("destroy", STORED_ID), ("set", ID1)]
    assert result.written() == {
        "cookie": {
            "originalMaxAge": 60000,
            "expires": iso(NOW + timedelta(seconds=60)),
            "httpOnly": True,
            "path": "/",
        },
        "cart": ["apple"],
        "user": "bob",
    }
    assert result.set_cookie == (
        f"connect.sid={signed(ID1)}; Path=/; Expires={EXPIRES_60}; HttpOnly"
    )
    assert config.store.stored(STORED_ID) is None


def test_destroy_then_regenerate_destroys_once_and_sends_the_new_cookie() -> None:
    config = make_config()

    def handler(session: SyncSession) -> None:
        session.destroy()
        session.regenerate()

    result = run_cycle(config, cookie=given_stored(config), handler=handler)
    assert result.calls == [("get", STORED_ID), ("destroy", STORED_ID), ("set", ID1)]
    assert result.set_cookie == f"connect.sid={signed(ID1)}; Path=/; HttpOnly"


def test_regenerate_gives_a_new_cookie_from_the_options() -> None:
    config = make_config(cookie={"max_age": 60, "same_site": "lax"})
    cookie = given_stored(config, max_age=None)  # stored as a browser-session cookie
    result = run_cycle(config, cookie=cookie, handler=lambda s: s.regenerate())
    assert result.session.cookie.original_max_age == 60.0
    assert result.set_cookie == (
        f"connect.sid={signed(ID1)}; Path=/; Expires={EXPIRES_60}; HttpOnly; SameSite=Lax"
    )


def test_several_configs_sharing_one_store_do_not_interfere() -> None:
    """express #988: the last-built middleware's options leak into the others' regenerate."""
    store = RecordingStore()
    shop = make_config(name="shop.sid", store=store, cookie={"max_age": 60}, genid=SequentialIds())
    admin = make_config(
        name="admin.sid",
        store=store,
        cookie={"path": "/admin", "same_site": "strict"},
        genid=lambda request: "admin-" + "z" * 26,
    )
    store.put(STORED_ID, record(60, cart=["apple"]))
    shop_cookie = cookie_header(STORED_ID, name="shop.sid")
    result = run_cycle(shop, cookie=shop_cookie, handler=lambda s: s.regenerate(keep_data=True))
    assert result.set_cookie == (f"shop.sid={signed(ID1)}; Path=/; Expires={EXPIRES_60}; HttpOnly")
    admin_result = run_cycle(admin, path="/admin", handler=lambda s: s.regenerate())
    assert admin_result.set_cookie == (
        f"admin.sid={signed('admin-' + 'z' * 26)}; Path=/admin; HttpOnly; SameSite=Strict"
    )
    assert store.stored(ID1) is not None
    assert store.stored(ID1)["cart"] == ["apple"]  # type: ignore[index]


# -- genid returning something else than a str -------------------------------------------------


def test_genid_returning_a_non_str_is_never_saved_touched_or_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="coatcheck")
    config = make_config(genid=lambda request: 42, resave=False, rolling=True)

    def handler(session: SyncSession) -> None:
        session["a"] = 1
        session.save()

    result = run_cycle(config, cookie=cookie_header(STORED_ID), handler=handler)
    assert cast(object, result.session.id) == 42
    assert result.calls == [("get", STORED_ID)]
    assert result.set_cookie is None
    assert "genid returned" in caplog.text
    assert run_cycle(config, after_headers=lambda s: s.update(b=2)).calls == []


# -- secure cookies over http ---------------------------------------------------------------------


def test_secure_cookie_over_http_is_not_sent_but_the_session_is_stored() -> None:
    config = make_config(cookie={"secure": True, "max_age": 60})
    result = run_cycle(config, handler=lambda s: s.update(a=1))
    assert result.set_cookie is None
    assert result.calls == [("set", ID1)]
    assert result.vary


def test_secure_cookie_over_http_loaded_session_is_still_touched() -> None:
    config = make_config(resave=False, rolling=True, cookie={"secure": True})
    first = run_cycle(config, secure=True)
    again = run_cycle(config, cookie=first.cookie, now=LATER)
    assert again.set_cookie is None
    assert again.calls == [("get", ID1), ("touch", ID1)]


def test_secure_cookie_over_https_is_sent() -> None:
    config = make_config(cookie={"secure": True})
    result = run_cycle(config, secure=True)
    assert result.set_cookie == f"connect.sid={signed(ID1)}; Path=/; HttpOnly; Secure"


# -- rolling ------------------------------------------------------------------------------------


def test_rolling_resends_a_loaded_browser_session_cookie() -> None:
    config = make_config(resave=False, rolling=True)
    result = run_cycle(config, cookie=given_stored(config, max_age=None))
    assert result.set_cookie == f"connect.sid={signed(STORED_ID)}; Path=/; HttpOnly"
    assert result.calls == [("get", STORED_ID), ("touch", STORED_ID)]


def test_rolling_slides_expires_on_every_response() -> None:
    config = make_config(resave=False, rolling=True, cookie={"max_age": 60})
    first = run_cycle(config)
    later = run_cycle(config, cookie=first.cookie, now=LATER)
    assert later.set_cookie == (
        f"connect.sid={signed(ID1)}; Path=/; Expires=Fri, 27 Nov 2026 22:57:54 GMT; HttpOnly"
    )
    assert later.written("touch")["cookie"]["expires"] == "2026-11-27T22:57:54.381Z"


# -- secret rotation ------------------------------------------------------------------------------


def test_old_secret_cookie_is_accepted_but_not_resigned_unless_resent() -> None:
    config = make_config(secret=["new secret", SECRET], resave=False)
    config.store.put(STORED_ID, record(60))
    old_cookie = cookie_header(STORED_ID, SECRET)
    untouched = run_cycle(config, cookie=old_cookie)
    assert untouched.session.id == STORED_ID
    assert untouched.set_cookie is None
    modified = run_cycle(config, cookie=old_cookie, handler=lambda s: s.update(a=1))
    assert modified.cookie == f"connect.sid={signed(STORED_ID, 'new secret')}"


# -- Vary: Cookie (DIFFERENCE) ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("handler", "vary"),
    [
        (None, False),
        (lambda s: s.get("a"), True),
        (lambda s: "a" in s, True),
        (lambda s: len(s), True),
        (lambda s: list(s), True),
        (lambda s: s.update(a=1), True),
        (lambda s: s.cookie.max_age, False),  # the cookie is not the data
        (lambda s: s.id, False),
    ],
    ids=["noop", "get", "contains", "len", "iter", "write", "cookie", "id"],
)
def test_vary_when_the_session_was_read_or_written(
    handler: Callable[[SyncSession], object] | None, vary: bool
) -> None:
    config = make_config(resave=False)
    cookie = given_stored(config, max_age=None, a=0)  # a browser-session cookie is not re-sent
    result = run_cycle(config, cookie=cookie, handler=handler)
    assert result.set_cookie is None
    assert result.vary is vary


def test_vary_when_a_cookie_is_set() -> None:
    result = run_cycle(make_config(save_uninitialized=True))
    assert result.set_cookie is not None
    assert result.vary


def test_no_vary_for_an_untouched_uninitialized_session() -> None:
    result = run_cycle(make_config(save_uninitialized=False))
    assert (result.set_cookie, result.calls, result.vary) == (None, [], False)


def test_vary_on_unset() -> None:
    result = run_cycle(make_config(), handler=lambda s: s.cycle.set_unset())
    assert result.vary


# -- after the headers (streaming bodies) ---------------------------------------------------------


def test_late_change_is_saved_without_a_cookie() -> None:
    """express: data added after the headers is saved, but the cookie decision was taken."""
    config = make_config(save_uninitialized=False)
    result = run_cycle(config, after_headers=lambda s: s.update(a=1))
    assert result.set_cookie is None
    assert result.calls == [("set", ID1)]
    assert result.written()["a"] == 1


def test_no_late_write_without_a_late_change() -> None:
    config = make_config(resave=False)
    result = run_cycle(
        config,
        cookie=given_stored(config, a=1),
        handler=lambda s: s.update(a=2),
        after_headers=lambda s: s.get("a"),
    )
    assert result.calls == [("get", STORED_ID), ("set", STORED_ID)]


def test_late_change_after_a_save_is_saved_again() -> None:
    config = make_config()
    result = run_cycle(
        config, handler=lambda s: s.update(a=1), after_headers=lambda s: s.update(a=2)
    )
    assert result.calls == [("set", ID1), ("set", ID1)]
    assert config.store.stored(ID1)["a"] == 2


def test_late_explicit_save_is_not_repeated() -> None:
    config = make_config()

    def late(session: SyncSession) -> None:
        session["a"] = 2
        session.save()

    result = run_cycle(config, handler=lambda s: s.update(a=1), after_headers=late)
    assert result.calls == [("set", ID1), ("set", ID1)]


@pytest.mark.parametrize(
    "handler", [lambda s: s.destroy(), lambda s: s.cycle.set_unset()], ids=["destroy", "unset"]
)
def test_no_late_write_after_destroy_or_unset(handler: Callable[[SyncSession], object]) -> None:
    config = make_config()
    result = run_cycle(config, handler=handler, after_headers=lambda s: s.update(a=1))
    assert ("set", ID1) not in result.calls


# -- the state machine ---------------------------------------------------------------------------


def new_cycle(cookie: str | None = None) -> SessionCycle[Session]:
    config = make_config()
    if cookie == "stored":
        cookie = given_stored(config)
    return SessionCycle(config, RequestReceived(now=NOW, cookie_header=cookie))


def phase(cycle: SessionCycle[Session]) -> Phase:
    return cycle.phase


def test_sans_io_cycle_without_a_driver() -> None:
    cycle = new_cycle("stored")
    assert phase(cycle) is Phase.STARTED
    assert cycle.begin() == StoreGet(STORED_ID)
    assert phase(cycle) is Phase.LOADING
    session = cycle.loaded(record(60, n=1))
    assert phase(cycle) is Phase.ACTIVE
    session["n"] = 2
    decision = cycle.decide()
    assert phase(cycle) is Phase.DECIDED
    assert decision.operations == (StoreSet(STORED_ID, record(60, n=2)),)
    assert decision.set_cookie == (
        f"connect.sid={signed(STORED_ID)}; Path=/; Expires={EXPIRES_60}; HttpOnly"
    )
    assert decision.vary_cookie


def test_decide_takes_the_time_of_the_response() -> None:
    cycle = new_cycle()
    cycle.begin()
    cycle.session.cookie.max_age = 60
    decision = cycle.decide(NOW + timedelta(seconds=5, microseconds=999))
    assert "Expires=Fri, 27 Nov 2026 22:57:29 GMT" in (decision.set_cookie or "")
    (op,) = decision.operations
    assert isinstance(op, StoreSet)
    assert op.record["cookie"]["expires"] == "2026-11-27T22:57:29.381Z"


def test_decide_refuses_a_naive_time() -> None:
    cycle = new_cycle()
    cycle.begin()
    with pytest.raises(ValueError, match="timezone-aware"):
        cycle.decide(datetime(2026, 11, 27, 23, 0))


def test_session_methods_return_operations_for_a_driver() -> None:
    cycle = new_cycle("stored")
    cycle.begin()
    cycle.loaded(record(60))
    assert cycle.reload() == [StoreGet(STORED_ID)]
    cycle.reloaded(record(60, n=1))
    assert dict(cycle.session) == {"n": 1}
    assert cycle.regenerate() == [StoreDestroy(STORED_ID)]
    (save,) = cycle.save()
    assert save == StoreSet(ID1, cycle.record())
    assert cycle.destroy() == [StoreDestroy(ID1)]


@pytest.mark.parametrize(
    ("steps", "bad"),
    [
        ([], lambda c: c.loaded(None)),  # loaded() without a StoreGet
        ([], lambda c: c.decide()),  # before begin()
        ([], lambda c: c.late_operations()),
        (["begin"], lambda c: c.begin()),  # twice
        (["begin"], lambda c: c.decide()),  # still loading
        (["begin"], lambda c: c.regenerate()),
        (["begin", "loaded"], lambda c: c.loaded(None)),
        (["begin", "loaded"], lambda c: c.late_operations()),
        (["begin", "loaded", "decide"], lambda c: c.decide()),  # twice
        (["begin", "loaded", "decide"], lambda c: c.regenerate()),
        (["begin", "loaded", "decide"], lambda c: c.destroy()),
        (["begin", "loaded", "decide"], lambda c: c.reload()),
        (["begin", "loaded", "decide"], lambda c: c.reloaded(None)),
    ],
)
def test_misuse_fails_loudly(
    steps: list[str], bad: Callable[[SessionCycle[Session]], object]
) -> None:
    cycle = new_cycle("stored")
    for step in steps:
        if step == "begin":
            cycle.begin()
        elif step == "loaded":
            cycle.loaded(record(60))
        else:
            cycle.decide()
    with pytest.raises(CycleStateError, match=r"^session cycle is \w+"):
        bad(cycle)


@pytest.mark.parametrize(
    ("cookie", "change", "modified"),
    [
        (None, None, False),
        (None, lambda s: s.update(a=1), True),
        (None, lambda s: s.regenerate(), True),
        ("stored", None, False),
        ("stored", lambda s: s.cookie.__setattr__("max_age", 5), False),
        ("stored", lambda s: s.update(a=1), True),
        ("stored", lambda s: s.cycle.replace({}), False),
    ],
)
def test_is_modified_now(
    cookie: str | None, change: Callable[[SyncSession], object] | None, modified: bool
) -> None:
    config = make_config()
    seen: list[bool] = []

    def handler(session: SyncSession) -> None:
        assert not session.cycle.is_modified()
        if change is not None:
            change(session)
        seen.append(session.cycle.is_modified())

    run_cycle(config, cookie=given_stored(config) if cookie else None, handler=handler)
    assert seen == [modified]


def test_save_is_allowed_after_decide() -> None:
    cycle = new_cycle()
    cycle.begin()
    cycle.decide()
    assert cycle.save() == [StoreSet(ID1, cycle.record())]


def test_reloaded_with_nothing_raises_session_not_found() -> None:
    from coatcheck import SessionNotFound

    cycle = new_cycle("stored")
    cycle.begin()
    cycle.loaded(record(60))
    with pytest.raises(SessionNotFound, match="failed to load session"):
        cycle.reloaded(None)


# -- logging ---------------------------------------------------------------------------------------


def test_every_decision_is_logged_with_only_an_id_prefix(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="coatcheck")
    config = make_config(
        resave=False, save_uninitialized=False, unset="destroy", cookie={"secure": True}
    )
    cycles: list[tuple[str | None, Callable[[SyncSession], object] | None]] = [
        (None, None),  # new, nothing to do
        (None, lambda s: s.update(a=1)),  # new, saved (secure cookie over http: not sent)
        ("stored", None),  # loaded, touched
        ("stored", lambda s: s.update(a=2)),  # loaded, saved
        ("stored", lambda s: s.regenerate()),
        ("stored", lambda s: s.destroy()),
        ("stored", lambda s: s.cycle.set_unset()),
        ("missing", None),
        ("invalid", None),
        ("bogus", None),
    ]
    summaries = [
        "no Set-Cookie, no store call",
        "no Set-Cookie (not secured), set",
        "no Set-Cookie, touch",
        "Set-Cookie, set",  # the stored cookie is not a secure one
        "no Set-Cookie (not secured), set",  # regenerated: a new cookie from the options
        "clearing Set-Cookie, no store call",
        "no Set-Cookie, destroy",
        "no Set-Cookie, no store call",
        "no Set-Cookie, no store call",  # (its invalid record is destroyed at load, 10.7)
        "no Set-Cookie, no store call",
    ]
    seen: list[str] = []
    ids: set[str] = set()
    for cookie, handler in cycles:
        caplog.clear()
        header = None
        if cookie == "stored":
            header = given_stored(config)
        elif cookie == "missing":
            header = cookie_header("missing-" + "m" * 24)
        elif cookie == "invalid":
            config.store.raw["invalid-" + "i" * 24] = {"no": "cookie"}
            header = cookie_header("invalid-" + "i" * 24)
        elif cookie == "bogus":
            header = "connect.sid=s%3Aforged-" + "f" * 24 + ".sig"
        result = run_cycle(config, cookie=header, handler=handler)
        ids |= {STORED_ID, result.session.id, "missing-" + "m" * 24, "invalid-" + "i" * 24}
        decided = [
            r.getMessage()
            for r in caplog.records
            if r.levelno == logging.DEBUG and r.getMessage().startswith("decided ")
        ]
        assert decided == [f"decided {result.session.id[:6]}…: {summaries[len(seen)]}"]
        seen.append(decided[0])
        assert all(r.name == "coatcheck" for r in caplog.records)
        for sid in ids:
            assert sid not in caplog.text


def test_store_error_shows_only_an_id_prefix() -> None:
    config = make_config()
    cookie = given_stored(config)
    config.store.fail["get"] = ConnectionError("down")
    with pytest.raises(StoreError) as raised:
        run_cycle(config, cookie=cookie)
    assert STORED_ID not in str(raised.value)
    assert raised.value.sid_prefix == STORED_ID[:6] + "…"
    assert (
        str(raised.value) == f"store get failed (session {STORED_ID[:6]}…): ConnectionError: down"
    )


def test_session_repr_shows_only_an_id_prefix() -> None:
    result = run_cycle(make_config(), handler=lambda s: s.update(a=1))
    assert repr(result.session) == f"<SyncSession {ID1[:6]}… {{'a': 1}}>"
    assert ID2 not in repr(result.session)


def test_late_change_to_an_equal_value_of_another_type_is_saved() -> None:
    """``1 == True`` in Python, not in JSON: the late check compares objects, then hashes."""
    config = make_config(resave=False)
    result = run_cycle(
        config, handler=lambda s: s.update(a=1), after_headers=lambda s: s.update(a=True)
    )
    assert result.calls == [("set", ID1), ("set", ID1)]
    assert config.store.stored(ID1)["a"] is True


def test_late_nested_change_through_an_earlier_reference_is_saved() -> None:
    config = make_config(resave=False)
    kept: list[list[int]] = []

    def handler(session: SyncSession) -> None:
        session["cart"] = [1]
        kept.append(session["cart"])

    result = run_cycle(config, handler=handler, after_headers=lambda s: kept[0].append(2))
    assert result.calls == [("set", ID1), ("set", ID1)]
    assert config.store.stored(ID1)["cart"] == [1, 2]


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=8,
)


@given(
    data=st.dictionaries(
        st.text().filter(lambda k: k not in ("cookie", "_coatcheck")), json_values, max_size=4
    ),
    max_lifetime=st.sampled_from([None, 3600]),
    cookie_first=st.booleans(),
)
def test_the_written_text_is_the_records_json(
    data: dict[str, Any], max_lifetime: int | None, cookie_first: bool
) -> None:
    """The store writes the text the cycle spliced from its hash's JSON: exactly the JSON of
    the record it hands over (express's JSON.stringify spelling), whatever the data."""
    config = make_config(resave=False, max_lifetime=max_lifetime)
    stored = record(**({"x": 1} if cookie_first else {}))
    if not cookie_first:
        stored = {"x": 1, **stored}
    cast(Any, config.store).put(STORED_ID, stored)
    cycle = SessionCycle(config, RequestReceived(now=NOW, cookie_header=cookie_header(STORED_ID)))
    cycle.begin()
    cycle.loaded(config.store.get(STORED_ID))
    cycle.session.update(data)
    written = cycle.encoded_record(data_json(cycle.session))
    assert encode_record(written) == to_json(dict(written))
    assert list(written) == list(cycle.record())
