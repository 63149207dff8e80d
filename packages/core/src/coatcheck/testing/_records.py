"""Express-shaped session records for tests: what express-session really stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any


def js_iso(when: datetime) -> str:
    """``when`` as JavaScript's ``Date.prototype.toISOString`` renders it (ms, ``Z``)."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{when.microsecond // 1000:03d}Z"
    )


def make_record(now: datetime, max_age_s: float | None, **data: Any) -> dict[str, Any]:
    """A record as express-session stores it for ``cookie: {maxAge}``, plus ``data``.

    ``make_record(clock(), 60, user="bob")`` gives
    ``{"cookie": {"originalMaxAge": 60000, "expires": "…Z", "httpOnly": true, "path": "/"},
    "user": "bob"}``. ``max_age_s=None`` gives a browser-session record (``expires: null``); a
    negative ``max_age_s`` gives one that has already expired.
    """
    if max_age_s is None:
        cookie: dict[str, Any] = {"originalMaxAge": None, "expires": None}
    else:
        expires = js_iso(now + timedelta(seconds=max_age_s))
        cookie = {"originalMaxAge": round(max_age_s * 1000), "expires": expires}
    cookie.update(httpOnly=True, path="/")
    return {"cookie": cookie, **data}
