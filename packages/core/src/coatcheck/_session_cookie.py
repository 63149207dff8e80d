"""The per-session cookie: express's ``Cookie`` object, in seconds, with its exact JSON.

``max_age`` is the time remaining (seconds, may be negative); ``original_max_age`` the configured
lifetime, kept exactly (express drifts by a millisecond). Setting ``max_age`` or ``expires``
re-bases both, as express's setters do. The stored JSON keeps express's milliseconds and key order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any

from ._cookie_options import (
    CookieOptions,
    priority_attribute,
    same_site_attribute,
)
from ._cookies import DOMAIN_RE, PATH_RE, serialize_cookie
from ._errors import ConfigError
from ._options import MAX_LIFETIME_SECONDS, seconds
from .stores._codec import parse_expires

_UNIX_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def iso_millis(when: datetime) -> str:
    """``Date.prototype.toJSON``: ``2026-11-27T22:57:24.381Z``."""
    utc = when.astimezone(timezone.utc)  # returns ``when`` itself when it is already UTC
    if utc.year >= 1000:  # isoformat pads the year to 4 digits, strftime's %Y may not
        return utc.isoformat(timespec="milliseconds")[:-6] + "Z"  # drop "+00:00"
    return utc.strftime("%Y-%m-%dT%H:%M:%S.") + f"{utc.microsecond // 1000:03d}Z"


def millis(value: float | None) -> int | float | None:
    """Seconds as express's integral milliseconds where exact (no ``60000.0`` in the JSON)."""
    if value is None:
        return None
    ms = value * 1000
    return round(ms) if abs(ms - round(ms)) < 1e-6 else ms


def _check_attributes(
    path: Any, domain: Any, priority: Any, same_site: Any
) -> tuple[Any, str | None, str | None]:
    """Validate a session's cookie settings (cookie 0.7.2's checks and messages, its order)."""
    if not PATH_RE.match(path or ""):
        raise ValueError("option path is invalid")
    if domain and not DOMAIN_RE.match(domain):
        raise ValueError("option domain is invalid")
    return path, priority_attribute(priority), same_site_attribute(same_site)


#: Sessions share a handful of distinct settings: each is checked once.
_checked_attributes = lru_cache(maxsize=256, typed=True)(_check_attributes)


def _shown(value: Any) -> str:
    """A value in an error message, cut short (it may come from a stored record)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _check_path(value: Any) -> None:
    if not isinstance(value, str) or not PATH_RE.match(value):
        raise ValueError(f"cookie.path: option path is invalid: {_shown(value)}")


def _check_domain(value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not DOMAIN_RE.match(value)):
        raise ValueError(f"cookie.domain: option domain is invalid: {_shown(value)}")


def _check_same_site(value: Any) -> None:
    try:
        same_site_attribute(value)
    except ValueError:
        raise ValueError(
            'cookie.same_site: option sameSite is invalid (True, False, None, "lax", '
            f'"strict" or "none"): {_shown(value)}'
        ) from None


def _check_priority(value: Any) -> None:
    try:
        priority_attribute(value)
    except ValueError:
        raise ValueError(
            f'cookie.priority: option priority is invalid (None, "low", "medium" or "high"): '
            f"{_shown(value)}"
        ) from None


#: Attributes checked when set (by the app, or when a stored record is inflated), so a value
#: that cannot be serialised is refused at once, never on every later request.
_CHECKS: dict[str, Callable[[Any], None]] = {
    "path": _check_path,
    "domain": _check_domain,
    "same_site": _check_same_site,
    "priority": _check_priority,
}


def _check_settings(path: Any, domain: Any, same_site: Any, priority: Any) -> bool:
    """A stored cookie's settings, checked as the attribute setters check them, in order."""
    _check_path(path)
    _check_domain(domain)
    _check_same_site(same_site)
    _check_priority(priority)
    return True


#: Stored cookies share a handful of distinct settings: each combination is checked once.
_checked_settings = lru_cache(maxsize=256, typed=True)(_check_settings)


def _check_lifetime(seconds_: float, what: str) -> None:
    if not math.isfinite(seconds_) or abs(seconds_) > MAX_LIFETIME_SECONDS:
        raise ValueError(f"{what} must be a finite lifetime within 1000 years, not {seconds_!r}")


