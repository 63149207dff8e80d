"""coatcheck: server-side HTTP sessions with express-session's semantics.

The browser keeps only a signed session id (the coat-check ticket); the data stays in a store.
This package is the framework-agnostic, sans-I/O core plus the stores; the adapters
(``coatcheck-asgi``, ``coatcheck-flask``, ``coatcheck-django``) wire it into frameworks.
Embedding it in your own server takes a few lines::

    from datetime import datetime, timezone
    from coatcheck import RequestReceived, SessionConfig, SyncDriver
    from coatcheck.stores import MemoryStore

    config = SessionConfig.from_options(secret="s3cret", store=MemoryStore(),
                                        resave=False, save_uninitialized=False)
    driver = SyncDriver(config)
    cycle = driver.begin(RequestReceived(now=datetime.now(timezone.utc),
                                         cookie_header=environ.get("HTTP_COOKIE"), path="/"))
    cycle.session["views"] = cycle.session.get("views", 0) + 1
    decision = driver.end(cycle)      # store written; now send decision.set_cookie, if any
"""

from __future__ import annotations

from .__about__ import __version__
from ._config import SessionConfig, check_option_names
from ._conflicts import CycleStateError, Phase
from ._cookie_options import CookieOptions
from ._cookies import cookie_values, serialize_cookie, vary_with_cookie
from ._cycle import SessionCycle
from ._drivers import AsyncDriver, AsyncSession, SyncDriver, SyncSession
from ._errors import (
    CoatcheckError,
    ConfigError,
    ConfigWarning,
    InvalidRecordError,
    SessionBusy,
    SessionConflict,
    SessionGone,
    SessionLockTimeout,
    StoreError,
)
from ._ids import default_genid
from ._operations import (
    Decision,
    StoreDestroy,
    StoreGet,
    StoreGetVersioned,
    StoreLock,
    StoreOperation,
    StoreSet,
    StoreSetIf,
    StoreTouch,
    StoreUnlock,
)
from ._request import RequestReceived, is_secure, path_matches
from ._run import load_async, load_sync, run_async, run_sync, settle_async, settle_sync
from ._session import Session, SessionNotFound
from ._session_cookie import SessionCookie
from ._store_checks import require_sync_store
from ._stored import (
    destroy_by_cookie,
    destroy_by_cookie_async,
    read_record,
    read_record_async,
    session_exists,
    session_exists_async,
    stored_data,
)
from ._users import SessionInfo, revoke, revoke_async, sessions_of, sessions_of_async

__all__ = [
    "AsyncDriver",
    "AsyncSession",
    "CoatcheckError",
    "ConfigError",
    "ConfigWarning",
    "CookieOptions",
    "CycleStateError",
    "Decision",
    "InvalidRecordError",
    "Phase",
    "RequestReceived",
    "Session",
    "SessionBusy",
    "SessionConfig",
    "SessionConflict",
    "SessionCookie",
    "SessionCycle",
    "SessionGone",
    "SessionInfo",
    "SessionLockTimeout",
    "SessionNotFound",
    "StoreDestroy",
    "StoreError",
    "StoreGet",
    "StoreGetVersioned",
    "StoreLock",
    "StoreOperation",
    "StoreSet",
    "StoreSetIf",
    "StoreTouch",
    "StoreUnlock",
    "SyncDriver",
    "SyncSession",
    "__version__",
    "check_option_names",
    "cookie_values",
    "default_genid",
    "destroy_by_cookie",
    "destroy_by_cookie_async",
    "is_secure",
    "load_async",
    "load_sync",
    "path_matches",
    "read_record",
    "read_record_async",
    "require_sync_store",
    "revoke",
    "revoke_async",
    "run_async",
    "run_sync",
    "serialize_cookie",
    "session_exists",
    "session_exists_async",
    "sessions_of",
    "sessions_of_async",
    "settle_async",
    "settle_sync",
    "stored_data",
    "vary_with_cookie",
]
