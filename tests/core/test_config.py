"""Options: every entry of DESIGN.md's option table, its default, its effect, and its errors.

Each ``ConfigError`` is raised when the config is built and names the offending option.
"""

from __future__ import annotations

import logging
import re
import warnings
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from coatcheck import (
    AsyncDriver,
    ConfigError,
    ConfigWarning,
    CookieOptions,
    RequestReceived,
    SessionConfig,
    SyncDriver,
    SyncSession,
    check_option_names,
    default_genid,
)
from coatcheck.stores import MemoryStore, SQLiteStore
from coatcheck.stores._async import to_async
from coatcheck.stores.memory import looks_like_production

from .cycle import (
    EXPIRES_60,
    ID1,
    NOW,
    SECRET,
    RecordingStore,
    RecordingStoreWithoutTouch,
    SequentialIds,
    cookie_header,
    make_config,
    run_cycle,
    signed,
)

PRODUCTION_ENV_VARS = ("COATCHECK_ENV", "APP_ENV", "PYTHON_ENV", "ENV")
#: Production also warns about a short secret (issue 10.6): these tests use a long one.
LONG_SECRET = "a-production-grade-secret-of-40-characters"


@pytest.fixture(autouse=True)
def _not_production(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in PRODUCTION_ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def build(**options: Any) -> SessionConfig:
    """``from_options`` with the flags given (no FutureWarning) and a secret unless overridden."""
    options.setdefault("secret", SECRET)
    options.setdefault("resave", False)
    options.setdefault("save_uninitialized", False)
    return SessionConfig.from_options(**options)


# -- defaults --------------------------------------------------------------------------------


def test_defaults_are_express_s() -> None:
    config = SessionConfig.from_options(secret=SECRET, resave=True, save_uninitialized=True)
    assert config.secrets == (SECRET,)
    assert config.name == "connect.sid"
    assert config.cookie == CookieOptions()
    assert config.cookie == CookieOptions(path="/", http_only=True, secure=None, max_age=None)
    assert config.genid is default_genid
    assert config.proxy is None
    assert config.resave is True
    assert config.rolling is False
    assert config.save_uninitialized is True
    assert isinstance(config.store, MemoryStore)
    assert config.unset == "keep"


def test_default_genid_is_uid_safe_24_bytes() -> None:
    ids = {default_genid(None) for _ in range(200)}
    assert len(ids) == 200
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{32}", sid) for sid in ids)


def test_resave_not_given_warns_and_defaults_to_true() -> None:
    with pytest.warns(FutureWarning, match="undefined resave option; provide resave option"):
        config = SessionConfig.from_options(secret=SECRET, save_uninitialized=False)
    assert config.resave is True


def test_save_uninitialized_not_given_warns_and_defaults_to_true() -> None:
    with pytest.warns(FutureWarning, match="provide save_uninitialized option"):
        config = SessionConfig.from_options(secret=SECRET, resave=False)
    assert config.save_uninitialized is True


def test_both_flags_not_given_warn_twice() -> None:
    with pytest.warns(FutureWarning) as caught:
        SessionConfig.from_options(secret=SECRET)
    messages = sorted(str(w.message) for w in caught)
    assert len(messages) == 2
    assert "resave" in messages[0]
    assert "save_uninitialized" in messages[1]


def test_flags_given_do_not_warn() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        SessionConfig.from_options(secret=SECRET, resave=True, save_uninitialized=True)


# -- MemoryStore in production ----------------------------------------------------------------


@pytest.mark.parametrize("variable", PRODUCTION_ENV_VARS)
def test_memory_store_in_production_warns(monkeypatch: pytest.MonkeyPatch, variable: str) -> None:
    monkeypatch.setenv(variable, " Production ")
    assert looks_like_production()
    with pytest.warns(RuntimeWarning, match="MemoryStore is not designed for a production"):
        build(store=MemoryStore(), secret=LONG_SECRET)


def test_default_store_in_production_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COATCHECK_ENV", "production")
    with pytest.warns(RuntimeWarning, match="MemoryStore"):
        config = build(secret=LONG_SECRET)
    assert isinstance(config.store, MemoryStore)


def test_other_stores_in_production_do_not_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COATCHECK_ENV", "production")
    build(store=RecordingStore(), secret=LONG_SECRET)  # filterwarnings=error would fail this


def test_memory_store_outside_production_does_not_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ENV", "development")
    assert not looks_like_production()
    build(store=MemoryStore())


# -- every ConfigError, naming its option -------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "option", "message"),
    [
        ({"secret": None}, "secret", "secret option required for sessions"),
        ({"secret": ""}, "secret", "secret option required for sessions"),
        ({"secret": b""}, "secret", "secret option required for sessions"),
        ({"secret": []}, "secret", "secret option array must contain one or more strings"),
        ({"secret": ()}, "secret", "secret option array must contain one or more strings"),
        ({"secret": ["ok", ""]}, "secret", "every secret must be a non-empty str or bytes"),
        ({"secret": ["ok", 3]}, "secret", "every secret must be a non-empty str or bytes"),
        ({"secret": [None]}, "secret", "every secret must be a non-empty str or bytes"),
        ({"secret": 5}, "secret", "must be a str, bytes or a list of them"),
        ({"secret": {"a", "b"}}, "secret", "must be a str, bytes or a list of them"),
        ({"unset": "drop"}, "unset", 'unset option must be "destroy" or "keep"'),
        ({"unset": True}, "unset", 'unset option must be "destroy" or "keep"'),
        ({"genid": "uuid4"}, "genid", "genid option must be a function"),
        ({"name": "my session"}, "name", "not a valid cookie name"),
        ({"name": ""}, "name", "not a valid cookie name"),
        ({"name": "sid\n"}, "name", "not a valid cookie name"),
        ({"name": 42}, "name", "not a valid cookie name"),
        ({"proxy": "yes"}, "proxy", "must be True, False or None"),
        ({"proxy": 1}, "proxy", "must be True, False or None"),
        ({"proxy": 0}, "proxy", "must be True, False or None"),
        ({"resave": "false"}, "resave", "must be a bool"),
        ({"resave": None}, "resave", "must be a bool"),
        ({"rolling": 1}, "rolling", "must be a bool"),
        ({"save_uninitialized": "no"}, "save_uninitialized", "must be a bool"),
        ({"cookie": {"path": "/a;b"}}, "cookie.path", "option path is invalid"),
        ({"cookie": {"path": "/\n"}}, "cookie.path", "option path is invalid"),
        ({"cookie": {"path": None}}, "cookie.path", "option path is invalid"),
        ({"cookie": {"domain": "exa mple.com"}}, "cookie.domain", "option domain is invalid"),
        ({"cookie": {"domain": 7}}, "cookie.domain", "option domain is invalid"),
        ({"cookie": {"same_site": "sometimes"}}, "cookie.same_site", "option sameSite is invalid"),
        ({"cookie": {"same_site": 1}}, "cookie.same_site", "option sameSite is invalid"),
        ({"cookie": {"priority": "urgent"}}, "cookie.priority", "option priority is invalid"),
        ({"cookie": {"priority": True}}, "cookie.priority", "option priority is invalid"),
        ({"cookie": {"secure": "yes"}}, "cookie.secure", 'must be True, False or "auto"'),
        ({"cookie": {"secure": 1}}, "cookie.secure", 'must be True, False or "auto"'),
        ({"cookie": {"http_only": "false"}}, "cookie.http_only", "must be a bool"),
        ({"cookie": {"partitioned": "yes"}}, "cookie.partitioned", "must be a bool"),
        ({"cookie": {"max_age": "60"}}, "cookie.max_age", "must be a number of seconds"),
        ({"cookie": {"max_age": True}}, "cookie.max_age", "must be a number of seconds"),
        ({"cookie": {"max_age": float("inf")}}, "cookie.max_age", "must be a finite number"),
        ({"cookie": {"max_age": float("nan")}}, "cookie.max_age", "must be a finite number"),
        ({"cookie": {"max_age": 1e300}}, "cookie.max_age", "must be at most"),
        ({"cookie": {"max_age": timedelta(days=10**6)}}, "cookie.max_age", "must be at most"),
        (
            {"cookie": {"expires": datetime(9999, 12, 31, tzinfo=timezone.utc)}},
            "cookie.expires",
            "must be within 1000 years of now",
        ),
        (
            {"cookie": {"expires": datetime(2030, 1, 1)}},
            "cookie.expires",
            "must be a timezone-aware datetime",
        ),
        ({"cookie": {"expires": "2030-01-01"}}, "cookie.expires", "timezone-aware datetime"),
        (
            {"cookie": {"max_age": 60, "expires": datetime(2030, 1, 1, tzinfo=timezone.utc)}},
            "cookie",
            "set max_age or expires, not both",
        ),
        ({"cookie": {"maxAge": 60}}, "cookie", "unknown cookie option(s): maxAge"),
        ({"cookie": {"signed": True, "overwrite": 1}}, "cookie", "overwrite, signed"),
        ({"cookie": 60}, "cookie", "must be CookieOptions, a dict or a callable"),
        ({"store": object()}, "store", "store must implement get, set and destroy"),
    ],
)
def test_config_error_names_the_option(options: dict[str, Any], option: str, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        build(**options)
    assert raised.value.option == option
    assert str(raised.value).startswith(f"{option}: ")
    assert message in str(raised.value)


def test_store_lacking_methods_lists_them() -> None:
    class GetOnly:
        def get(self, sid: str) -> None:
            return None

    with pytest.raises(ConfigError, match=r"^store: .*lacks \['set', 'destroy'\]"):
        build(store=GetOnly())


def test_config_error_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="secret"):
        build(secret="")


