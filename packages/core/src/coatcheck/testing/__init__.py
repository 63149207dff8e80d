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
stored ``cookie`` as express's MemoryStore does.

Optional methods (``touch``, ``all``, ``length``, ``clear``) are tested when the store has them
and reported as skipped otherwise. ``make_record`` builds express-shaped records for a store
author's own tests. This module imports pytest: it is meant to be used under pytest.

Not covered by the suite: express's ENOENT rule (``get`` raising ``FileNotFoundError`` means
"not found") is the driver's job and is tested there.
"""

from __future__ import annotations

import pytest

pytest.register_assert_rewrite("coatcheck.testing._contract", "coatcheck.testing._harness")

from ._clock import FakeClock  # noqa: E402 (after the assert-rewrite registration)
from ._contract import AsyncStoreContract, StoreContract  # noqa: E402
from ._records import js_iso, make_record  # noqa: E402

__all__ = ["AsyncStoreContract", "FakeClock", "StoreContract", "clock", "js_iso", "make_record"]


@pytest.fixture
def clock() -> FakeClock:
    """A ``FakeClock`` at the real UTC now (whole ms); give it to the store as ``clock``."""
    return FakeClock()
