"""Wiring: where options come from (Flask settings < COATCHECK < keywords) and start-up errors."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask, Request

import coatcheck_flask
from coatcheck import CookieOptions, SessionConfig
from coatcheck.stores import MemoryStore
from tests.flask_adapter.conftest import SECRET, Clock, Rig, jar, pinned, signed
from tests.flask_adapter.harness import FlaskScenarioClient, make_app

MakeRig = Callable[..., Rig]
BASE: dict[str, Any] = {"resave": False, "save_uninitialized": True, "genid": lambda request: "id1"}


def settings(**config: Any) -> Callable[[Flask], None]:
    """A ``configure`` hook that sets Flask config keys before the extension reads them."""
    return lambda app: app.config.update(config)


def config_of(app: Flask) -> SessionConfig:
    interface = app.session_interface
    assert isinstance(interface, coatcheck_flask.CoatcheckSessionInterface)
    return interface.driver(app).config


def client_for(configure: Callable[[Flask], None], clock: Clock, **options: Any) -> Any:
    """The harness app without a default ``secret``: Flask's settings decide."""
    app = make_app({**BASE, "store": MemoryStore(clock=clock), **options}, pinned(clock), configure)
    return FlaskScenarioClient(app)


# -- secret ---------------------------------------------------------------------------------------
def test_secret_key_is_the_default_secret(clock: Clock) -> None:
    client = client_for(settings(SECRET_KEY="flask key"), clock)
    assert client.get("/noop").set_cookies == [
        f"session={signed('id1', 'flask key')}; Path=/; HttpOnly"
    ]
    assert config_of(client.app).secrets == ("flask key",)


def test_an_explicit_secret_wins_over_secret_key(clock: Clock) -> None:
    client = client_for(settings(SECRET_KEY="flask key"), clock, secret="mine")
    assert config_of(client.app).secrets == ("mine",)


def test_secret_key_fallbacks_rotate(clock: Clock) -> None:
    store = MemoryStore(clock=clock)
    old = client_for(settings(SECRET_KEY="old key"), clock, store=store)
    cookie = jar(old.get("/write?a=1"))
    assert cookie == f"session={signed('id1', 'old key')}"

    rotated = client_for(
        settings(SECRET_KEY="new key", SECRET_KEY_FALLBACKS=["old key"]),
        clock,
        store=store,
        rolling=True,
    )
    assert config_of(rotated.app).secrets == ("new key", "old key")
    resp = rotated.get("/read", cookie=cookie)
    assert resp.body == {"a": "1"}
    assert resp.set_cookies == [f"session={signed('id1', 'new key')}; Path=/; HttpOnly"]

    dropped = client_for(settings(SECRET_KEY="new key"), clock, store=store, genid=lambda r: "id2")
    assert dropped.get("/read", cookie=cookie).body == {}


def test_no_secret_at_all_is_a_config_error_at_init() -> None:
    app = Flask(__name__)
    with pytest.raises(coatcheck_flask.ConfigError, match="SECRET_KEY") as caught:
        coatcheck_flask.Session(app, **BASE)
    assert caught.value.option == "secret"
    extension = coatcheck_flask.Session(**BASE)  # no app yet: nothing to validate
    with pytest.raises(coatcheck_flask.ConfigError):
        extension.init_app(app)


@pytest.mark.parametrize(
    ("options", "option"),
    [
        ({"unset": "forget"}, "unset"),
        ({"cookie": {"same_site": "sideways"}}, "cookie.same_site"),
        ({"cookie": {"colour": "blue"}}, "cookie"),
        ({"name": "bad name"}, "name"),
    ],
)
def test_invalid_options_are_config_errors_at_init(options: dict[str, Any], option: str) -> None:
    app = Flask(__name__)
    app.secret_key = SECRET
    with pytest.raises(coatcheck_flask.ConfigError) as caught:
        coatcheck_flask.Session(app, **BASE, **options)
    assert caught.value.option == option


def test_invalid_options_in_app_config_are_config_errors_at_init() -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, COATCHECK={"unset": "forget"})
    with pytest.raises(coatcheck_flask.ConfigError):
        coatcheck_flask.Session(app, **BASE)
    app.config["COATCHECK"] = ["not", "a", "dict"]
    with pytest.raises(coatcheck_flask.ConfigError, match="COATCHECK"):
        coatcheck_flask.Session(app, **BASE)