def test_cookie_options_validate_on_construction() -> None:
    with pytest.raises(ConfigError, match=r"^cookie\.same_site: "):
        CookieOptions(same_site="sometimes")


def test_callable_cookie_is_validated_per_request() -> None:
    config = make_config(cookie=lambda request: {"path": request})
    assert config.cookie_options_for("/ok") == CookieOptions(path="/ok")
    with pytest.raises(ConfigError, match=r"^cookie\.path: "):
        config.cookie_options_for("/bad;path")
    with pytest.raises(ConfigError, match=r"^cookie: unknown"):
        make_config(cookie=lambda request: {"maxAge": 1}).cookie_options_for(None)


# -- each option's effect ----------------------------------------------------------------------


@pytest.mark.parametrize("secret", [SECRET, SECRET.encode(), [SECRET], (SECRET, "older")])
def test_secret_forms_sign_alike(secret: Any) -> None:
    result = run_cycle(make_config(secret=secret))
    assert result.cookie == f"connect.sid={signed(ID1)}"
    assert make_config(secret=secret).secrets[0] in (SECRET, SECRET.encode())


def test_secret_rotation_first_signs_all_verify() -> None:
    config = make_config(secret=["new", "old"], resave=False)
    config.store.put(ID1, {"cookie": {"originalMaxAge": None, "expires": None}, "n": 1})
    result = run_cycle(config, cookie=cookie_header(ID1, "old"), handler=lambda s: s.update(n=2))
    assert result.session.id == ID1
    assert result.calls == [("get", ID1), ("set", ID1)]
    fresh = run_cycle(config)
    assert fresh.cookie == f"connect.sid={signed(fresh.session.id, 'new')}"


