"""Options, validated once into frozen objects (express-session's option table, Python names).

Everything a user can get wrong is checked here, when the middleware is built, and reported as a
``ConfigError`` naming the option. Request handling then trusts these objects.
"""

from __future__ import annotations

import functools
import inspect
import logging
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, Union

from ._at_rest import IdAtRest, IdsAtRest
from ._cookie_ids import CookieIds
from ._cookie_options import (
    CookieOptions,
    warn_cookie_options,
)
from ._cookies import (
    COOKIE_NAME_RE,
    decode_uri_component,
    encode_uri_component,
)
from ._errors import ConfigError, ConfigWarning
from ._ids import default_genid
from ._options import positive_seconds, positive_seconds_or_none, unknown_options
from ._signing import ExpressSigner, sign_session_id, unsign_cookie_value
from ._store_checks import check_id_at_rest, check_store, index_users_of

if TYPE_CHECKING:
    from .stores._protocol import AsyncStore

CookieSource = Union["CookieOptions", Mapping[str, Any], Callable[[Any], Any], None]

_UNSET: Any = object()
#: A shorter secret is guessable offline from one signed cookie; warned about in production.
MIN_SECRET_LENGTH = 32
_CONCURRENCY = ("merge", "lock", "none")
#: ``lock_ttl``'s floor when not given: a lock outlives a slow request, not a crashed worker.
MIN_LOCK_TTL = 10.0

Concurrency = Literal["merge", "lock", "none"]
logger = logging.getLogger("coatcheck")


logger = logging.getLogger("coatcheck")


def resolve_secrets(secret: Any) -> tuple[str | bytes, ...]:
    """express's ``secret``: one secret or a list; the first signs, all verify."""
    # Messages name types and positions, never values: a secret must not reach a log.
    if secret is None or secret == "" or secret == b"":
        raise ConfigError("secret", "secret option required for sessions")
    if isinstance(secret, (str, bytes)):
        secrets: tuple[Any, ...] = (secret,)
    elif isinstance(secret, Sequence):
        secrets = tuple(secret)
    else:  # a set has no order to rotate in; a number is a mistake
        raise ConfigError(
            "secret", f"must be a str, bytes or a list of them, not {type(secret).__name__}"
        )
    if not secrets:
        raise ConfigError("secret", "secret option array must contain one or more strings")
    for index, item in enumerate(secrets):
        if not isinstance(item, (str, bytes)) or not item:
            what = "empty" if isinstance(item, (str, bytes)) else type(item).__name__
            raise ConfigError(
                "secret",
                f"every secret must be a non-empty str or bytes: secret[{index}] is {what}",
            )
    return secrets


def warn_short_secret(secrets: Sequence[str | bytes], stacklevel: int) -> None:
    """In production, a signing secret under 32 characters is guessable offline."""
    from .stores.memory import looks_like_production

    if len(secrets[0]) < MIN_SECRET_LENGTH and looks_like_production():
        warnings.warn(
            f"the signing secret is shorter than {MIN_SECRET_LENGTH} characters: a signed cookie "
            "lets an attacker guess it offline (use e.g. secrets.token_urlsafe(32))",
            ConfigWarning,
            stacklevel=stacklevel + 1,
        )


_P = ParamSpec("_P")
_R = TypeVar("_R")


