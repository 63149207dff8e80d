"""Settings translation: SESSION_* and SECRET_KEY are the defaults, COATCHECK wins, a store
may be a dotted path, mistakes are a ConfigError when the middleware is built."""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import quote

import pytest
from django.core.management import call_command
from django.http import HttpResponse
from django.test import Client, override_settings

from coatcheck import ConfigWarning, CookieOptions
from coatcheck._signing import ExpressSigner, sign_session_id
from coatcheck.stores import MemoryStore
from coatcheck_django import ConfigError, SessionMiddleware
from coatcheck_django._settings import load_config, options_from_settings
from tests.django_adapter.stores import PruningStore

OPTIONS = {"resave": False, "save_uninitialized": False}
SECRET_KEY = "django-test-secret-key-not-for-production"  # djsettings


def signed(sid: str, secret: str) -> str:
    return quote(sign_session_id(sid, ExpressSigner([secret])), safe="!'()*-._~")


def shape(set_cookie: str) -> str:
    return re.sub(r"Expires=[^;]+", "Expires=<date>", set_cookie)


def first_visit(**extra: Any) -> tuple[Client, str, str]:
    """Store something; the client, the session id and the Set-Cookie it got."""
    client = Client()
    resp = client.get("/put/", {"a": "1"}, **extra)
    (morsel,) = resp.cookies.values()
    return client, client.session.id, morsel.OutputString()


@override_settings(
    SESSION_COOKIE_NAME="mysid",
    SESSION_COOKIE_DOMAIN="example.com",
    SESSION_COOKIE_PATH="/",
    SESSION_COOKIE_SECURE=True,
    SESSION_COOKIE_HTTPONLY=True,
    SESSION_COOKIE_SAMESITE="Strict",
    SESSION_COOKIE_AGE=600,
)
def test_django_session_settings_are_the_defaults(store: MemoryStore) -> None:
    _, sid, set_cookie = first_visit(secure=True)
    value = signed(sid, SECRET_KEY)
    assert shape(set_cookie) == (
        f"mysid={value}; Domain=example.com; Path=/; Expires=<date>; HttpOnly; Secure; "
        "SameSite=Strict"
    )
    record = store.get(sid)
    assert record is not None
    assert record["cookie"]["originalMaxAge"] == 600_000


@override_settings(SESSION_EXPIRE_AT_BROWSER_CLOSE=True, SESSION_COOKIE_SAMESITE=False)
def test_browser_close_and_no_samesite(store: MemoryStore) -> None:
    _, sid, set_cookie = first_visit()
    assert shape(set_cookie) == f"sessionid={signed(sid, SECRET_KEY)}; Path=/; HttpOnly"


@override_settings(SESSION_COOKIE_HTTPONLY=False, SESSION_COOKIE_SAMESITE="None")
def test_httponly_off_and_samesite_none(store: MemoryStore) -> None:
    # SameSite=None without Secure works but browsers reject it: warned (issue 10.6)
    with pytest.warns(ConfigWarning, match='same_site="none" without secure'):
        _, _, set_cookie = first_visit()
    assert "HttpOnly" not in set_cookie
    assert set_cookie.endswith("; SameSite=None")


@override_settings(SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_DOMAIN="example.com")
def test_coatcheck_options_win_over_django_settings() -> None:
    memory = MemoryStore()
    options = {**OPTIONS, "store": memory, "name": "connect.sid"}
    options["cookie"] = {"same_site": "lax", "max_age": 60}
    with override_settings(COATCHECK=options):
        resp = Client().get("/put/", {"a": "1"})
    set_cookie = resp.cookies["connect.sid"].OutputString()
    assert shape(set_cookie).endswith(
        "; Domain=example.com; Path=/; Expires=<date>; HttpOnly; SameSite=Lax"
    )
    (record,) = memory.all().values()
    assert record["cookie"]["originalMaxAge"] == 60_000


@override_settings(SESSION_COOKIE_SAMESITE="Strict", SESSION_COOKIE_AGE=600)
def test_cookie_forms_and_the_defaults() -> None:
    whole = CookieOptions(path="/")
    with override_settings(COATCHECK={**OPTIONS, "cookie": whole}):
        assert options_from_settings()["cookie"] is whole  # an object is taken as it is
    with override_settings(COATCHECK={**OPTIONS, "cookie": lambda request: {"max_age": 5}}):
        per_request = options_from_settings()["cookie"]
        assert per_request(None)["same_site"] == "strict"
        assert per_request(None)["max_age"] == 5
    expires = datetime.now(timezone.utc) + timedelta(days=1)
    with override_settings(COATCHECK={**OPTIONS, "cookie": {"expires": expires}}):
        cookie = options_from_settings()["cookie"]
        assert cookie["expires"] == expires
        assert "max_age" not in cookie  # an explicit date replaces SESSION_COOKIE_AGE
        load_config()  # and is valid (max_age and expires together would not be)


