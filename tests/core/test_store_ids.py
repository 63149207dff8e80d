"""The core never hands a store an id it did not generate or verify (issue 10.12).

Stores use ids as keys (a file name, a Redis key, a SQL parameter): a third-party store that
trusts them must never see a client's raw cookie text. A recording store notes every id any of
its methods receives while requests take every path of the session's life, with forged and odd
cookie values ("/", "..", NUL, over-long ...) beside or instead of a valid one.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from coatcheck import SyncSession
from coatcheck.stores import MemoryStore

from .cycle import (
    NOW,
    STORED_ID,
    SequentialIds,
    cookie_header,
    make_config,
    make_id,
    record,
    run_cycle,
)

#: Store methods whose first argument is a session id (or the key derived from one).
ID_METHODS = frozenset(
    {
        "get",
        "set",
        "destroy",
        "touch",
        "get_versioned",
        "get_with_expiry",
        "set_if",
        "lock",
        "unlock",
        "get_locked",
    }
)


class IdRecordingStore:
    """A real MemoryStore (with all its capabilities) that notes every id it is given."""

    def __init__(self) -> None:
        self.inner = MemoryStore(clock=lambda: NOW)
        self.ids: list[tuple[str, Any]] = []
        self.now = NOW  # what run_cycle reads and sets on a recording store
        self.calls: list[tuple[str, str]] = []
        self.written: list[tuple[str, str, dict[str, Any]]] = []

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.inner, name)
        if name not in ID_METHODS:
            return attribute

        def recording(*args: Any, **kwargs: Any) -> Any:
            self.ids.append((name, args[0] if args else kwargs.get("sid")))
            return attribute(*args, **kwargs)

        return recording


ODD_VALUES = [
    "/",
    "..",
    "../../etc/passwd",
    "s:..%2F..%2Fetc.sig",
    "%00",
    "s:%00.x",
    "s:" + "A" * 4000 + ".sig",
    "A" * 4090,
    "s:\u202e.sig",
    "s:" + STORED_ID,  # the right id, unsigned
    "s:" + STORED_ID + ".forgedsignature",
]
Handler = Callable[[SyncSession], object]
PATHS: dict[str, Handler | None] = {
    "load": None,
    "write": lambda s: s.update(a=1),
    "regenerate": lambda s: s.regenerate(),
    "regenerate keep_data": lambda s: s.regenerate(keep_data=True),
    "destroy": lambda s: s.destroy(),
    "reload": lambda s: s.reload(),
    "save": lambda s: s.save(),
    "touch": lambda s: s.touch(),
    "unset": lambda s: s.cycle.set_unset(),
}


def _headers(valid: str) -> list[str | list[str] | None]:
    """Odd values alone, before and after the valid cookie, and in a header of their own."""
    headers: list[str | list[str] | None] = [None, valid]
    for odd in ODD_VALUES:
        headers += [f"connect.sid={odd}", f"connect.sid={odd}; {valid}", [f"connect.sid={odd}"]]
    return headers


@pytest.mark.parametrize("concurrency", ["merge", "lock", "none"])
@pytest.mark.parametrize("path", PATHS, ids=str)
def test_every_id_a_store_sees_was_generated_or_verified(path: str, concurrency: str) -> None:
    store = IdRecordingStore()
    genid = SequentialIds()
    config = make_config(
        store=store,
        genid=genid,
        unset="destroy",
        resave=False,
        save_uninitialized=True,
        concurrency=concurrency,
        cookie={"max_age": 60},
    )
    valid = cookie_header(STORED_ID)
    handler = PATHS[path]
    for header in _headers(valid):
        store.inner.set(STORED_ID, record(60, user="bob"))  # a session stored earlier
        try:
            run_cycle(config, cookie=header, handler=handler)
        except LookupError:  # reload() of a session that is not stored (a new visitor)
            assert path == "reload"
    generated = {make_id(n) for n in range(1, genid.count + 1)}
    allowed = generated | {STORED_ID}
    seen = {sid for _, sid in store.ids}
    assert seen, "the store was used"
    assert seen <= allowed, sorted(seen - allowed)
