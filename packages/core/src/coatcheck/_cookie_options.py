"""The session cookie's options (``CookieOptions``), validated once at start-up as cookie 0.7.2
would refuse them on every request, and the attribute spellings they are sent with."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import Any, Literal

from ._cookies import DOMAIN_RE, PATH_RE
from ._errors import ConfigError, ConfigWarning
from ._options import MAX_LIFETIME_SECONDS, seconds, unknown_options

SameSite = bool | Literal["lax", "strict", "none", "auto"] | str | None

_SAME_SITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
_PRIORITY = {"low": "Low", "medium": "Medium", "high": "High"}


def same_site_attribute(value: Any) -> str | None:
    """The ``SameSite=`` spelling for an option value (``True`` means Strict, as in express)."""
    if value is True:
        return "Strict"
    if value is None or value is False:
        return None
    if isinstance(value, str) and value.lower() in _SAME_SITE:
        return _SAME_SITE[value.lower()]
    raise ValueError("option sameSite is invalid")


def priority_attribute(value: Any) -> str | None:
    """The ``Priority=`` spelling for an option value."""
    if value is None or value is False:
        return None
    if isinstance(value, str) and value.lower() in _PRIORITY:
        return _PRIORITY[value.lower()]
    raise ValueError("option priority is invalid")


@dataclass(frozen=True)
class CookieOptions:
    """The session cookie's settings; they apply to *new* sessions (express #1077).

    ``None`` means "not set" (the attribute is neither sent nor stored), exactly as an absent key
    in express's cookie object. ``max_age`` is in seconds; ``secure`` and ``same_site`` accept
    ``"auto"`` (resolved from the request's security when a session is created).
    """

    path: str = "/"
    http_only: bool = True
    secure: bool | Literal["auto"] | None = None
    max_age: float | timedelta | None = None
    expires: datetime | None = None
    domain: str | None = None
    same_site: SameSite = None
    partitioned: bool | None = None
    priority: Literal["low", "medium", "high"] | str | None = None

    def __post_init__(self) -> None:
        validate_cookie_options(self)

    @cached_property
    def max_age_seconds(self) -> float | None:
        """``max_age`` in seconds (computed once: the options are frozen)."""
        return seconds(self.max_age, "cookie.max_age")

    @classmethod
    def coerce(cls, value: Any) -> CookieOptions:
        """A ``CookieOptions`` from an instance, a mapping with the same keys, or ``None``."""
        if value is None:
            return cls()
        if isinstance(value, CookieOptions):
            return value
        if isinstance(value, Mapping):
            known = {f.name for f in dataclasses.fields(cls)}
            error = unknown_options(value, known, option="cookie", kind="cookie option")
            if error is not None:
                raise error
            return cls(**value)
        raise ConfigError("cookie", f"must be CookieOptions, a dict or a callable, not {value!r}")


def validate_cookie_options(options: CookieOptions) -> None:
    """Refuse at start-up what cookie 0.7.2 would refuse on every request."""
    if not isinstance(options.path, str) or not PATH_RE.match(options.path):
        raise ConfigError("cookie.path", "option path is invalid")
    if options.domain is not None and (
        not isinstance(options.domain, str) or not DOMAIN_RE.match(options.domain)
    ):
        raise ConfigError("cookie.domain", "option domain is invalid")
    # identity, not ``in``: 1 == True and 0 == False would slip through a membership test
    if not (options.secure is None or isinstance(options.secure, bool) or options.secure == "auto"):
        raise ConfigError("cookie.secure", 'must be True, False or "auto"')
    if not isinstance(options.http_only, bool):
        raise ConfigError("cookie.http_only", f"must be a bool, not {options.http_only!r}")
    if options.partitioned is not None and not isinstance(options.partitioned, bool):
        raise ConfigError("cookie.partitioned", f"must be a bool, not {options.partitioned!r}")
    if options.same_site != "auto":
        try:
            same_site_attribute(options.same_site)
        except ValueError:
            raise ConfigError("cookie.same_site", "option sameSite is invalid") from None
    try:
        priority_attribute(options.priority)
    except ValueError:
        raise ConfigError("cookie.priority", "option priority is invalid") from None
    max_age = seconds(options.max_age, "cookie.max_age")
    if options.expires is not None:
        if not isinstance(options.expires, datetime) or options.expires.tzinfo is None:
            raise ConfigError("cookie.expires", "must be a timezone-aware datetime")
        if max_age is not None:
            raise ConfigError("cookie", "set max_age or expires, not both (prefer max_age)")
        if not within_lifetime(options.expires, datetime.now(timezone.utc)):
            raise ConfigError("cookie.expires", "must be within 1000 years of now")


def within_lifetime(when: datetime, now: datetime) -> bool:
    """``when`` is at most ``MAX_LIFETIME_SECONDS`` away from ``now`` (touching it, which adds
    the lifetime to ``now``, then stays a representable ``datetime``)."""
    return abs((when - now).total_seconds()) <= MAX_LIFETIME_SECONDS


def warn_cookie_options(options: CookieOptions, stacklevel: int) -> None:
    """Settings that work but that browsers punish: warned about once, at start-up."""
    same_site = options.same_site
    none = isinstance(same_site, str) and same_site.lower() == "none"
    if none and options.secure is not True and options.secure != "auto":
        warnings.warn(
            'cookie.same_site="none" without secure=True: browsers reject such a cookie '
            '(set secure=True, or same_site="auto")',
            ConfigWarning,
            stacklevel=stacklevel + 1,
        )
