"""``flask.session``: express's methods, Flask's attributes, flash() and session_transaction()."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any, cast

import pytest
from flask import Flask, flash, get_flashed_messages, session

import coatcheck_flask
from coatcheck_flask import FlaskSession
from tests.flask_adapter.conftest import Rig, jar, signed

MakeRig = Callable[..., Rig]
EPOCH = "Thu, 01 Jan 1970 00:00:00 GMT"


def current() -> FlaskSession:
    return cast(FlaskSession, session)


def test_regenerate_destroys_the_old_id_and_sends_the_new(make_rig: MakeRig) -> None:
    rig = make_rig()
    cookie = rig.visit()
    resp = rig.get("/regenerate", cookie=cookie)
    assert resp.body == {"r": 1}
    assert resp.set_cookies == [f"session={signed('id2')}; Path=/; HttpOnly"]
    assert rig.store.calls == [("get", "id1"), ("destroy", "id1"), ("set", "id2")]


def test_regenerate_keep_data_moves_the_data_to_the_new_id(make_rig: MakeRig) -> None:
    def configure(app: Flask) -> None:
        @app.get("/login")
        def login() -> dict[str, Any]:
            current().regenerate(keep_data=True)
            session["user"] = "ada"
            return {"id": current().id, "new": current().new}

    rig = make_rig(configure)
    cookie = rig.visit("/write?cart=3")
    resp = rig.get("/login", cookie=cookie)
    assert resp.body == {"id": "id2", "new": True}
    assert rig.store.inner.get("id2") == {
        "cookie": {"originalMaxAge": None, "expires": None, "httpOnly": True, "path": "/"},
        "cart": "3",
        "user": "ada",
    }
    assert rig.store.inner.get("id1") is None


def test_destroy_deletes_and_expires_the_cookie(make_rig: MakeRig) -> None:
    rig = make_rig()
    cookie = rig.visit()
    resp = rig.get("/destroy", cookie=cookie)
    assert resp.set_cookies == [f"session=; Path=/; Expires={EPOCH}; HttpOnly"]
    assert resp.vary == "Cookie"
    assert rig.store.calls == [("get", "id1"), ("destroy", "id1")]
    assert rig.store.inner.get("id1") is None


def test_destroy_without_a_cookie_sends_nothing(make_rig: MakeRig) -> None:
    rig = make_rig()
    resp = rig.get("/destroy")
    assert resp.set_cookies == []
    assert rig.store.calls == [("destroy", "id1")]


def test_reload_discards_unsaved_changes(make_rig: MakeRig) -> None:
    rig = make_rig()
    cookie = rig.visit()
    resp = rig.get("/reload", cookie=cookie)
    assert resp.body == {"a": "1"}
    assert rig.store.calls == [("get", "id1"), ("get", "id1"), ("touch", "id1")]


def test_reload_of_a_vanished_session_is_an_error(make_rig: MakeRig) -> None:
    rig = make_rig()
    resp = rig.get("/reload")  # a new session was never stored
    assert resp.status == 500


def test_explicit_save_writes_once(make_rig: MakeRig) -> None:
    rig = make_rig(save_uninitialized=False)
    resp = rig.get("/save")
    assert resp.body == {"s": 1}
    assert resp.set_cookies == [f"session={signed('id1')}; Path=/; HttpOnly"]
    assert rig.store.calls == [("set", "id1")]


def no_refresh(app: Flask) -> None:
    app.config["SESSION_REFRESH_EACH_REQUEST"] = False


def test_touch_resets_the_expiry(make_rig: MakeRig) -> None:
    rig = make_rig(no_refresh, cookie={"max_age": 60})
    cookie = rig.visit()
    rig.clock.advance(30)
    resp = rig.get("/touch", cookie=cookie)
    assert resp.set_cookies == []  # cookie-only changes are not re-sent without rolling
    assert rig.store.calls == [("get", "id1"), ("touch", "id1")]
    stored = rig.store.inner.get("id1")
    assert stored is not None
    assert stored["cookie"]["expires"] == "2026-03-04T05:07:37.000Z"  # NOW + 30 s + 60 s


def test_cookie_max_age_is_per_session(make_rig: MakeRig) -> None:
    rig = make_rig()
    resp = rig.get("/cookie-max-age?s=60")
    assert resp.set_cookies == [
        f"session={signed('id1')}; Path=/; Expires=Wed, 04 Mar 2026 05:07:07 GMT; HttpOnly"
    ]


@pytest.mark.parametrize(("unset", "calls"), [("keep", []), ("destroy", [("destroy", "id1")])])
def test_unset_session_follows_the_unset_option(
    make_rig: MakeRig, unset: str, calls: list[tuple[str, str]]
) -> None:
    rig = make_rig(unset=unset)
    cookie = rig.visit()
    resp = rig.get("/unset", cookie=cookie)
    assert (resp.status, resp.set_cookies) == (200, [])
    assert rig.store.calls == [("get", "id1"), *calls]
    assert (rig.store.inner.get("id1") is None) == (unset == "destroy")


def test_unset_session_ignores_later_changes(make_rig: MakeRig) -> None:
    def configure(app: Flask) -> None:
        @app.get("/unset-then-write")
        def unset_then_write() -> str:
            coatcheck_flask.unset_session()
            session["b"] = 2
            return "ok"

    rig = make_rig(configure)
    cookie = rig.visit()
    rig.get("/unset-then-write", cookie=cookie)
    assert rig.store.calls == [("get", "id1")]
    assert rig.get("/read", cookie=cookie).body == {"a": "1"}


def test_unset_session_outside_the_cookie_path_does_nothing(make_rig: MakeRig) -> None:
    def configure(app: Flask) -> None:
        @app.get("/elsewhere")
        def elsewhere() -> str:
            coatcheck_flask.unset_session()
            return "ok"

    rig = make_rig(configure, cookie={"path": "/app"})
    assert rig.get("/elsewhere").status == 200


def test_new_and_modified_follow_express(make_rig: MakeRig) -> None:
    def configure(app: Flask) -> None:
        @app.get("/flags")
        def flags() -> dict[str, Any]:
            before = [current().new, current().modified]
            session.setdefault("nested", {"n": 0})
            session["nested"]["n"] += 1  # a nested change, no assignment to the session
            return {"before": before, "after": [current().new, current().modified]}

    rig = make_rig(configure)
    resp = rig.get("/flags")
    assert resp.body == {"before": [True, False], "after": [True, True]}
    resp = rig.get("/flags", cookie=jar(resp))
    assert resp.body == {"before": [False, False], "after": [False, True]}
    assert rig.store.calls[-1] == ("set", "id1")


def test_flagging_modified_is_accepted(make_rig: MakeRig) -> None:
    def configure(app: Flask) -> None:
        @app.get("/flag")
        def flag() -> dict[str, bool]:
            session.modified = True
            return {"modified": session.modified}

    rig = make_rig(configure)
    assert rig.get("/flag").body == {"modified": True}


def test_permanent_gives_the_cookie_the_apps_lifetime(make_rig: MakeRig) -> None:
    def configure(app: Flask) -> None:
        app.permanent_session_lifetime = timedelta(hours=1)

        @app.get("/remember-me")
        def remember_me() -> dict[str, bool]:
            before = session.permanent
            session.permanent = True
            session["user"] = "ada"
            return {"before": before, "after": session.permanent}

        @app.get("/forget-me")
        def forget_me() -> dict[str, bool]:
            session.permanent = False
            session["user"] = "bob"
            return {"after": session.permanent}

    rig = make_rig(configure)
    resp = rig.get("/remember-me")
    assert resp.body == {"before": False, "after": True}
    assert resp.set_cookies == [
        f"session={signed('id1')}; Path=/; Expires=Wed, 04 Mar 2026 06:06:07 GMT; HttpOnly"
    ]
    stored = rig.store.inner.get("id1")
    assert stored is not None
    assert stored["cookie"]["originalMaxAge"] == 3_600_000
    assert "_permanent" not in stored  # Flask's flag is the cookie's expiry, not data
    resp = rig.get("/forget-me", cookie=jar(resp))
    assert resp.body == {"after": False}
    stored = rig.store.inner.get("id1")
    assert stored is not None
    assert stored["cookie"]["expires"] is None


def test_flash_messages_survive_to_the_next_request(make_rig: MakeRig) -> None:
    def configure(app: Flask) -> None:
        @app.get("/flash")
        def do_flash() -> str:
            flash("saved", "info")
            return "ok"

        @app.get("/messages")
        def messages() -> dict[str, Any]:
            return {
                "plain": get_flashed_messages(),
                "with_categories": get_flashed_messages(with_categories=True),
            }

    rig = make_rig(configure)
    cookie = jar(rig.get("/flash"))
    resp = rig.get("/messages", cookie=cookie)
    assert resp.body == {"plain": ["saved"], "with_categories": [["info", "saved"]]}
    assert rig.get("/messages", cookie=cookie).body == {"plain": [], "with_categories": []}


def test_session_transaction_round_trips_through_the_cookie_jar(make_rig: MakeRig) -> None:
    rig = make_rig()
    client = rig.app.test_client()  # this one keeps cookies, as session_transaction needs
    with client.session_transaction() as sess:
        assert isinstance(sess, FlaskSession)
        sess["user"] = "ada"
        sid = sess.id
    cookie = client.get_cookie("session")
    assert cookie is not None
    assert cookie.value == signed(sid)
    assert client.get("/read").get_json() == {"user": "ada"}
    client.get("/write?cart=2")
    with client.session_transaction() as sess:
        assert isinstance(sess, FlaskSession)
        assert dict(sess) == {"user": "ada", "cart": "2"}
        assert sess.id == sid


def test_session_transaction_outside_the_cookie_path_is_refused(make_rig: MakeRig) -> None:
    rig = make_rig(cookie={"path": "/app"})
    client = rig.app.test_client()
    with pytest.raises(RuntimeError), client.session_transaction():
        pass
    with client.session_transaction("/app") as sess:
        sess["a"] = 1
    assert client.get_cookie("session", path="/app") is not None


def test_current_session_is_flask_session_typed_and_refuses_outside_the_path() -> None:
    from flask import Flask, session

    from coatcheck_flask import FlaskSession, Session, current_session

    app = Flask(__name__)
    app.secret_key = "k"
    Session(app, resave=False, save_uninitialized=False, cookie={"path": "/app"})

    @app.get("/app/in")
    def inside() -> str:
        found = current_session()
        assert isinstance(found, FlaskSession)
        assert found is session._get_current_object()  # type: ignore[attr-defined]
        return "ok"

    @app.get("/out")
    def outside() -> str:
        try:
            current_session()
        except RuntimeError as exc:
            return str(exc)
        return "no error"

    client = app.test_client()
    assert client.get("/app/in").text == "ok"
    assert "outside the cookie path" in client.get("/out").text