class SessionCookie:
    """Cookie settings of one session; changes here apply to this session only.

    Every setting is checked when it is set (``ValueError``): an app cannot store a cookie that
    would fail to load or to serialise on the session's next request.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        check = _CHECKS.get(name)
        if check is not None:
            check(value)
        object.__setattr__(self, name, value)

    # Declared here, set in ``__init__`` past the checks (the defaults are valid).
    _clock: Callable[[], datetime]
    _expires: datetime | None
    _original_max_age: float | None
    path: str
    http_only: bool
    secure: bool | str | None
    domain: str | None
    same_site: bool | str | None
    partitioned: bool | None
    priority: str | None

    def __init__(self, clock: Callable[[], datetime]) -> None:
        self.__dict__.update(
            _clock=clock,
            _expires=None,
            _original_max_age=None,
            path="/",
            http_only=True,
            secure=None,
            domain=None,
            same_site=None,
            partitioned=None,
            priority=None,
        )

    @classmethod
    def from_options(
        cls, options: CookieOptions, clock: Callable[[], datetime], secure: bool
    ) -> SessionCookie:
        """A new session's cookie; ``"auto"`` is resolved from the request's security."""
        cookie = cls(clock)
        cookie.__dict__.update(  # validated once in CookieOptions: no per-attribute checks
            path=options.path,
            http_only=options.http_only,
            secure=secure if options.secure == "auto" else options.secure,
            domain=options.domain,
            same_site=(
                ("none" if secure else "lax") if options.same_site == "auto" else options.same_site
            ),
            partitioned=options.partitioned,
            priority=options.priority,
        )
        if options.expires is not None:
            cookie.expires = options.expires
        else:  # validated in CookieOptions too: set as the max_age setter would
            cookie.__dict__["_original_max_age"] = options.max_age_seconds
            cookie.reset_max_age()
        return cookie

    @classmethod
    def from_json(cls, data: Mapping[str, Any], clock: Callable[[], datetime]) -> SessionCookie:
        """Inflate a stored cookie (express's ``createSession``); raises ValueError if malformed."""
        stored_expires = data.get("expires")
        expires = None if stored_expires is None else parse_expires(stored_expires)
        if expires is not None:
            _check_lifetime((expires - clock()).total_seconds(), "cookie.expires")
        original = data.get("originalMaxAge")
        if isinstance(original, bool) or not isinstance(original, (int, float, type(None))):
            raise ValueError(f"cookie.originalMaxAge is not a number: {_shown(original)}")
        if original is not None:
            _check_lifetime(original / 1000, "cookie.originalMaxAge")
        settings = (
            data.get("path", "/"),
            data.get("domain"),
            data.get("sameSite"),
            data.get("priority"),
        )
        try:
            _checked_settings(*settings)
        except TypeError:  # an unhashable value: checked uncached (and refused)
            _check_settings(*settings)
        cookie = cls.__new__(cls)
        cookie.__dict__.update(  # checked just above, as the setters would; one update
            _clock=clock,
            _expires=expires,
            _original_max_age=None if original is None else original / 1000,
            path=settings[0],
            http_only=bool(data.get("httpOnly", True)),
            secure=data.get("secure"),
            domain=settings[1],
            same_site=settings[2],
            partitioned=data.get("partitioned"),
            priority=settings[3],
        )
        return cookie

    # -- express's getters and setters -------------------------------------------------------
    @property
    def expires(self) -> datetime | None:
        """When the cookie (and the stored session) expires; ``None`` = browser session."""
        return self._expires

    @expires.setter
    def expires(self, value: datetime | None) -> None:
        if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
            raise ValueError("cookie.expires must be a timezone-aware datetime or None")
        if value is not None:
            _check_lifetime((value - self._clock()).total_seconds(), "cookie.expires")
        self._expires = value
        self._original_max_age = self.max_age

    @property
    def max_age(self) -> float | None:
        """Seconds remaining until ``expires`` (express's ``maxAge`` getter), or ``None``."""
        if self._expires is None:
            return None
        return (self._expires - self._clock()).total_seconds()

    @max_age.setter
    def max_age(self, value: float | timedelta | None) -> None:
        try:
            lifetime = seconds(value, "cookie.max_age")
        except ConfigError as exc:  # the app's assignment, not a start-up option
            raise ValueError(str(exc)) from None
        self._expires = None if lifetime is None else self._clock() + timedelta(seconds=lifetime)
        self._original_max_age = lifetime

    @property
    def original_max_age(self) -> float | None:
        """The lifetime the cookie was given, in seconds (``None`` for a browser session)."""
        return self._original_max_age

    def reset_max_age(self) -> None:
        """express's ``resetMaxAge``: slide ``expires`` to now + ``original_max_age``.

        The lifetime was checked when it was set: only ``expires`` moves (every request)."""
        lifetime = self._original_max_age
        self.__dict__["_expires"] = (
            None if lifetime is None else self._clock() + timedelta(seconds=lifetime)
        )

    # -- output ------------------------------------------------------------------------------
    def to_json(self) -> dict[str, Any]:
        """express's ``cookie.toJSON()``: its keys, its order, unset attributes omitted."""
        data: dict[str, Any] = {"originalMaxAge": millis(self._original_max_age)}
        if self.partitioned is not None:
            data["partitioned"] = self.partitioned
        if self.priority is not None:
            data["priority"] = self.priority
        data["expires"] = None if self._expires is None else iso_millis(self._expires)
        if self.secure is not None:
            data["secure"] = self.secure
        if self.http_only is not None:
            data["httpOnly"] = self.http_only
        if self.domain is not None:
            data["domain"] = self.domain
        if self.path is not None:
            data["path"] = self.path
        if self.same_site is not None:
            data["sameSite"] = self.same_site
        return data

    def serialize(self, name: str, value: str) -> str:
        """The Set-Cookie header for this cookie carrying ``value`` (ValueError if invalid)."""
        try:
            path, priority, same_site = _checked_attributes(
                self.path, self.domain, self.priority, self.same_site
            )
        except TypeError:  # unhashable settings: check them uncached (raises as before)
            path, priority, same_site = _check_attributes(
                self.path, self.domain, self.priority, self.same_site
            )
        return serialize_cookie(
            name,
            value,
            domain=self.domain,
            path=path,
            expires=self._expires,
            http_only=bool(self.http_only),
            secure=bool(self.secure),
            partitioned=bool(self.partitioned),
            priority=priority,
            same_site=same_site,
        )

    def serialize_clearing(self, name: str) -> str:
        """The Set-Cookie that makes the browser forget the id (express v2, issue #241)."""
        return serialize_cookie(
            name,
            "",
            domain=self.domain,
            path=self.path,
            expires=_UNIX_EPOCH,
            http_only=bool(self.http_only),
            secure=bool(self.secure),
            partitioned=bool(self.partitioned),
            same_site=same_site_attribute(self.same_site),
        )

    def __repr__(self) -> str:
        return f"SessionCookie({self.to_json()!r})"
