"""Options, validated once into frozen objects (express-session's option table, Python names).

Everything a user can get wrong is checked here, when the middleware is built, and reported as a
``ConfigError`` naming the option. Request handling then trusts these objects.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import inspect
import logging
import math
import re
import warnings
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal, ParamSpec, TypeVar, Union

from ._at_rest import IdAtRest, IdsAtRest
from ._cookies import (
    COOKIE_NAME_RE,
    DOMAIN_RE,
    PATH_RE,
    decode_uri_component,
    encode_uri_component,
)
from ._errors import ConfigError, ConfigWarning
from ._ids import default_genid
from ._signing import ExpressSigner, sign_session_id, unsign_cookie_value

if TYPE_CHECKING:
    from .stores._protocol import AsyncStore

SameSite = bool | Literal["lax", "strict", "none", "auto"] | str | None
CookieSource = Union["CookieOptions", Mapping[str, Any], Callable[[Any], Any], None]

_SAME_SITE = {"lax": "Lax", "strict": "Strict", "none": "None"}
_PRIORITY = {"low": "Low", "medium": "Medium", "high": "High"}
_UNSET: Any = object()
#: The longest cookie lifetime accepted (either way): far beyond any real use (browsers cap at
#: 400 days), and small enough that ``now + max_age`` stays a representable ``datetime``.
MAX_LIFETIME_SECONDS = 1000 * 365.25 * 86400
#: A shorter secret is guessable offline from one signed cookie; warned about in production.
MIN_SECRET_LENGTH = 32
_CONCURRENCY = ("merge", "lock", "none")
#: ``lock_ttl``'s floor when not given: a lock outlives a slow request, not a crashed worker.
MIN_LOCK_TTL = 10.0

Concurrency = Literal["merge", "lock", "none"]
logger = logging.getLogger("coatcheck")


def unknown_options(
    given: Iterable[str], valid: Iterable[str], *, option: str | None = None, kind: str = "option"
) -> ConfigError | None:
    """A ``ConfigError`` naming the unknown names in ``given``, each with the closest valid name
    (``save_unitialized`` -> ``save_uninitialized``, express's ``maxAge`` -> ``max_age``)."""
    valid = sorted(valid)
    unknown = sorted({str(name) for name in given} - set(valid))
    if not unknown:
        return None
    hints = []
    for name in unknown:
        snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()  # express's camelCase
        close = [snake] if snake in valid else difflib.get_close_matches(snake, valid, n=1)
        if close:
            hints.append(f"{name} -> {close[0]}" if len(unknown) > 1 else close[0])
    message = f"unknown {kind}(s): {', '.join(unknown)}"
    if hints:
        message += f" (did you mean {', '.join(hints)}?)"
    return ConfigError(option or unknown[0], message)


logger = logging.getLogger("coatcheck")


def seconds(value: float | timedelta | None, option: str) -> float | None:
    """A duration option in seconds (``timedelta`` accepted), or ``None``."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(option, f"must be a number of seconds or a timedelta, not {value!r}")
    if not math.isfinite(value):
        raise ConfigError(option, f"must be a finite number of seconds, not {value!r}")
    if abs(value) > MAX_LIFETIME_SECONDS:
        raise ConfigError(option, f"must be at most {MAX_LIFETIME_SECONDS:.0f} s (1000 years)")
    return float(value)


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


def positive_seconds(value: Any, option: str) -> float:
    """A duration option that must be given and more than zero seconds."""
    result = _positive_seconds(value, option)
    if result is None:
        raise ConfigError(option, f"must be a positive number of seconds, not {value!r}")
    return result


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
        lifetime = _positive_seconds(max_lifetime, "max_lifetime")
        throttle = _positive_seconds(touch_after, "touch_after")
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


def _positive_seconds(value: float | timedelta | None, option: str) -> float | None:
    lifetime = seconds(value, option)
    if lifetime is not None and lifetime <= 0:
        raise ConfigError(option, f"must be a positive number of seconds, not {value!r}")
    return lifetime


def check_id_at_rest(id_at_rest: Any, store: Any) -> None:
    """``"plain"`` or ``"hmac"``; ``"hmac"`` is refused for a store shared with Node.

    An Express app looks sessions up by their plain id, so with ``"hmac"`` it would find none
    of ours (and we none of its). A store declares the sharing with ``shared_with_node = True``.
    """
    if id_at_rest not in ("plain", "hmac"):
        raise ConfigError("id_at_rest", f'must be "plain" or "hmac", not {id_at_rest!r}')
    if id_at_rest == "hmac" and getattr(store, "shared_with_node", False) is True:
        raise ConfigError(
            "id_at_rest",
            '"hmac" stores sessions under keys an Express app cannot compute; this store is '
            'shared with Node (shared_with_node=True): use id_at_rest="plain"',
        )


def check_store(store: Any) -> Any:
    """The store to use: a default MemoryStore, or one with express's required methods."""
    from .stores.memory import MemoryStore, looks_like_production

    if store is None:
        store = MemoryStore()
    if isinstance(store, type):  # ``store=SQLiteStore``: its methods exist but are unbound
        raise ConfigError(
            "store", f"pass an instance: {store.__name__}(...), not the class {store.__name__}"
        )
    missing = [m for m in ("get", "set", "destroy") if not callable(getattr(store, m, None))]
    if missing:
        raise ConfigError("store", f"store must implement get, set and destroy; lacks {missing}")
    if isinstance(store, MemoryStore) and looks_like_production():
        warnings.warn(
            "coatcheck MemoryStore is not designed for a production environment, as it will "
            "leak memory, and will not scale past a single process.",
            RuntimeWarning,
            stacklevel=5,
        )
    return store


def index_users_of(store: Any, user_key: Any) -> None:
    """Validate ``user_key`` and hand it, once, to a store that keeps a user index.

    A store without ``index_users`` is accepted: ``sessions_of``/``revoke`` then raise
    ``NotImplementedError`` naming it, so an app that never lists sessions is not refused.
    """
    from .stores._users import check_user_key

    key = check_user_key(user_key)
    index_users = getattr(store, "index_users", None)
    if callable(index_users):
        index_users(key)


def require_sync_store(store: Any, where: str = "this adapter") -> None:
    """Refuse an async store where only blocking calls are made: every write would be a
    coroutine never awaited, lost behind a 200."""
    from .stores._async import is_async_store

    if is_async_store(store):
        raise ConfigError(
            "store",
            f"{type(store).__name__} is an async store and {where} runs sync code: use its "
            "sync twin (RedisStore, not AsyncRedisStore; PostgresStore, not AsyncPostgresStore)",
        )
