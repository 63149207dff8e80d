"""The contract every adapter's scenario harness fulfils, so one table of scenarios can run
against ASGI, Flask and Django and demand the same Set-Cookie and store operations.

An adapter harness module exposes ``make_client(options: dict) -> ScenarioClient``: it builds a
tiny app with the routes below, wired with ``options`` (always including ``secret``, ``resave``,
``save_uninitialized`` and a ``RecordingStore`` as ``store``), and returns a client.

Routes (GET; each answers 200 with the session's data as a JSON object, except where noted):
- ``/noop``        does not touch the session at all (body ``{}``)
- ``/read``        reads the whole session (body: the data)
- ``/write?k=v``   sets ``session[k] = v`` for each query parameter
- ``/incr``        ``session["n"] = session.get("n", 0) + 1``
- ``/regenerate``  regenerate (data dropped), then ``session["r"] = 1``
- ``/cycle-key``   regenerate with the data kept (``keep_data=True``; ``?renew=1`` adds
                   ``renew=True``), as a login does (Django's ``cycle_key``)
- ``/destroy``     destroy (body ``{}``)
- ``/reload``      sets ``session["tmp"] = 1`` then reloads (tmp gone)
- ``/save``        sets ``session["s"] = 1`` then saves explicitly
- ``/touch``       touch()
- ``/unset``       unsets the session (ASGI ``scope["session"] = None``, Django
                   ``del request.session``, Flask ``coatcheck_flask.unset_session()``) (body ``{}``)
- ``/cookie-max-age?s=N`` sets ``session.cookie.max_age = N``
A route outside the cookie path (``/outside``) answers 200 ``{"has_session": bool}``.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from coatcheck.stores import MemoryStore


@dataclass
class Response:
    """What a scenario looks at in a response."""

    status: int
    set_cookies: list[str]  # every Set-Cookie header value, in order
    vary: str | None
    body: Any


class ScenarioClient(Protocol):
    """A client over one app; it does NOT keep cookies itself: scenarios pass ``cookie``."""

    def get(
        self,
        path: str,
        *,
        cookie: str | None = None,
        https: bool = False,
        headers: Mapping[str, str] | None = None,
    ) -> Response: ...


@dataclass
class RecordingStore:
    """A MemoryStore that records every call as ``(method, sid)``, and can be made to fail."""

    inner: MemoryStore = field(default_factory=MemoryStore)
    calls: list[tuple[str, str]] = field(default_factory=list)
    fail_get: BaseException | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _log(self, method: str, sid: str) -> None:
        with self._lock:
            self.calls.append((method, sid))

    def get(self, sid: str) -> dict[str, Any] | None:
        self._log("get", sid)
        if self.fail_get is not None:
            raise self.fail_get
        return self.inner.get(sid)

    def get_with_expiry(self, sid: str) -> tuple[dict[str, Any], datetime | None] | None:
        """The read ``touch_after`` uses (logged as ``get``: it is the same round trip)."""
        self._log("get", sid)
        if self.fail_get is not None:
            raise self.fail_get
        found = self.inner.get_versioned(sid)
        return None if found is None else (found.record, found.expires_at)

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        self._log("set", sid)
        self.inner.set(sid, record)

    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        self._log("touch", sid)
        self.inner.touch(sid, record)

    def destroy(self, sid: str) -> None:
        self._log("destroy", sid)
        self.inner.destroy(sid)

    def methods(self) -> list[str]:
        """The store methods called so far, in order."""
        return [method for method, _ in self.calls]

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()
