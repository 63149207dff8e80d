"""Absolute lifetimes and throttled touches: the pure rules (DESIGN "Lifetimes and ids at rest").

``max_lifetime`` needs the session's creation time, which express does not store. It lives in
one reserved top-level key of the record, ``"_coatcheck": {"created": ms, "deadline": ms}``
(milliseconds since the epoch), written only when the option is set. The app never sees that key
in the session mapping; a Node app sharing the store loads it as a plain data key and writes it
back untouched. ``deadline`` (``created + max_lifetime``) is there for the stores: their expiry
arithmetic (``stores._codec.expires_at``) never lets a record outlive it, whatever the cookie
says, so no store needs to know the option.

``touch_after`` compares the expiry the store reports for the record with the one a touch would
give, and skips the touch when the difference is small (see ``touch_due``).
"""

from __future__ import annotations

import enum
import math
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from typing import Any

from .stores._codec import DEFAULT_TTL, META_KEY, is_mapping

__all__ = ["META_KEY", "UNREPORTED", "created_at", "meta_with", "touch_due"]

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_MS = timedelta(milliseconds=1)


class Unreported(enum.Enum):
    """The store did not say when the record expires there (a plain ``get``)."""

    UNREPORTED = "unreported"


UNREPORTED = Unreported.UNREPORTED
StoredExpiry = datetime | None | Unreported


def epoch_ms(when: datetime) -> int:
    """``when`` as JavaScript's integral milliseconds since the epoch."""
    return math.floor((when - _EPOCH) / _MS)


def created_at(meta: Any) -> datetime | None:
    """The creation time in a stored ``_coatcheck`` object; junk (a hand edit, a Node app's
    change) reads as missing, never raises."""
    value = meta.get("created") if is_mapping(meta) else None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    try:
        return _EPOCH + timedelta(milliseconds=value)
    except OverflowError:
        return None


def meta_with(meta: Mapping[str, Any] | None, created: datetime, lifetime: float) -> dict[str, Any]:
    """The ``_coatcheck`` object to store: ``created`` and ``deadline``, other keys kept."""
    created_ms = epoch_ms(created)
    stamped = dict(meta) if meta else {}
    stamped["created"] = created_ms
    stamped["deadline"] = created_ms + round(lifetime * 1000)
    return stamped


def touch_due(
    stored: StoredExpiry,
    cookie_expires: datetime | None,
    deadline: datetime | None,
    now: datetime,
    touch_after: float,
) -> bool:
    """Whether an unchanged session's touch is worth a store write (``touch_after``).

    The touch would give the record ``cookie_expires`` (capped by ``deadline``); a store with a
    default lifetime (Redis, PostgreSQL: a day for browser-session records) gives ``now + 1 day``
    when there is no cookie expiry. Touch when the store did not report its expiry, or when the
    stored one lags the new one by more than ``touch_after`` seconds.
    """
    if stored is UNREPORTED:
        return True
    target = cookie_expires
    if target is None and stored is not None:
        target = now + DEFAULT_TTL  # the store applies its default TTL (it reported one)
    if target is not None and deadline is not None:
        target = min(target, deadline)
    if target is None:
        return False  # no expiry on either side: a touch would change nothing
    if stored is None:
        return True  # the store keeps it forever, but it should now expire
    return (target - stored).total_seconds() > touch_after