def test_an_option_typo_is_a_config_error_with_the_closest_name() -> None:
    app = Flask(__name__)
    app.secret_key = SECRET
    with pytest.raises(coatcheck_flask.ConfigError) as caught:
        coatcheck_flask.Session(app, resave=False, save_unitialized=False)
    assert caught.value.option == "save_unitialized"
    assert "did you mean save_uninitialized?" in str(caught.value)


def test_an_option_typo_in_app_config_is_a_config_error_naming_coatcheck() -> None:
    app = Flask(__name__)
    app.config.update(SECRET_KEY=SECRET, COATCHECK={"resave": False, "save_unitialized": False})
    with pytest.raises(coatcheck_flask.ConfigError) as caught:
        coatcheck_flask.Session(app)
    assert str(caught.value) == (
        "COATCHECK: unknown option(s): save_unitialized (did you mean save_uninitialized?)"
    )


class _AsyncOnlyStore:
    async def get(self, sid: str) -> None:
        return None

    async def set(self, sid: str, record: Any) -> None:
        return None

    async def destroy(self, sid: str) -> None:
        return None


def test_an_async_store_is_refused_at_init() -> None:
    app = Flask(__name__)
    app.secret_key = SECRET
    with pytest.raises(coatcheck_flask.ConfigError, match="is an async store") as caught:
        coatcheck_flask.Session(app, **{**BASE, "store": _AsyncOnlyStore()})
    assert caught.value.option == "store"


def test_a_store_class_is_refused_at_init() -> None:
    app = Flask(__name__)
    app.secret_key = SECRET
    with pytest.raises(
        coatcheck_flask.ConfigError, match=r"pass an instance: MemoryStore\(\.\.\.\)"
    ):
        coatcheck_flask.Session(app, **{**BASE, "store": MemoryStore})


def test_missing_resave_warns_like_express() -> None:
    app = Flask(__name__)
    app.secret_key = SECRET
    with pytest.warns(FutureWarning, match="resave"):
        coatcheck_flask.Session(app, save_uninitialized=False)


# -- SESSION_COOKIE_* -----------------------------------------------------------------------------
ALL_SESSION_COOKIE_SETTINGS = settings(
    SECRET_KEY=SECRET,
    SESSION_COOKIE_NAME="sid",
    SESSION_COOKIE_DOMAIN="example.com",
    SESSION_COOKIE_PATH="/",
    SESSION_COOKIE_SECURE=True,
    SESSION_COOKIE_HTTPONLY=False,
    SESSION_COOKIE_SAMESITE="Lax",
    SESSION_COOKIE_PARTITIONED=True,
)


def test_session_cookie_settings_are_the_defaults(clock: Clock) -> None:
    client = client_for(ALL_SESSION_COOKIE_SETTINGS, clock)
    resp = client.get("/noop", https=True)
    assert resp.set_cookies == [
        f"sid={signed('id1')}; Domain=example.com; Path=/; Secure; Partitioned; SameSite=Lax"
    ]
    assert config_of(client.app).store.get("id1") == {
        "cookie": {
            "originalMaxAge": None,
            "partitioned": True,
            "expires": None,
            "secure": True,
            "httpOnly": False,
            "domain": "example.com",
            "path": "/",
            "sameSite": "lax",
        }
    }


def test_flasks_default_settings_give_expresss_cookie_named_session(clock: Clock) -> None:
    client = client_for(settings(SECRET_KEY=SECRET), clock, cookie={"max_age": 60})
    assert client.get("/noop").set_cookies == [
        f"session={signed('id1')}; Path=/; Expires=Wed, 04 Mar 2026 05:07:07 GMT; HttpOnly"
    ]
    assert config_of(client.app).store.get("id1")["cookie"] == {
        "originalMaxAge": 60000,
        "expires": "2026-03-04T05:07:07.000Z",
        "httpOnly": True,
        "path": "/",
    }


def test_explicit_cookie_keys_win_one_by_one(clock: Clock) -> None:
    client = client_for(
        ALL_SESSION_COOKIE_SETTINGS,
        clock,
        name="connect.sid",
        cookie={"same_site": "strict", "secure": False, "domain": None},
    )
    assert client.get("/noop").set_cookies == [
        f"connect.sid={signed('id1')}; Path=/; Partitioned; SameSite=Strict"
    ]


