"""Express-shaped session records for tests: what express-session really stores."""

from __future__ import annotations

import re
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


#: When the ``EXPRESS_SAMPLES`` were taken (their ``expires`` are relative to it).
SAMPLES_NOW = datetime(2026, 11, 27, 22, 56, 24, 381000, tzinfo=timezone.utc)

#: ``JSON.stringify(req.session)`` as express-session 1.19.0 hands it to its store (connect-redis
#: stores exactly these bytes; connect-pg-simple's ``json`` column keeps the same text): cookie
#: keys in express's order, compact, non-ASCII as is. The last one holds a lone surrogate, which
#: ``JSON.stringify`` escapes (ES2019) so that the text is valid UTF-8.
_COOKIE = '"cookie":{"originalMaxAge":60000,"expires":"2026-11-27T22:57:24.381Z",'
EXPRESS_SAMPLES: tuple[str, ...] = (
    "{" + _COOKIE + '"httpOnly":true,"path":"/"},"user":"bob"}',
    '{"cookie":{"originalMaxAge":null,"expires":null,"httpOnly":true,"path":"/"}}',
    "{" + _COOKIE + '"secure":false,"httpOnly":true,"path":"/","sameSite":"lax"},"a":"1"}',
    '{"cookie":{"originalMaxAge":60000,"partitioned":true,"priority":"high",'
    '"expires":"2026-11-27T22:57:24.381Z","httpOnly":true,"domain":"example.com","path":"/"}}',
    '{"cookie":{"originalMaxAge":60000,"expires":"2026-11-27T22:57:23.781Z","httpOnly":true,'
    '"path":"/"},"cart":{"items":[{"sku":"a-1","qty":2,"tags":["x",null]}],"total":12.5},'
    '"greeting":"Grüße 🎟️ 日本","flash":{}}',
    "{" + _COOKIE + '"httpOnly":true,"path":"/"},"half":"a\\ud83db","n":-0.5}',
)

_EXPIRES = re.compile(r'"expires":"([^"]+)"')


def retime(sample: str, now: datetime, then: datetime = SAMPLES_NOW) -> str:
    """``sample`` with every ``cookie.expires`` moved by ``now - then``, spelled as before."""
    shift = now - then

    def moved(match: re.Match[str]) -> str:
        when = datetime.fromisoformat(match[1].replace("Z", "+00:00")) + shift
        return f'"expires":"{js_iso(when)}"'

    return _EXPIRES.sub(moved, sample)
