"""``coatcheck.testing``: the store contract suite, a pytest plugin.

Prove a store behaves like an express-session store by subclassing one class and giving it a
``store`` fixture (the ``clock`` fixture comes with this plugin, installed with coatcheck)::

    import pytest
    from coatcheck.testing import AsyncStoreContract, StoreContract

    class TestMyStore(StoreContract):
        @pytest.fixture
        def store(self, clock):              # a fresh, empty store on the fake clock
            return MyStore(clock=clock)

    class TestMyAsyncStore(AsyncStoreContract):
        server_side_expiry = True            # expiry enforced by the server's own clock
        @pytest.fixture
        def store(self, clock):              # sync fixture; connect lazily, inside the loop
            return MyAsyncStore(url, clock=clock)

Class attributes: ``server_side_expiry = True`` when a server's own clock enforces expiry
(short real waits replace ``clock.advance``); ``touch_updates_stored_cookie = False`` when
``touch`` only extends the lifetime (connect-redis's ``EXPIRE``) instead of also replacing the
stored ``cookie`` as express's MemoryStore does; ``expiry_resolution`` (seconds a store may round
``cookie.expires`` up, e.g. 1.0 for connect-pg-simple's whole seconds; default 0: expired exactly
when ``expires <= now``); ``browser_session_lifetime`` (the documented shortest life of a record
without ``cookie.expires``, default one day as connect-redis); ``wire_samples`` (the JSON texts
the Node store writes, for the raw hooks); ``time_zone`` (every test runs with ``TZ`` set to it,
default ``"America/New_York"``, so naive local-time arithmetic fails); ``max_loop_stall``
(async stores: the longest the event loop may be held by one call, default 0.2 s).
``reports_expiry = True`` when ``get_versioned``'s ``expires_at`` is the store's own expiry
(``touch_after``; a ``get_with_expiry`` method claims it by itself). The lifetime rules
(``_lifetimes.py``) check that expiries hold to the millisecond and that ``max_lifetime``'s
deadline is never passed, not even by a touch.

Optional methods (``touch``, ``all``, ``length``, ``clear``, ``prune``), the concurrency
capabilities (``get_versioned``, ``set_if``, ``lock``, ``unlock``, ``get_locked``) and the
suite's hooks are tested when the store has them and reported as skipped otherwise. The hooks:
``raw_get(sid) -> bytes | None`` (the bytes stored for ``sid``, exactly as stored, expired or
not) and ``raw_set(sid, data: bytes)`` (store ``data`` as the Node store would, expiry read from
the JSON): through them the suite checks the stored bytes against ``JSON.stringify``'s spelling,
that Node-written bytes read back, and that expired records are really deleted.

``get`` (and ``get_versioned``) raising ``FileNotFoundError`` for a missing id is accepted as
"not found" (express's ENOENT rule). ``make_record`` builds express-shaped records for a store
author's own tests. This module imports pytest: it is meant to be used under pytest.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite(
    "coatcheck.testing._capabilities",
    "coatcheck.testing._contract",
    "coatcheck.testing._harness",
    "coatcheck.testing._lifetimes",
    "coatcheck.testing._steps",
    "coatcheck.testing._wire",
)

from ._clock import FakeClock  # noqa: E402 (after the assert-rewrite registration)
from ._contract import AsyncStoreContract, StoreContract  # noqa: E402
from ._records import js_iso, make_record  # noqa: E402

__all__ = ["AsyncStoreContract", "FakeClock", "StoreContract", "clock", "js_iso", "make_record"]


@pytest.fixture
def clock() -> FakeClock:
    """A ``FakeClock`` at the real UTC now (whole ms); give it to the store as ``clock``."""
    return FakeClock()
