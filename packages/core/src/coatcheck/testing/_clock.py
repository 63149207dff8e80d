"""``FakeClock``: time as an input, so expiry tests neither sleep nor patch ``datetime``."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


class FakeClock:
    """A callable returning an aware UTC ``datetime`` that moves only when told to.

    Pass it as a store's ``clock=``. ``start`` defaults to the real current UTC time truncated
    to whole milliseconds (JavaScript ``Date`` precision, so records round-trip exactly); a
    naive ``start`` is taken as UTC.
    """

    def __init__(self, start: datetime | None = None) -> None:
        if start is None:
            start = datetime.now(timezone.utc)
            start = start.replace(microsecond=start.microsecond // 1000 * 1000)
        elif start.tzinfo is None:
            start = start.replace(tzinfo=timezone.utc)
        self._now = start.astimezone(timezone.utc)

    def __call__(self) -> datetime:
        return self._now

    def advance(self, seconds: float) -> datetime:
        """Move time forward by ``seconds`` (may be fractional); return the new now."""
        self._now += timedelta(seconds=seconds)
        return self._now

    def __repr__(self) -> str:
        return f"FakeClock({self._now.isoformat()})"
