"""The decision table of express-session 1.19.0 (behaviour §7-§8), one test per row.

Each test is named after its row: the case, then the store call at the end and the Set-Cookie.
Rows where coatcheck deliberately differs (DESIGN.md) say DIFFERENCE and test our behaviour.
The store implements ``touch`` unless the test says otherwise.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from coatcheck import SyncSession
from coatcheck._decide import (
    SessionFacts,
    is_modified,
    is_saved,
    should_save,
    should_set_cookie,
    should_touch,
)

from .cycle import (
    EXPIRES_60,
    ID1,
    ID2,
    NOW,
    STORED_ID,
    RecordingStoreWithoutTouch,
    given_stored,
    make_config,
    run_cycle,
    signed,
)

LATER = NOW + timedelta(seconds=30)
#: Set-Cookie for the stored session re-sent at ``LATER`` (expires slid to LATER + 60 s).
STORED_COOKIE_LATER = (
    f"connect.sid={signed(STORED_ID)}; Path=/; Expires=Fri, 27 Nov 2026 22:57:54 GMT; HttpOnly"
)


def write(session: SyncSession) -> None:
    session["user"] = "bob"


def read(session: SyncSession) -> None:
    dict(session.items())


# -- new sessions --------------------------------------------------------------------------------


def test_new_save_uninitialized_true__set__cookie() -> None:
    result = run_cycle(make_config(save_uninitialized=True, cookie={"max_age": 60}))
    assert result.calls == [("set", ID1)]
    assert result.set_cookie == (
        f"connect.sid={signed(ID1)}; Path=/; Expires={EXPIRES_60}; HttpOnly"
    )


def test_new_save_uninitialized_true_explicit_save__set_once__cookie() -> None:
    result = run_cycle(make_config(save_uninitialized=True), handler=lambda s: s.save())
    assert result.calls == [("set", ID1)]
    assert result.set_cookie == f"connect.sid={signed(ID1)}; Path=/; HttpOnly"


def test_new_save_uninitialized_false_not_modified__nothing__no_cookie() -> None:
    result = run_cycle(make_config(save_uninitialized=False), handler=read)
    assert result.calls == []
    assert result.set_cookie is None


def test_new_save_uninitialized_false_not_modified_explicit_save__set_once__cookie() -> None:
    """DIFFERENCE: express stores it but never sends the cookie (an orphan session)."""
    result = run_cycle(make_config(save_uninitialized=False), handler=lambda s: s.save())
    assert result.calls == [("set", ID1)]
    assert result.operations == ()
    assert result.set_cookie == f"connect.sid={signed(ID1)}; Path=/; HttpOnly"


def test_new_save_uninitialized_false_modified__set__cookie() -> None:
    result = run_cycle(make_config(save_uninitialized=False), handler=write)
    assert result.calls == [("set", ID1)]
    assert result.written()["user"] == "bob"
    assert result.set_cookie == f"connect.sid={signed(ID1)}; Path=/; HttpOnly"


def test_new_rolling_does_not_send_an_untouched_uninitialized_session() -> None:
    result = run_cycle(make_config(save_uninitialized=False, rolling=True))
    assert result.calls == []
    assert result.set_cookie is None


# -- loaded sessions, resave=True ----------------------------------------------------------------


def test_loaded_resave_true_not_modified__set__no_cookie() -> None:
    config = make_config(resave=True)
    result = run_cycle(config, cookie=given_stored(config, user="bob"), now=LATER)
    assert result.calls == [("get", STORED_ID), ("set", STORED_ID)]
    assert result.set_cookie is None


def test_loaded_resave_true_modified_with_expiry__set__cookie() -> None:
    config = make_config(resave=True)
    result = run_cycle(config, cookie=given_stored(config), now=LATER, handler=write)
    assert result.calls == [("get", STORED_ID), ("set", STORED_ID)]
    assert result.set_cookie == STORED_COOKIE_LATER


def test_loaded_resave_true_modified_browser_session__set__no_cookie() -> None:
    config = make_config(resave=True)
    result = run_cycle(config, cookie=given_stored(config, max_age=None), handler=write)
    assert result.calls == [("get", STORED_ID), ("set", STORED_ID)]
    assert result.set_cookie is None


def test_loaded_resave_true_rolling__set__cookie() -> None:
    config = make_config(resave=True, rolling=True)
    result = run_cycle(config, cookie=given_stored(config), now=LATER)
    assert result.calls == [("get", STORED_ID), ("set", STORED_ID)]
    assert result.set_cookie == STORED_COOKIE_LATER


def test_loaded_resave_true_explicit_save__set_once_then_touch__no_cookie() -> None:
    config = make_config(resave=True)
    result = run_cycle(config, cookie=given_stored(config), handler=lambda s: s.save())
    assert result.calls == [("get", STORED_ID), ("set", STORED_ID), ("touch", STORED_ID)]
    assert result.set_cookie is None


# -- loaded sessions, resave=False ---------------------------------------------------------------


def test_loaded_resave_false_not_modified__touch__no_cookie() -> None:
    config = make_config(resave=False)
    result = run_cycle(config, cookie=given_stored(config, user="bob"), now=LATER, handler=read)
    assert result.calls == [("get", STORED_ID), ("touch", STORED_ID)]
    assert result.written("touch")["cookie"]["expires"] == "2026-11-27T22:57:54.381Z"
    assert result.set_cookie is None


def test_loaded_resave_false_not_modified_rolling__touch__cookie() -> None:
    config = make_config(resave=False, rolling=True)
    result = run_cycle(config, cookie=given_stored(config), now=LATER)
    assert result.calls == [("get", STORED_ID), ("touch", STORED_ID)]
    assert result.set_cookie == STORED_COOKIE_LATER


def test_loaded_resave_false_not_modified_store_without_touch__nothing__no_cookie() -> None:
    config = make_config(resave=False, store=RecordingStoreWithoutTouch())
    result = run_cycle(config, cookie=given_stored(config), now=LATER)
    assert result.calls == [("get", STORED_ID)]
    assert result.set_cookie is None


def test_loaded_resave_false_modified_with_expiry__set__cookie() -> None:
    config = make_config(resave=False)
    result = run_cycle(config, cookie=given_stored(config), now=LATER, handler=write)
    assert result.calls == [("get", STORED_ID), ("set", STORED_ID)]
    assert result.set_cookie == STORED_COOKIE_LATER


def test_loaded_resave_false_modified_browser_session__set__no_cookie() -> None:
    config = make_config(resave=False)
    result = run_cycle(config, cookie=given_stored(config, max_age=None), handler=write)
    assert result.calls == [("get", STORED_ID), ("set", STORED_ID)]
    assert result.set_cookie is None


def test_loaded_resave_false_modified_browser_session_rolling__set__cookie() -> None:
    config = make_config(resave=False, rolling=True)
    result = run_cycle(config, cookie=given_stored(config, max_age=None), handler=write)
    assert result.calls == [("get", STORED_ID), ("set", STORED_ID)]
    assert result.set_cookie == f"connect.sid={signed(STORED_ID)}; Path=/; HttpOnly"


# -- regenerated --------------------------------------------------------------------------------


@pytest.mark.parametrize("save_uninitialized", [True, False])
@pytest.mark.parametrize("resave", [True, False])
@pytest.mark.parametrize("rolling", [True, False])
def test_regenerated_any_config__destroy_old_then_set_new__cookie(
    resave: bool, save_uninitialized: bool, rolling: bool
) -> None:
    """Even with nothing written after ``regenerate()`` the new session is kept and sent."""
    config = make_config(resave=resave, save_uninitialized=save_uninitialized, rolling=rolling)
    result = run_cycle(config, cookie=given_stored(config), handler=lambda s: s.regenerate())
    assert result.calls == [("get", STORED_ID), ("destroy", STORED_ID), ("set", ID1)]
    assert result.set_cookie == f"connect.sid={signed(ID1)}; Path=/; HttpOnly"


def test_regenerated_new_session__destroy_first_id_then_set_new__cookie() -> None:
    config = make_config(save_uninitialized=False)
    result = run_cycle(config, handler=lambda s: s.regenerate())
    assert result.calls == [("destroy", ID1), ("set", ID2)]
    assert result.set_cookie == f"connect.sid={signed(ID2)}; Path=/; HttpOnly"


def test_regenerated_explicit_save__set_once__cookie() -> None:
    """DIFFERENCE: express repeats the explicit save at the end (2 sets, express #935)."""
    config = make_config(resave=True)

    def handler(session: SyncSession) -> None:
        session.regenerate()
        session["user"] = "bob"
        session.save()

    result = run_cycle(config, cookie=given_stored(config), handler=handler)
    assert result.calls == [("get", STORED_ID), ("destroy", STORED_ID), ("set", ID1)]
    assert result.set_cookie == f"connect.sid={signed(ID1)}; Path=/; HttpOnly"


# -- unset, destroyed, not a string ------------------------------------------------------------


def test_unset_keep__nothing__no_cookie() -> None:
    config = make_config(unset="keep")
    result = run_cycle(config, cookie=given_stored(config), handler=lambda s: s.cycle.set_unset())
    assert result.calls == [("get", STORED_ID)]
    assert result.set_cookie is None
    assert config.store.stored(STORED_ID) is not None


def test_unset_destroy__destroy__no_cookie() -> None:
    config = make_config(unset="destroy")
    result = run_cycle(config, cookie=given_stored(config), handler=lambda s: s.cycle.set_unset())
    assert result.calls == [("get", STORED_ID), ("destroy", STORED_ID)]
    assert result.set_cookie is None
    assert config.store.stored(STORED_ID) is None


def test_unset_destroy_new_session__destroy_of_a_never_stored_id__no_cookie() -> None:
    config = make_config(unset="destroy")
    result = run_cycle(config, handler=lambda s: s.cycle.set_unset())
    assert result.calls == [("destroy", ID1)]
    assert result.set_cookie is None


def test_session_id_not_a_string__nothing__no_cookie() -> None:
    config = make_config(genid=lambda request: 12345, save_uninitialized=True)
    result = run_cycle(config, handler=write)
    assert result.calls == []
    assert result.set_cookie is None


def test_session_id_not_a_string_unset_destroy__nothing__no_cookie() -> None:
    config = make_config(genid=lambda request: None, unset="destroy")
    result = run_cycle(config, handler=lambda s: s.cycle.set_unset())
    assert result.calls == []
    assert result.set_cookie is None


# -- the rules as pure functions -----------------------------------------------------------------

NEW = SessionFacts(
    session_id="b",
    cookie_id=None,
    original_id="b",
    original_hash="h0",
    saved_id=None,
    saved_hash=None,
    current_hash="h0",
    expires_set=False,
    explicitly_saved=False,
    resave=False,
    rolling=False,
    save_uninitialized=False,
)
LOADED = replace(NEW, cookie_id="b", saved_id="b", saved_hash="h0", expires_set=True)


def test_is_modified_by_id_or_hash() -> None:
    assert not is_modified(NEW)
    assert is_modified(replace(NEW, current_hash="h1"))
    assert is_modified(replace(NEW, session_id="c"))


def test_is_saved_compares_with_the_id_actually_saved() -> None:
    assert is_saved(LOADED)
    assert not is_saved(replace(LOADED, current_hash="h1"))
    regenerated = replace(LOADED, session_id="c", saved_id="c", original_id="b")
    assert is_saved(regenerated)


def test_rules_refuse_non_string_ids() -> None:
    for facts in (NEW, LOADED):
        odd = replace(facts, session_id=7, save_uninitialized=True, rolling=True)
        assert not should_save(odd)
        assert not should_touch(odd)
        assert not should_set_cookie(odd)


def test_new_session_rules() -> None:
    assert not should_save(NEW)
    assert not should_set_cookie(NEW)
    assert should_save(replace(NEW, save_uninitialized=True))
    assert should_set_cookie(replace(NEW, save_uninitialized=True))
    assert should_set_cookie(replace(NEW, saved_id="b", saved_hash="h0", explicitly_saved=True))
    assert not should_touch(replace(NEW, save_uninitialized=True))


def test_loaded_session_rules() -> None:
    assert not should_save(LOADED)
    assert should_touch(LOADED)
    assert not should_set_cookie(LOADED)
    assert should_set_cookie(replace(LOADED, rolling=True))
    modified = replace(LOADED, current_hash="h1")
    assert should_save(modified)
    assert not should_touch(modified)
    assert should_set_cookie(modified)
    assert not should_set_cookie(replace(modified, expires_set=False))
