"""Run ONE whole request cycle through the core, so behaviour tests read like the spec.

    config = make_config(resave=False, cookie={"max_age": 60})
    first = run_cycle(config, handler=lambda s: s.update(user="bob"))
    again = run_cycle(config, cookie=first.cookie, now=LATER)
    assert again.calls == [("get", ID1), ("touch", ID1)]

Ids come from ``SequentialIds`` (``ID1``, ``ID2`` ...) and time is the fixed ``NOW``, so
Set-Cookie strings can be asserted exactly. The store records every call and can be made to
return any object (``store.raw``) or to fail (``store.fail``). Signatures in expected values are
computed here with ``hmac`` (``signed``), independently of the code under test.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, cast
from urllib.parse import quote

from coatcheck import (
    RequestReceived,
    SessionConfig,
    SessionCycle,
    StoreOperation,
    SyncDriver,
    SyncSession,
)
from coatcheck.stores import MemoryStore

#: express's test secret.
SECRET = "keyboard cat"
#: The behaviour doc's instant: with ``max_age=60`` a session expires 2026-11-27T22:57:24.381Z.
NOW = datetime(2026, 11, 27, 22, 56, 24, 381000, tzinfo=timezone.utc)
#: ``NOW`` + 60 s in Set-Cookie's spelling.
EXPIRES_60 = "Fri, 27 Nov 2026 22:57:24 GMT"


def make_id(n: int) -> str:
    """The n-th id handed out by ``SequentialIds``: 32 characters, like uid-safe's."""
    return f"id{n:02d}-abcdefghijklmnopqrstuvwxyz0"


ID1, ID2, ID3 = make_id(1), make_id(2), make_id(3)
#: The id of a session stored by an earlier request (see ``given_stored``).
STORED_ID = "stored-abcdefghijklmnopqrstuvwxy"


class SequentialIds:
    """A deterministic ``genid``: ``ID1``, ``ID2`` ... Remembers the requests it was given."""

    def __init__(self) -> None:
        self.count = 0
        self.requests: list[Any] = []

    def __call__(self, request: Any) -> str:
        self.requests.append(request)
        self.count += 1
        return make_id(self.count)


def express_sign(value: str, secret: str | bytes) -> str:
    """cookie-signature's ``sign``: value + "." + base64(HMAC-SHA256) without padding."""
    key = secret.encode() if isinstance(secret, str) else secret
    mac = hmac.new(key, value.encode(), hashlib.sha256).digest()
    return value + "." + base64.b64encode(mac).decode().rstrip("=")


def signed(sid: str, secret: str | bytes = SECRET) -> str:
    """The URL-encoded cookie value express sends for ``sid`` (``s%3A<sid>.<sig>``)."""
    return quote("s:" + express_sign(sid, secret), safe="!'()*-._~")


def cookie_header(sid: str, secret: str | bytes = SECRET, name: str = "connect.sid") -> str:
    """The ``Cookie`` header a browser holding ``sid``'s cookie sends."""
    return f"{name}={signed(sid, secret)}"


def iso(when: datetime) -> str:
    """``Date.prototype.toJSON``."""
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{when.microsecond // 1000:03d}Z"
    )


def record(max_age: float | None = 60, now: datetime = NOW, **data: Any) -> dict[str, Any]:
    """A record as express stores it for ``cookie: {maxAge}`` (seconds here), plus ``data``."""
    if max_age is None:
        cookie: dict[str, Any] = {"originalMaxAge": None, "expires": None}
    else:
        cookie = {
            "originalMaxAge": round(max_age * 1000),
            "expires": iso(now + timedelta(seconds=max_age)),
        }
    cookie.update(httpOnly=True, path="/")
    return {"cookie": cookie, **data}


class RecordingStoreWithoutTouch:
    """A ``MemoryStore`` on the test clock that logs every call as ``(method, sid)``.

    ``raw[sid]`` is returned by ``get`` as is (bypassing the store: invalid or expired records);
    ``fail[method]`` is raised by that method. ``now`` is the store's clock.
    """

    def __init__(self) -> None:
        self.now = NOW
        self.inner = MemoryStore(clock=lambda: self.now)
        self.calls: list[tuple[str, str]] = []
        self.written: list[tuple[str, str, dict[str, Any]]] = []
        self.raw: dict[str, Any] = {}
        self.fail: dict[str, BaseException] = {}

    def _call(self, method: str, sid: str) -> None:
        self.calls.append((method, sid))
        if method in self.fail:
            raise self.fail[method]

    def get(self, sid: str) -> Any:
        self._call("get", sid)
        if sid in self.raw:
            return self.raw[sid]
        return self.inner.get(sid)

    def set(self, sid: str, record: Mapping[str, Any]) -> None:
        self._call("set", sid)
        self.written.append(("set", sid, dict(record)))
        self.raw.pop(sid, None)
        self.inner.set(sid, record)

    def destroy(self, sid: str) -> None:
        self._call("destroy", sid)
        self.raw.pop(sid, None)
        self.inner.destroy(sid)

    def put(self, sid: str, record: Mapping[str, Any]) -> None:
        """Store ``record`` without logging a call (a session from an earlier request)."""
        self.inner.set(sid, record)

    def stored(self, sid: str) -> dict[str, Any] | None:
        """What the store holds for ``sid`` now (not logged)."""
        return self.inner.get(sid)