def test_secret_key_fallbacks_rotate_the_secret(store: MemoryStore) -> None:
    with override_settings(SECRET_KEY="the-old-secret-key"):
        client, sid, set_cookie = first_visit()
    assert signed(sid, "the-old-secret-key") in set_cookie

    def visit(**settings: Any) -> Any:
        fresh = Client()  # a new client builds the middleware under these settings
        fresh.cookies = client.cookies
        with override_settings(**settings):
            return fresh.get("/data/").json()

    assert visit(SECRET_KEY="the-new-key", SECRET_KEY_FALLBACKS=["the-old-secret-key"]) == {
        "a": "1"
    }
    assert visit(SECRET_KEY="the-new-key") == {}  # the old signature no longer verifies


def test_an_explicit_secret_replaces_secret_key(store: MemoryStore) -> None:
    with override_settings(COATCHECK={**OPTIONS, "store": store, "secret": "mine"}):
        _, sid, set_cookie = first_visit()
    assert signed(sid, "mine") in set_cookie


@pytest.fixture
def dotted_store() -> Iterator[None]:
    options = {
        **OPTIONS,
        "store": "tests.django_adapter.stores.PruningStore",
        "store_options": {"label": "from settings"},
    }
    with override_settings(COATCHECK=options):
        yield


def test_a_dotted_path_store_is_built_once_and_shared(dotted_store: None) -> None:
    built = load_config().store
    assert isinstance(built, PruningStore)
    assert built.label == "from settings"
    client = Client()
    session = client.session  # SESSION_ENGINE's SessionStore, outside any request
    session["k"] = "v"
    session.save()
    assert client.get("/data/").json() == {"k": "v"}  # the middleware's store is the same
    assert load_config().store is built


def test_clearsessions_prunes_the_store(dotted_store: None) -> None:
    call_command("clearsessions")
    store = load_config().store
    assert isinstance(store, PruningStore)
    assert store.pruned == 1


def test_clearsessions_is_a_no_op_for_stores_without_prune(store: MemoryStore) -> None:
    Client().session.save()
    call_command("clearsessions")
    assert store.length() == 1


def build_middleware() -> SessionMiddleware:
    return SessionMiddleware(lambda request: HttpResponse())


@pytest.mark.parametrize(
    ("settings", "option"),
    [
        ({"COATCHECK": {**OPTIONS, "unset": "sometimes"}}, "unset"),
        ({"COATCHECK": {**OPTIONS, "secrett": "typo"}}, "COATCHECK"),
        ({"COATCHECK": ["not", "a", "dict"]}, "COATCHECK"),
        ({"COATCHECK": {**OPTIONS, "store": "tests.django_adapter.stores.Nope"}}, "store"),
        ({"COATCHECK": {**OPTIONS, "store_options": {"label": "x"}}}, "store_options"),
        (
            {
                "COATCHECK": {
                    **OPTIONS,
                    "store": "tests.django_adapter.stores.PruningStore",
                    "store_options": {"colour": "x"},
                }
            },
            "store_options",
        ),
        ({"COATCHECK": {**OPTIONS, "store": "tests.django_adapter.stores.AsyncOnly"}}, "store"),
        ({"COATCHECK": {**OPTIONS, "cookie": {"same_site": "sideways"}}}, "cookie.same_site"),
        ({"COATCHECK": {**OPTIONS, "store": MemoryStore}}, "store"),
        ({"SECRET_KEY": ""}, "secret"),
        ({"SESSION_ENGINE": "django.contrib.sessions.backends.signed_cookies"}, "SESSION_ENGINE"),
    ],
)
def test_mistakes_are_a_config_error_when_the_middleware_is_built(
    settings: dict[str, Any], option: str
) -> None:
    with override_settings(**settings), pytest.raises(ConfigError) as caught:
        build_middleware()
    assert caught.value.option == option


def test_an_option_typo_names_the_closest_option() -> None:
    settings = {"COATCHECK": {**OPTIONS, "save_unitialized": False, "store_option": {}}}
    with override_settings(**settings), pytest.raises(ConfigError) as caught:
        build_middleware()
    assert str(caught.value) == (
        "COATCHECK: unknown option(s): save_unitialized, store_option (did you mean "
        "save_unitialized -> save_uninitialized, store_option -> store_options?)"
    )


def test_an_async_store_is_refused_with_the_cores_message() -> None:
    settings = {"COATCHECK": {**OPTIONS, "store": "tests.django_adapter.stores.AsyncOnly"}}
    with override_settings(**settings), pytest.raises(ConfigError, match="is an async store"):
        build_middleware()


def test_resave_and_save_uninitialized_keep_express_defaults_and_warning() -> None:
    with override_settings(COATCHECK={}), warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        config = load_config()
    assert [str(w.message).split(";")[0] for w in caught if w.category is FutureWarning] == [
        "undefined resave option",
        "undefined save_uninitialized option",
    ]
    assert config.resave is True
    assert config.save_uninitialized is True


def test_the_readme_settings_work_with_sqlite(tmp_path: Any) -> None:
    options = {
        **OPTIONS,
        "store": "coatcheck.stores.SQLiteStore",
        "store_options": {"path": str(tmp_path / "sessions.sqlite3")},
    }
    with override_settings(COATCHECK=options):
        try:
            client = Client()
            client.get("/put/", {"a": "1"})
            assert client.get("/data/").json() == {"a": "1"}
            call_command("clearsessions")  # SQLiteStore.prune()
            assert client.get("/data/").json() == {"a": "1"}  # nothing had expired
        finally:
            load_config().store.close()
