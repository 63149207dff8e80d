"""A small store with the concurrency capabilities, for driving interleavings in core tests.

Records are kept as JSON text; the version is the SHA-1 of that text (as the shipped stores
derive it), so any write changes it. Locks are tokens with an expiry on the store's own clock
(``now``, advanced by the test). Every call is logged as ``(method, sid)``, so a test can assert
the exact round trips. Thread-safe, so the same store serves threaded tests.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import threading
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from coatcheck.stores import MemoryStore, Versioned
from coatcheck.stores._codec import encode_record

from .cycle import NOW


class VersionedStore:
    """get/set/destroy/touch plus get_versioned, set_if, lock, unlock and get_locked."""

    def __init__(self, *, get_locked: bool = True) -> None:
        self.texts: dict[str, str] = {}
        self.locks: dict[str, tuple[str, float]] = {}  # sid -> (token, expires at)
        self.now = 0.0  # the lock clock (seconds); tests advance it
        self.calls: list[tuple[str, str]] = []
        self._mutex = threading.Lock()
        self._tokens = itertools.count(1)
        if not get_locked:
            self.get_locked = None  # type: ignore[assignment]

    # -- helpers for tests ---------------------------------------------------------------------
    def put(self, sid: str, record: Mapping[str, Any]) -> None:
        """Store ``record`` without logging a call (another writer, an earlier request)."""
        with self._mutex:
            self.texts[sid] = encode_record(record)

    def empty(self) -> bool:
        return not self.texts

    def forget(self, sid: str) -> None:
        """Delete ``sid`` without logging a call (another process did it)."""
        with self._mutex:
            self.texts.pop(sid, None)

    def stored(self, sid: str) -> dict[str, Any] | None:
        text = self.texts.get(sid)
        return None if text is None else json.loads(text)

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def _log(self, method: str, sid: str) -> None:
        self.calls.append((method, sid))

    def _version(self, sid: str) -> str | None:
        text = self.texts.get(sid)
        return None if text is None else hashlib.sha1(text.encode()).hexdigest()

    def _held(self, sid: str) -> str | None:
        held = self.locks.get(sid)
        if held is None or held[1] <= self.now:
            return None
        return held[0]

    # -- the store contract --------------------------------------------------------------------
    def get(self, sid: str) -> dict[str, Any] | None:
        with self._mutex:
            self._log("get", sid)
            return self.stored(sid)

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        with self._mutex:
            self._log("set", sid)
            self.texts[sid] = encode_record(record)

    def destroy(self, sid: str) -> None:
        with self._mutex:
            self._log("destroy", sid)
            self.texts.pop(sid, None)

    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        with self._mutex:
            self._log("touch", sid)
            self._touch(sid, record)

    def _touch(self, sid: str, record: Mapping[str, Any]) -> None:
        stored = self.stored(sid)
        if stored is not None:  # a touch never recreates a session
            stored["cookie"] = dict(record["cookie"])
            self.texts[sid] = encode_record(stored)

    # -- capabilities ----------------------------------------------------------------------------
    def get_versioned(self, sid: str) -> Versioned | None:
        with self._mutex:
            self._log("get_versioned", sid)
            return self._get_versioned(sid)

    def _get_versioned(self, sid: str) -> Versioned | None:
        record, version = self.stored(sid), self._version(sid)
        return None if record is None or version is None else Versioned(record, version)

    def set_if(
        self, sid: str, record: Mapping[str, Any], version: str | None, *, unlock: str | None = None
    ) -> bool:
        with self._mutex:
            self._log("set_if", sid)
            if unlock is not None:
                self._unlock(sid, unlock)
            if self._version(sid) != version:
                return False
            self.texts[sid] = encode_record(record)
            return True

    def lock(self, sid: str, ttl: float) -> str | None:
        with self._mutex:
            self._log("lock", sid)
            return self._lock(sid, ttl)

    def _lock(self, sid: str, ttl: float) -> str | None:
        if self._held(sid) is not None:
            return None
        token = f"t{next(self._tokens)}"
        self.locks[sid] = (token, self.now + ttl)
        return token

    def unlock(self, sid: str, token: str, *, touch: Mapping[str, Any] | None = None) -> None:
        with self._mutex:
            self._log("unlock", sid)
            self._unlock(sid, token)
            if touch is not None:
                self._touch(sid, touch)

    def _unlock(self, sid: str, token: str) -> None:
        if self._held(sid) == token:
            del self.locks[sid]

    def get_locked(self, sid: str, ttl: float) -> tuple[str | None, Versioned | None]:
        with self._mutex:
            self._log("get_locked", sid)
            token = self._lock(sid, ttl)
            return token, (None if token is None else self._get_versioned(sid))


class LoggedMemoryStore(MemoryStore):
    """The shipped ``MemoryStore`` (which has every capability) with the same test helpers as
    ``VersionedStore``: a call log, ``put``/``stored`` that bypass it, ``texts``, ``locks`` and a
    lock clock ``now`` (seconds after the test instant ``NOW``)."""

    def __init__(self, *, get_locked: bool = True) -> None:
        self.now = 0.0
        super().__init__(clock=lambda: NOW + timedelta(seconds=self.now))
        self.calls: list[tuple[str, str]] = []
        if not get_locked:
            self.get_locked = None  # type: ignore[assignment]

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def put(self, sid: str, record: Mapping[str, Any]) -> None:
        MemoryStore.set(self, sid, record)

    def stored(self, sid: str) -> dict[str, Any] | None:
        return MemoryStore.get(self, sid)

    def forget(self, sid: str) -> None:
        MemoryStore.destroy(self, sid)

    def empty(self) -> bool:
        return MemoryStore.length(self) == 0

    @property
    def locks(self) -> dict[str, Any]:
        now = self._clock()
        return {sid: held for sid, held in self._locks.items() if held[1] > now}


def _logged(name: str) -> Any:
    method = getattr(MemoryStore, name)

    def logged(self: LoggedMemoryStore, sid: str, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((name, sid))
        return method(self, sid, *args, **kwargs)

    logged.__name__ = name
    return logged


for _name in ("get", "set", "destroy", "touch", "get_versioned", "set_if", "lock", "unlock"):
    setattr(LoggedMemoryStore, _name, _logged(_name))
LoggedMemoryStore.get_locked = _logged("get_locked")  # type: ignore[method-assign]
