"""The error tree: our users' mistakes and store failures, never client input.

A tampered or malformed cookie is a normal input (it yields a fresh session); only a wrong
configuration (``ConfigError``) and a failing store (``StoreError``) are exceptions.
"""

from __future__ import annotations


class CoatcheckError(Exception):
    """Base of every error coatcheck raises on purpose."""


class ConfigError(CoatcheckError, ValueError):
    """An option is missing or invalid; raised when the middleware/extension is built.

    ``option`` names the offending option (``"secret"``, ``"cookie.same_site"`` ...).
    """

    def __init__(self, option: str, message: str) -> None:
        super().__init__(f"{option}: {message}")
        self.option = option


class ConfigWarning(UserWarning):
    """A setting that works but is probably a mistake (``same_site="none"`` without
    ``secure``, a short secret in production); warned about once, at start-up."""


class StoreError(CoatcheckError):
    """A store operation failed. Carries the operation and the underlying cause.

    ``sid`` is only ever shown as a short prefix so that full session ids never reach logs.
    """

    def __init__(self, operation: str, sid: str | None, cause: BaseException | str) -> None:
        self.operation = operation
        self.sid_prefix = sid_prefix(sid) if sid is not None else None
        self.cause = cause if isinstance(cause, BaseException) else None
        detail = f"{type(cause).__name__}: {cause}" if isinstance(cause, BaseException) else cause
        where = f" (session {self.sid_prefix})" if self.sid_prefix else ""
        super().__init__(f"store {operation} failed{where}: {detail}")


class InvalidRecordError(CoatcheckError, TypeError):
    """A session record is not a JSON object with a ``cookie`` mapping, or holds a value
    that JSON cannot carry. Raised before anything is written."""


def sid_prefix(sid: str) -> str:
    """The loggable part of a session id: enough to correlate, too short to hijack."""
    return sid[:6] + "…" if len(sid) > 6 else sid


class SessionGone(CoatcheckError, LookupError):
    """The loaded session was deleted elsewhere (a logout, a revoke) before this write.

    Nothing was written: a logout is never undone. Raised by an explicit ``save(strict=True)``
    (Django's ``UpdateError``); the end of a request reports it as ``Decision.interrupted``.
    """

    def __init__(self, sid: str) -> None:
        self.sid_prefix = sid_prefix(sid)
        super().__init__(f"session {self.sid_prefix} was deleted elsewhere; not saved")


class SessionBusy(CoatcheckError):
    """This request could not get its turn with the session; each adapter answers 503."""


class SessionLockTimeout(SessionBusy, TimeoutError):
    """``concurrency="lock"``: the session's lock was not free within ``lock_timeout``."""

    def __init__(self, sid: str, timeout: float) -> None:
        self.sid_prefix = sid_prefix(sid)
        self.timeout = timeout
        super().__init__(f"session {self.sid_prefix} stayed locked for {timeout:g} s")


class SessionConflict(SessionBusy):
    """``concurrency="merge"``: every retry of the write met a newer version (bounded)."""

    def __init__(self, sid: str, attempts: int) -> None:
        self.sid_prefix = sid_prefix(sid)
        self.attempts = attempts
        super().__init__(
            f"session {self.sid_prefix} changed under each of {attempts} write attempts"
        )