def test_name_names_the_cookie_read_and_written() -> None:
    config = make_config(name="sess")
    first = run_cycle(config)
    assert first.set_cookie == f"sess={signed(ID1)}; Path=/; HttpOnly"
    again = run_cycle(config, cookie=f"connect.sid={signed(ID1)}; " + first.cookie)
    assert again.session.id == ID1


@pytest.mark.parametrize(
    "cookie",
    [
        CookieOptions(max_age=60, domain="example.com", same_site="lax"),
        {"max_age": 60, "domain": "example.com", "same_site": "lax"},
        {"max_age": timedelta(minutes=1), "domain": "example.com", "same_site": "lax"},
        lambda request: {"max_age": 60, "domain": "example.com", "same_site": "lax"},
        lambda request: CookieOptions(max_age=60, domain="example.com", same_site="lax"),
    ],
    ids=["CookieOptions", "dict", "timedelta", "callable-dict", "callable-CookieOptions"],
)
def test_cookie_forms_give_the_same_cookie(cookie: Any) -> None:
    result = run_cycle(make_config(cookie=cookie))
    assert result.set_cookie == (
        f"connect.sid={signed(ID1)}; Domain=example.com; Path=/; Expires={EXPIRES_60}; "
        "HttpOnly; SameSite=Lax"
    )


def test_callable_cookie_is_called_with_the_framework_request() -> None:
    seen: list[Any] = []

    def cookie(request: Any) -> dict[str, Any]:
        seen.append(request)
        return {"path": request["root"]}

    config = make_config(cookie=cookie)
    request = {"root": "/app"}
    assert run_cycle(config, path="/app/x", request=request).set_cookie == (
        f"connect.sid={signed(ID1)}; Path=/app; HttpOnly"
    )
    assert seen
    assert all(r is request for r in seen)


def test_callable_cookie_returning_none_means_defaults() -> None:
    result = run_cycle(make_config(cookie=lambda request: None))
    assert result.set_cookie == f"connect.sid={signed(ID1)}; Path=/; HttpOnly"