def test_cookie_options_instance_overrides_only_what_it_sets(clock: Clock) -> None:
    client = client_for(
        ALL_SESSION_COOKIE_SETTINGS, clock, cookie=CookieOptions(max_age=timedelta(minutes=1))
    )
    assert client.get("/noop", https=True).set_cookies == [
        f"sid={signed('id1')}; Domain=example.com; Path=/; "
        "Expires=Wed, 04 Mar 2026 05:07:07 GMT; Secure; Partitioned; SameSite=Lax"
    ]


def test_cookie_callable_gets_the_flask_request_and_flasks_defaults(clock: Clock) -> None:
    seen: list[Request] = []

    def per_request(request: Request) -> dict[str, Any]:
        seen.append(request)
        return {"priority": "high", "secure": request.path != "/noop"}

    client = client_for(ALL_SESSION_COOKIE_SETTINGS, clock, cookie=per_request)
    assert client.get("/noop").set_cookies == [
        f"sid={signed('id1')}; Domain=example.com; Path=/; Partitioned; Priority=High; SameSite=Lax"
    ]
    assert isinstance(seen[0], Request)
    assert seen[0].path == "/noop"


def test_application_root_is_the_fallback_path(clock: Clock) -> None:
    client = client_for(settings(SECRET_KEY=SECRET, APPLICATION_ROOT="/app"), clock)
    assert client.get("/noop").set_cookies == []  # outside /app: no session at all
    assert config_of(client.app).cookie_options_for(None).path == "/app"


def test_session_cookie_path_wins_over_application_root(clock: Clock) -> None:
    client = client_for(
        settings(SECRET_KEY=SECRET, APPLICATION_ROOT="/app", SESSION_COOKIE_PATH="/"), clock
    )
    assert client.get("/noop").set_cookies == [f"session={signed('id1')}; Path=/; HttpOnly"]


# -- app.config["COATCHECK"] ----------------------------------------------------------------------
def test_app_config_coatcheck_supplies_options_and_keywords_win(clock: Clock) -> None:
    configure = settings(
        SECRET_KEY=SECRET,
        COATCHECK={"name": "from.config", "rolling": True, "cookie": {"max_age": 60}},
    )
    client = client_for(configure, clock)
    config = config_of(client.app)
    assert (config.name, config.rolling) == ("from.config", True)
    assert client.get("/noop").set_cookies == [
        f"from.config={signed('id1')}; Path=/; Expires=Wed, 04 Mar 2026 05:07:07 GMT; HttpOnly"
    ]

    client = client_for(configure, clock, name="from.keyword", cookie={"same_site": "lax"})
    config = config_of(client.app)
    assert (config.name, config.rolling) == ("from.keyword", True)
    # A keyword replaces the whole COATCHECK entry: max_age is gone, same_site is set.
    assert client.get("/noop").set_cookies == [
        f"from.keyword={signed('id1')}; Path=/; HttpOnly; SameSite=Lax"
    ]


def test_app_config_coatcheck_can_hold_every_option(clock: Clock) -> None:
    store = MemoryStore(clock=clock)
    app = Flask(__name__)
    app.config["COATCHECK"] = {
        "secret": "only in config",
        "resave": False,
        "save_uninitialized": False,
        "store": store,
        "unset": "destroy",
    }
    coatcheck_flask.Session(app)
    config = config_of(app)
    assert config.secrets == ("only in config",)
    assert (config.store, config.unset, config.save_uninitialized) == (store, "destroy", False)


# -- the factory pattern --------------------------------------------------------------------------
def test_init_app_serves_several_apps(clock: Clock) -> None:
    extension = coatcheck_flask.Session(**BASE, store=MemoryStore(clock=clock))
    first, second = Flask("first"), Flask("second")
    first.secret_key, second.secret_key = "one", "two"
    first.config["SESSION_COOKIE_NAME"] = "first"
    extension.init_app(first)
    extension.init_app(second)
    assert first.extensions["coatcheck"] is extension
    assert (config_of(first).name, config_of(first).secrets) == ("first", ("one",))
    assert (config_of(second).name, config_of(second).secrets) == ("session", ("two",))