class RecordingStore(RecordingStoreWithoutTouch):
    """The recording store, with ``touch`` (express's "store implements touch")."""

    def touch(self, sid: str, record: Mapping[str, Any]) -> None:
        self._call("touch", sid)
        self.written.append(("touch", sid, dict(record)))
        self.inner.touch(sid, record)


def make_config(**options: Any) -> SessionConfig:
    """``SessionConfig.from_options`` with express's defaults spelled out (no FutureWarning),
    the test secret, ``SequentialIds`` and a fresh ``RecordingStore``; ``options`` win.

    ``concurrency="none"``: these tests pin express's own behaviour (and the recording store has
    no versions, so the default "merge" would only add its start-up WARNING)."""
    options.setdefault("concurrency", "none")
    options.setdefault("secret", SECRET)
    options.setdefault("resave", True)
    options.setdefault("save_uninitialized", True)
    options.setdefault("genid", SequentialIds())
    options.setdefault("store", RecordingStore())
    return SessionConfig.from_options(**options)


def given_stored(
    config: SessionConfig, *, max_age: float | None = 60, sid: str = STORED_ID, **data: Any
) -> str:
    """Put a session saved at ``NOW`` into the config's store; return the browser's Cookie."""
    store = cast(RecordingStoreWithoutTouch, config.store)
    store.put(sid, record(max_age, **data))
    return cookie_header(sid, config.secrets[0], config.name)


@dataclass
class CycleResult:
    """What one request cycle produced."""

    set_cookie: str | None  # the exact Set-Cookie value, or None
    operations: tuple[StoreOperation, ...]  # the Decision's end-of-request operations
    calls: list[tuple[str, str]]  # every store call of this cycle, in order (get ... end)
    vary: bool  # add ``Vary: Cookie``
    session: SyncSession
    cycle: SessionCycle[SyncSession]
    store: RecordingStoreWithoutTouch
    writes: list[tuple[str, str, dict[str, Any]]]  # (method, sid, record) of set/touch calls

    @property
    def cookie(self) -> str:
        """The ``Cookie`` header a browser sends after this response (``name=value``)."""
        assert self.set_cookie is not None, "no Set-Cookie in this response"
        return self.set_cookie.split(";", 1)[0]

    @property
    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def written(self, method: str = "set") -> dict[str, Any]:
        """The last record this cycle wrote with ``method``."""
        records = [rec for m, _, rec in self.writes if m == method]
        assert records, f"no {method} in this cycle"
        return records[-1]


Handler = Callable[[SyncSession], object]


def run_cycle(
    config: SessionConfig,
    *,
    cookie: str | list[str] | None = None,
    now: datetime = NOW,
    secure: bool = False,
    direct_tls: bool = False,
    forwarded_proto: str | None = None,
    path: str = "/",
    request: Any = None,
    handler: Handler | None = None,
    after_headers: Handler | None = None,
) -> CycleResult:
    """One request: load (SyncDriver.begin), run ``handler`` on the session, decide and run
    the store operations (SyncDriver.end); ``after_headers`` runs after the decision, as a
    streaming body would, followed by ``end_late``. ``secure`` is the framework's verdict."""
    store = cast(RecordingStoreWithoutTouch, config.store)
    store.now = now
    before = len(store.calls)
    written_before = len(store.written)
    driver: SyncDriver[SyncSession] = SyncDriver(config)
    facts = RequestReceived(
        now=now,
        cookie_header=cookie,
        path=path,
        direct_tls=direct_tls,
        forwarded_proto=forwarded_proto,
        framework_secure=secure,
        request=request,
    )
    cycle = driver.begin(facts)
    assert cycle is not None, f"{path} is outside the cookie path"
    if handler is not None:
        handler(cycle.session)
    decision = driver.end(cycle)
    if after_headers is not None:
        after_headers(cycle.session)
        driver.end_late(cycle)
    return CycleResult(
        set_cookie=decision.set_cookie,
        operations=decision.operations,
        calls=store.calls[before:],
        vary=decision.vary_cookie,
        session=cycle.session,
        cycle=cycle,
        store=store,
        writes=store.written[written_before:],
    )