def test_genid_is_called_with_the_framework_request_and_its_id_used() -> None:
    ids = SequentialIds()
    request = object()
    result = run_cycle(make_config(genid=ids), request=request)
    assert ids.requests == [request]
    assert result.session.id == ID1
    assert result.calls == [("set", ID1)]


def test_default_genid_ids_are_used() -> None:
    config = make_config(genid=None)
    result = run_cycle(config)
    assert re.fullmatch(r"[A-Za-z0-9_-]{32}", result.session.id)
    assert result.cookie == f"connect.sid={signed(result.session.id)}"


@pytest.mark.parametrize(
    ("proxy", "transport", "sent"),
    [
        (None, {"secure": True}, True),  # the framework says https
        (None, {"forwarded_proto": "https"}, False),  # the framework did not trust the header
        (None, {"direct_tls": True}, True),
        (True, {"forwarded_proto": "https"}, True),
        (True, {"forwarded_proto": "HTTPS , http"}, True),
        (True, {"forwarded_proto": "http, https"}, False),
        (True, {"secure": True}, False),  # proxy=True reads the header, not the framework
        (True, {"direct_tls": True}, True),
        (False, {"forwarded_proto": "https", "secure": True}, False),
        (False, {"direct_tls": True}, True),
    ],
)
def test_proxy_decides_whether_a_secure_cookie_is_sent(
    proxy: bool | None, transport: dict[str, Any], sent: bool
) -> None:
    config = make_config(proxy=proxy, cookie={"secure": True})
    result = run_cycle(config, **transport)
    assert (result.set_cookie is not None) is sent
    assert result.calls == [("set", ID1)]  # stored either way


def test_store_option_is_the_store_used() -> None:
    store = RecordingStore()
    config = make_config(store=store)
    assert config.store is store
    run_cycle(config)
    assert store.calls == [("set", ID1)]


def test_store_without_touch_is_never_touched() -> None:
    config = make_config(store=RecordingStore(), resave=False)
    assert config.store_implements_touch
    bare = make_config(store=RecordingStoreWithoutTouch(), resave=False)
    assert not bare.store_implements_touch
    first = run_cycle(bare)
    again = run_cycle(bare, cookie=first.cookie)
    assert again.calls == [("get", ID1)]


@pytest.mark.parametrize(
    ("unset", "expected"), [(None, "keep"), ("keep", "keep"), ("destroy", "destroy")]
)
def test_unset_values(unset: str | None, expected: str) -> None:
    assert build(unset=unset).unset == expected


def test_options_are_validated_once_into_a_frozen_config() -> None:
    config = build()
    with pytest.raises(AttributeError):
        config.name = "other"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        CookieOptions().path = "/x"  # type: ignore[misc]


def test_outside_the_cookie_path_no_session_at_all() -> None:
    config = make_config(cookie={"path": "/app"})
    driver: SyncDriver[SyncSession] = SyncDriver(config)
    assert driver.begin(RequestReceived(now=NOW, path="/other", cookie_header="x=1")) is None
    assert config.store.calls == []


# -- issue 10: start-up refuses what would fail (or lose data) later ---------------------------


class NativeAsyncStore:
    """An async store (``get`` is a coroutine function), as AsyncRedisStore is."""

    async def get(self, sid: str) -> None:
        return None

    async def set(self, sid: str, record: Any) -> None:
        return None

    async def destroy(self, sid: str) -> None:
        return None


@pytest.mark.parametrize("store", [NativeAsyncStore(), to_async(MemoryStore())], ids=repr)
def test_an_async_store_is_refused_by_the_sync_driver(store: Any) -> None:
    config = build(store=store)
    with pytest.raises(ConfigError, match=r"^store: .* is an async store and SyncDriver runs"):
        SyncDriver(config)


def test_an_async_store_is_fine_for_the_async_driver() -> None:
    assert AsyncDriver(build(store=NativeAsyncStore())).config.store is not None


@pytest.mark.parametrize("store_class", [MemoryStore, SQLiteStore, RecordingStore])
def test_a_store_class_instead_of_an_instance_is_refused(store_class: type) -> None:
    with pytest.raises(ConfigError) as raised:
        build(store=store_class)
    assert raised.value.option == "store"
    assert f"pass an instance: {store_class.__name__}(...)" in str(raised.value)