def _typos_named(build: Callable[_P, _R]) -> Callable[_P, _R]:
    """Keep ``from_options``'s exact signature for mypy (a typo is a type error there), and make
    a typo at run time a ``ConfigError`` naming the closest option, not a bare ``TypeError``.
    The warnings ``from_options`` issues count this wrapper's frame in their ``stacklevel``."""

    @functools.wraps(build)
    def checked(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        check_option_names(kwargs)
        return build(*args, **kwargs)

    return checked


@dataclass(frozen=True)
class SessionConfig:
    """All options of one session middleware, validated. Build it with ``from_options``."""

    secrets: tuple[str | bytes, ...]
    name: str = "connect.sid"
    cookie: CookieOptions | Callable[[Any], Any] = field(default_factory=CookieOptions)
    genid: Callable[[Any], str] = default_genid
    proxy: bool | None = None
    resave: bool = True
    rolling: bool = False
    save_uninitialized: bool = True
    store: Any = None
    unset: Literal["keep", "destroy"] = "keep"
    #: the top-level session key holding the user's id (DESIGN "Sessions of a user")
    user_key: str | None = None
    max_lifetime: float | None = None
    touch_after: float | None = None
    id_at_rest: IdAtRest = "plain"
    concurrency: Concurrency = "merge"
    lock_timeout: float = 10.0
    lock_ttl: float = MIN_LOCK_TTL

    @classmethod
    @_typos_named
    def from_options(
        cls,
        *,
        secret: Any = None,
        name: str = "connect.sid",
        cookie: CookieSource = None,
        genid: Callable[[Any], str] | None = None,
        proxy: bool | None = None,
        resave: bool = _UNSET,
        rolling: bool = False,
        save_uninitialized: bool = _UNSET,
        store: Any = None,
        unset: str | None = "keep",
        user_key: str | None = None,
        max_lifetime: float | timedelta | None = None,
        touch_after: float | timedelta | None = None,
        id_at_rest: str = "plain",
        concurrency: str = "merge",
        lock_timeout: float | timedelta = 10.0,
        lock_ttl: float | timedelta | None = None,
    ) -> SessionConfig:
        """Validate express-session's options (Python names) once, at start-up."""
        if resave is _UNSET:
            warnings.warn(
                "undefined resave option; provide resave option", FutureWarning, stacklevel=4
            )
            resave = True
        if save_uninitialized is _UNSET:
            warnings.warn(
                "undefined save_uninitialized option; provide save_uninitialized option",
                FutureWarning,
                stacklevel=4,
            )
            save_uninitialized = True
        if not isinstance(name, str) or not COOKIE_NAME_RE.match(name):
            raise ConfigError("name", f"not a valid cookie name: {name!r}")
        if genid is None:
            genid = default_genid
        elif not callable(genid):
            raise ConfigError("genid", "genid option must be a function")
        if unset is None:
            unset = "keep"
        if unset not in ("keep", "destroy"):
            raise ConfigError("unset", 'unset option must be "destroy" or "keep"')
        if not (proxy is None or isinstance(proxy, bool)):  # 0/1 would pass an ``in`` test
            raise ConfigError("proxy", "must be True, False or None")
        for flag, value in (("resave", resave), ("rolling", rolling)):
            if not isinstance(value, bool):
                raise ConfigError(flag, f"must be a bool, not {value!r}")
        if not isinstance(save_uninitialized, bool):
            raise ConfigError("save_uninitialized", f"must be a bool, not {save_uninitialized!r}")
        if concurrency not in _CONCURRENCY:
            raise ConfigError("concurrency", 'must be "merge", "lock" or "none"')
        timeout = positive_seconds(lock_timeout, "lock_timeout")
        ttl = (
            max(timeout, MIN_LOCK_TTL)
            if lock_ttl is None
            else positive_seconds(lock_ttl, "lock_ttl")
        )
        resolved_cookie = cookie if callable(cookie) else CookieOptions.coerce(cookie)
        if isinstance(resolved_cookie, CookieOptions):
            warn_cookie_options(resolved_cookie, stacklevel=4)
        secrets = resolve_secrets(secret)
        warn_short_secret(secrets, stacklevel=4)
        checked_store = check_store(store)
        if user_key is not None:
            index_users_of(checked_store, user_key)
        lifetime = positive_seconds_or_none(max_lifetime, "max_lifetime")
        throttle = positive_seconds_or_none(touch_after, "touch_after")
        if throttle is not None and resave:
            raise ConfigError(
                "touch_after",
                "throttles the touch of unchanged sessions, which only happens with resave=False",
            )
        check_id_at_rest(id_at_rest, checked_store)
        config = cls(
            secrets=secrets,
            name=name,
            cookie=resolved_cookie,
            genid=genid,
            proxy=proxy,
            resave=resave,
            rolling=rolling,
            save_uninitialized=save_uninitialized,
            store=checked_store,
            unset=unset,  # type: ignore[arg-type]
            user_key=user_key,
            max_lifetime=lifetime,
            touch_after=throttle,
            id_at_rest=id_at_rest,  # type: ignore[arg-type]
            concurrency=concurrency,  # type: ignore[arg-type]
            lock_timeout=timeout,
            lock_ttl=ttl,
        )
        config.check_concurrency()
        config.ids_at_rest  # noqa: B018 (keys derived once, now, not on a first request)
        if throttle is not None and config.expiry_read == "get":
            logger.warning(
                "touch_after has no effect: the store reports no expiry with its records "
                "(get_with_expiry or get_versioned), so every unchanged session is touched"
            )
        return config

    @cached_property
    def signer(self) -> ExpressSigner:
        return ExpressSigner(self.secrets)

    @cached_property
    def cookie_ids(self) -> CookieIds:
        """The verified id in a request's Cookie header (remembered per header)."""
        return CookieIds(self.name, self.signer)

    @cached_property
    def ids_at_rest(self) -> IdsAtRest:
        """How session ids map to store keys (``id_at_rest``); keys derived once."""
        return IdsAtRest(self.id_at_rest, self.secrets)

    @cached_property
    def expiry_read(self) -> Literal["get", "get_with_expiry", "get_versioned"]:
        """The store method that loads a session: one reporting the stored expiry when
        ``touch_after`` needs it (same round trip), else express's ``get``."""
        if self.touch_after is None:
            return "get"
        for method in ("get_with_expiry", "get_versioned"):
            if callable(getattr(self.store, method, None)):
                return method
        return "get"

    @cached_property
    def store_implements_touch(self) -> bool:
        """Decided once, like express's ``storeImplementsTouch``."""
        return callable(getattr(self.store, "touch", None))

    # -- concurrency (DESIGN "Concurrency"): capabilities detected once, by presence ----------
    def _has(self, *methods: str) -> bool:
        return all(callable(getattr(self.store, m, None)) for m in methods)

    @cached_property
    def store_versions(self) -> bool:
        """The store can refuse a stale or resurrecting write (``get_versioned``/``set_if``)."""
        return self._has("get_versioned", "set_if")

    @cached_property
    def store_locks(self) -> bool:
        """The store has a per-session lock (``lock``/``unlock``) besides versions."""
        return self.store_versions and self._has("lock", "unlock")

    @cached_property
    def versioned(self) -> bool:
        """Writes are conditional: ``"merge"`` or ``"lock"`` on a store with versions."""
        return self.concurrency != "none" and self.store_versions

    @cached_property
    def locking(self) -> bool:
        """Requests of one session take its lock in the store (``"lock"``)."""
        return self.concurrency == "lock" and self.store_locks

    def check_concurrency(self) -> None:
        """At start-up: ``"lock"`` needs a locking store; ``"merge"`` without versions warns."""
        if self.concurrency == "lock" and not self.store_locks:
            raise ConfigError(
                "concurrency",
                f'"lock" needs a store with get_versioned, set_if, lock and unlock; '
                f'{type(self.store).__name__} lacks some (use "merge" or "none")',
            )
        if self.concurrency == "merge" and not self.store_versions:
            logger.warning(
                '%s has no get_versioned/set_if: concurrency="merge" falls back to plain '
                "writes (the last writer wins; a concurrent logout can be undone)",
                type(self.store).__name__,
            )

    @cached_property
    def async_store(self) -> AsyncStore:
        """The store as seen from async code (sync stores run in a thread unless never_blocks)."""
        from .stores._async import to_async

        return to_async(self.store)

    def cookie_value(self, sid: str) -> str:
        """What the cookie carries for ``sid``: ``s:<id>.<sig>``, URL-encoded as express does."""
        return encode_uri_component(sign_session_id(sid, self.signer))

    def session_id_from(self, cookie_value: str | None) -> str | None:
        """The id inside a cookie value (URL-encoded or not); ``None`` unless it verifies."""
        if not cookie_value:
            return None
        return unsign_cookie_value(decode_uri_component(cookie_value), self.signer)

    @cached_property
    def _cookie_per_request(self) -> bool:
        return callable(self.cookie)

    def cookie_options_for(self, request: Any) -> CookieOptions:
        """The cookie options for this request (calls the per-request form, validating it):
        the only per-request work of the options; everything else is prepared once."""
        if self._cookie_per_request:
            return CookieOptions.coerce(self.cookie(request))  # type: ignore[operator]
        return self.cookie  # type: ignore[return-value]


def option_names() -> frozenset[str]:
    """Every keyword ``SessionConfig.from_options`` accepts."""
    parameters = inspect.signature(SessionConfig.from_options).parameters.values()
    return frozenset(p.name for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY)


def check_option_names(
    names: Iterable[str], *, option: str | None = None, extra: Iterable[str] = ()
) -> None:
    """``ConfigError`` for a name ``from_options`` does not take (plus an adapter's ``extra``),
    suggesting the closest one; ``option`` labels the error (e.g. ``"COATCHECK"``)."""
    error = unknown_options(names, option_names() | set(extra), option=option)
    if error is not None:
        raise error
