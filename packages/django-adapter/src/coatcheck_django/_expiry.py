"""Django's expiry API mapped onto the session cookie (``max_age`` / ``expires``).

Django keeps a ``_session_expiry`` key in the data; coatcheck keeps the expiry where express
does, in the session's cookie, so the stored record stays express's. ``set_expiry(0)`` makes a
browser-session cookie, a number or ``timedelta`` a lifetime in seconds (sliding, as every
express lifetime, and as Django's integer expiry), a ``datetime`` a fixed date, ``None`` the
configured default (read from the settings as they are now, as Django does).

Answers are Django's, exact: a lifetime is reported as the lifetime (``get_expiry_age()`` of a
fresh session is ``SESSION_COOKIE_AGE``, the date is ``modification + lifetime``); a date as the
date. The cookie's JSON rounds to milliseconds only when it is stored.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from ._base import BoundSession
from ._settings import load_config


def _aware(when: datetime) -> datetime:
    return when if timezone.is_aware(when) else timezone.make_aware(when)


class ExpiryMethods(BoundSession):
    """``set_expiry``, ``get_expiry_age``, ``get_expiry_date``, ``get_expire_at_browser_close``."""

    def set_expiry(self, value: int | float | datetime | timedelta | None) -> None:
        cycle = self._active()
        if cycle is None:
            return
        cookie = cycle.cookie
        self._fixed_expiry = False
        if value is None:
            options = load_config().cookie_options_for(cycle.request.request)
            if options.expires is not None:
                cookie.expires, self._fixed_expiry = options.expires, True
            else:
                cookie.max_age = options.max_age_seconds
        elif isinstance(value, datetime):
            cookie.expires, self._fixed_expiry = _aware(value), True
        elif not value:  # 0 or timedelta(0): expire at browser close
            cookie.max_age = None
        else:
            cookie.max_age = value
        self.modified = True

    async def aset_expiry(self, value: int | float | datetime | timedelta | None) -> None:
        await self._aactive()
        self.set_expiry(value)

    def get_expiry_age(self, **kwargs: Any) -> int:
        """Seconds left; ``SESSION_COOKIE_AGE`` for a browser-session cookie, as in Django."""
        if "expiry" in kwargs:
            return int(super().get_expiry_age(**kwargs))
        cycle = self._active()
        if cycle is None or cycle.cookie.expires is None:
            return int(self.get_session_cookie_age())
        lifetime = cycle.cookie.original_max_age
        if not self._fixed_expiry and lifetime is not None:
            return int(lifetime)
        delta = cycle.cookie.expires - _aware(kwargs.get("modification") or timezone.now())
        return delta.days * 86400 + delta.seconds

    async def aget_expiry_age(self, **kwargs: Any) -> int:
        await self._aactive()
        return self.get_expiry_age(**kwargs)

    def get_expiry_date(self, **kwargs: Any) -> datetime:
        if "expiry" in kwargs:
            return super().get_expiry_date(**kwargs)  # type: ignore[no-any-return]
        cycle = self._active()
        if cycle is None or cycle.cookie.expires is None:
            return super().get_expiry_date(expiry=None, **kwargs)  # type: ignore[no-any-return]
        lifetime = cycle.cookie.original_max_age
        if not self._fixed_expiry and lifetime is not None:
            modification = kwargs.get("modification") or timezone.now()
            return modification + timedelta(seconds=lifetime)  # type: ignore[no-any-return]
        expires = cycle.cookie.expires
        return expires if settings.USE_TZ else timezone.make_naive(expires)

    async def aget_expiry_date(self, **kwargs: Any) -> datetime:
        await self._aactive()
        return self.get_expiry_date(**kwargs)

    def get_expire_at_browser_close(self) -> bool:
        cycle = self._active()
        if cycle is None:
            return bool(settings.SESSION_EXPIRE_AT_BROWSER_CLOSE)
        return cycle.cookie.expires is None

    async def aget_expire_at_browser_close(self) -> bool:
        await self._aactive()
        return self.get_expire_at_browser_close()