@pytest.mark.parametrize(
    ("typo", "meant"),
    [
        ("save_unitialized", "save_uninitialized"),
        ("saveUninitialized", "save_uninitialized"),
        ("secrets", "secret"),
        ("resav", "resave"),
        ("rollling", "rolling"),
    ],
)
def test_an_option_typo_is_a_config_error_naming_the_closest_option(typo: str, meant: str) -> None:
    with pytest.raises(ConfigError) as raised:
        build(**{typo: False})
    assert raised.value.option == typo
    assert str(raised.value) == f"{typo}: unknown option(s): {typo} (did you mean {meant}?)"


def test_an_unknown_option_without_a_close_match_is_named_alone() -> None:
    with pytest.raises(ConfigError, match=r"^zzz: unknown option\(s\): zzz\Z"):
        build(zzz=1)


def test_check_option_names_labels_and_accepts_extras() -> None:
    check_option_names(["secret", "store_options"], extra={"store_options"})
    with pytest.raises(ConfigError) as raised:
        check_option_names(["secret", "stor", "x_y"], option="COATCHECK")
    assert raised.value.option == "COATCHECK"
    assert str(raised.value) == (
        "COATCHECK: unknown option(s): stor, x_y (did you mean stor -> store?)"
    )


def test_a_cookie_option_typo_suggests_the_closest_name() -> None:
    with pytest.raises(ConfigError, match=r"maxAge \(did you mean max_age\?\)"):
        build(cookie={"maxAge": 60})


SECRET_TEXT = "prod-secret-123"


@pytest.mark.parametrize(
    "secret",
    [
        {SECRET_TEXT},
        frozenset({SECRET_TEXT}),
        [SECRET_TEXT, 5],
        [SECRET_TEXT, ""],
        [SECRET_TEXT, None],
        {"key": SECRET_TEXT},
        12345678,
    ],
    ids=["set", "frozenset", "list-with-int", "list-with-empty", "list-with-none", "dict", "int"],
)
def test_a_wrongly_typed_secret_is_described_never_shown(secret: Any) -> None:
    with pytest.raises(ConfigError) as raised:
        build(secret=secret)
    shown = f"{raised.value} {raised.value!r} {raised.value.args}"
    assert SECRET_TEXT not in shown
    assert "12345678" not in shown
    assert raised.value.option == "secret"


def test_a_wrongly_typed_secret_names_the_type_and_position() -> None:
    with pytest.raises(ConfigError, match=r"not set\Z"):
        build(secret={SECRET_TEXT})
    with pytest.raises(ConfigError, match=r"secret\[1\] is int\Z"):
        build(secret=[SECRET_TEXT, 5])


def test_the_secret_never_reaches_the_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="coatcheck")
    config = make_config(secret=SECRET_TEXT, cookie={"max_age": 60})
    first = run_cycle(config, handler=lambda s: s.update(a=1))
    run_cycle(config, cookie=first.cookie, handler=lambda s: s.regenerate())
    run_cycle(config, cookie=cookie_header(ID1, "wrong secret"))
    assert caplog.records, "the cycle logs at DEBUG"
    assert all(SECRET_TEXT not in record.getMessage() for record in caplog.records)


# -- warnings: works, but probably a mistake ----------------------------------------------------


@pytest.mark.parametrize("secure", [None, False])
@pytest.mark.parametrize("same_site", ["none", "None"])
def test_same_site_none_without_secure_warns(secure: Any, same_site: str) -> None:
    with pytest.warns(ConfigWarning, match='same_site="none" without secure=True'):
        build(cookie={"same_site": same_site, "secure": secure})


@pytest.mark.parametrize(
    "cookie",
    [
        {"same_site": "none", "secure": True},
        {"same_site": "none", "secure": "auto"},
        {"same_site": "auto"},
        {"same_site": "lax"},
        {},
    ],
)
def test_same_site_none_with_secure_does_not_warn(cookie: dict[str, Any]) -> None:
    build(cookie=cookie)  # filterwarnings=error fails this test on any warning


def test_a_short_secret_in_production_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.warns(ConfigWarning, match="shorter than 32 characters"):
        build(secret="x" * 31, store=RecordingStore())


def test_a_short_secret_warning_never_shows_the_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    with pytest.warns(ConfigWarning) as caught:
        build(secret=SECRET_TEXT, store=RecordingStore())
    assert all(SECRET_TEXT not in str(w.message) for w in caught)


def test_a_long_secret_in_production_does_not_warn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("APP_ENV", "production")
    build(secret=["x" * 32, "old"], store=RecordingStore())


def test_a_short_secret_outside_production_does_not_warn() -> None:
    assert not looks_like_production()
    build(secret="short")


def test_config_warning_is_a_user_warning() -> None:
    assert issubclass(ConfigWarning, UserWarning)
