"""Record encoding and expiry arithmetic shared by every shipped store.

JSON only (never pickle). ``encode_record`` validates the shape before anything is written, so a
bad record fails loudly instead of corrupting the store.

Nesting: a record nests at most ``MAX_DEPTH`` containers deep (the record object is level 1), on
every Python. ``json`` alone gives no such rule: 3.10-3.12 raise ``RecursionError`` somewhere
below 1,000 levels (less when the stack is already deep), 3.13 reads and writes 2,000 levels and
fails only near 10,000. Deeper data is refused when written (``InvalidRecordError``) and a
stored value that deep reads as no record (the cycle then starts a fresh session).
"""

from __future__ import annotations

import json
import logging
import math
import re
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone
from json.encoder import c_encode_basestring, c_make_encoder  # type: ignore[attr-defined]
from typing import Any, TypeGuard

from .._errors import InvalidRecordError, sid_prefix

logger = logging.getLogger("coatcheck")

#: connect-redis's rule: a record without ``cookie.expires`` lives one day in stores with a TTL.
DEFAULT_TTL = timedelta(days=1)
#: The reserved top-level key where coatcheck keeps what express does not store (``max_lifetime``:
#: ``{"created": ms, "deadline": ms}``); a Node app carries it along as plain data.
META_KEY = "_coatcheck"
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
#: The deepest a record may nest (``{"cookie": {}}`` is 2 deep). Below the depth at which
#: Python 3.10's ``json`` gives up, with room left for the caller's own stack.
MAX_DEPTH = 512
_CONTAINERS = (dict, list, tuple)


def nests_too_deep(value: Any, text: str | bytes) -> bool:
    """True if ``value`` (the JSON ``text`` encodes) nests deeper than ``MAX_DEPTH``.

    Cheap where sessions live: each level costs an opening bracket (and a closing one) in the
    text, so a text of at most ``2 * MAX_DEPTH`` characters, or with at most ``MAX_DEPTH``
    ``[``/``{`` (those inside strings included), cannot be too deep. Only a text with more
    brackets than that is walked, containers only, without recursion.
    """
    if len(text) <= 2 * MAX_DEPTH:
        return False
    if isinstance(text, str):
        opening = text.count("{") + text.count("[")
    else:
        opening = text.count(b"{") + text.count(b"[")
    if opening <= MAX_DEPTH or not isinstance(value, _CONTAINERS):
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, _CONTAINERS):
                stack.append((child, depth + 1))
    return False


def is_mapping(value: Any) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, with a plain ``dict`` (what stores hand back) and the
    core's ``EncodedRecord`` answered without the ABC machinery (a sixth of the cost)."""
    kind = type(value)
    return kind is dict or kind is EncodedRecord or isinstance(value, Mapping)


def validate_record(record: Mapping[str, Any]) -> None:
    """Raise ``InvalidRecordError`` unless ``record`` looks like a session record."""
    if not is_mapping(record):
        raise InvalidRecordError(f"a session record must be a mapping, not {type(record).__name__}")
    cookie = record.get("cookie")
    if not is_mapping(cookie):
        raise InvalidRecordError("a session record needs a 'cookie' mapping")
    expires = cookie.get("expires")
    if expires is not None:
        parse_expires(expires)


#: ``JSON.stringify``'s spelling. One encoder's settings, reused: ``json.dumps`` with keyword
#: arguments would build a new ``JSONEncoder`` (and its C encoder) on every call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def _new_c_encoder() -> Any:
    return c_make_encoder(
        {}, _ENCODER.default, c_encode_basestring, None, ":", ",", False, False, False
    )


#: One C encoder per thread: its circular-reference markers must not be shared between threads
#: (async tasks of one thread never interleave inside an encode, which cannot await).
_encoders = threading.local()


def _c_encode(value: Any) -> str:
    """The C encoder with ``_ENCODER``'s settings, built once per thread; after a failed call
    it is dropped (a failure may leave circular-reference markers behind)."""
    try:
        encode = _encoders.encode
    except AttributeError:
        encode = _encoders.encode = _new_c_encoder()
    try:
        return "".join(encode(value, 0))
    except BaseException:
        del _encoders.encode
        raise


_encode = _c_encode if c_make_encoder is not None and c_encode_basestring else _ENCODER.encode


_TOO_DEEP = f"session data nests deeper than {MAX_DEPTH} levels"


def to_json(value: Any) -> str:
    """``JSON.stringify``'s spelling: compact, non-ASCII kept, lone surrogates escaped (ES2019),
    so the text always encodes to UTF-8. Raises ``InvalidRecordError`` for non-JSON values and
    for values nested deeper than ``MAX_DEPTH``."""
    try:
        text = _encode(value)
    except RecursionError:
        raise InvalidRecordError(_TOO_DEEP) from None
    except (TypeError, ValueError) as exc:
        raise InvalidRecordError(f"session data is not JSON-serialisable: {exc}") from exc
    if nests_too_deep(value, text):
        raise InvalidRecordError(_TOO_DEEP)
    if text.isascii():
        return text
    return _LONE_SURROGATE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


#: How a record the core writes begins: its cookie, then coatcheck's own object if any (the
#: cycle splices records from these; MemoryStore's touch finds the cookie's end by them).
RECORD_HEAD = '{"cookie":'
META_ENTRY = "," + to_json(META_KEY) + ":"


#: JSON texts of browser-session cookies (no ``expires``): a site has a handful of distinct ones,
#: each written on every request (the record's head, a touch's splice). Bounded, emptied if full.
_COOKIE_TEXTS: dict[tuple[tuple[tuple[str, Any], ...], tuple[type, ...]], str] = {}


def cookie_json(cookie: Mapping[str, Any]) -> str:
    """``to_json(cookie)`` for a record's cookie; a browser-session cookie's text is
    remembered (a cookie with an ``expires`` changes with every request: encoded each time)."""
    if cookie.get("expires") is not None:
        return to_json(cookie)
    try:
        # the types too: True == 1 == 1.0, but their JSON differs
        key = (tuple(cookie.items()), tuple(map(type, cookie.values())))
        text = _COOKIE_TEXTS.get(key)
    except TypeError:  # an unhashable value: encoded (or refused) as any other
        return to_json(cookie)
    if text is None:
        text = to_json(cookie)
        if len(_COOKIE_TEXTS) >= 256:
            _COOKIE_TEXTS.clear()
        _COOKIE_TEXTS[key] = text
    return text


class EncodedRecord(dict[str, Any]):
    """A record (a plain ``dict`` to any store) that also carries its JSON text, when the core
    already had it: the cycle encodes the data once to hash it, and ``encode_record`` then
    hands that text to the store instead of encoding the whole record a second time."""

    __slots__ = ("json",)

    def __init__(self, items: Any = (), json: str | None = None) -> None:
        super().__init__(items)
        self.json = json


def encode_record(record: Mapping[str, Any]) -> str:
    """The record as compact JSON, express's ``JSON.stringify`` spelling (key order kept)."""
    validate_record(record)
    if type(record) is EncodedRecord and record.json is not None:
        return record.json
    return to_json(record)


def decode_record(text: str | bytes) -> dict[str, Any] | None:
    """Parse stored JSON; anything that is not a session record reads as ``None`` (a record
    nested deeper than ``MAX_DEPTH`` too, whether or not this Python's parser got that far)."""
    try:
        value = json.loads(text)
    except (TypeError, ValueError, RecursionError):  # RecursionError: nested too deep to read
        return None
    if not isinstance(value, dict) or not isinstance(value.get("cookie"), dict):
        return None
    if nests_too_deep(value, text):
        return None
    return value


def decode_stored(text: str | bytes, sid: str, store: str) -> dict[str, Any] | None:
    """``decode_record`` for a store's ``get``: a stored value that is not a session reads as
    ``None`` with one WARNING naming the session by its prefix (as every shipped store does)."""
    record = decode_record(text)
    if record is None:
        logger.warning(
            "%s store: ignoring a stored value that is not a session record (session %s)",
            store,
            sid_prefix(sid),
        )
    return record


def parse_expires(value: Any) -> datetime:
    """``cookie.expires`` (ISO-8601, as ``Date.toJSON`` writes it) as an aware datetime."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    if not isinstance(value, str):
        raise InvalidRecordError(f"cookie.expires must be an ISO-8601 string, not {value!r}")
    text = value[:-1] + "+00:00" if value.endswith("Z") else value
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidRecordError(f"cookie.expires is not ISO-8601: {value!r}") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def deadline_at(record: Mapping[str, Any]) -> datetime | None:
    """The absolute deadline (``max_lifetime``) stored in the record, if any.

    Junk (a hand edit, a Node app's change) reads as no deadline; the core checks the
    creation time itself on load, so a store never has to refuse a record for it.
    """
    meta = record.get(META_KEY)
    if meta is None or not is_mapping(meta):
        return None
    ms = meta.get("deadline")
    if isinstance(ms, bool) or not isinstance(ms, (int, float)) or not math.isfinite(ms):
        return None
    try:
        return _EPOCH + timedelta(milliseconds=ms)
    except OverflowError:
        return None


def expires_at(record: Mapping[str, Any]) -> datetime | None:
    """When the record expires, or ``None`` for a browser-session cookie without a deadline.

    The earlier of ``cookie.expires`` and the absolute deadline: every shipped store computes
    its TTL / expiry column from this, so none lets a session outlive ``max_lifetime``.
    """
    cookie = record.get("cookie")
    when = None
    if is_mapping(cookie) and cookie.get("expires") is not None:
        when = parse_expires(cookie["expires"])
    if META_KEY in record:
        deadline = deadline_at(record)
        if deadline is not None and (when is None or deadline < when):
            return deadline
    return when


def store_expiry(
    record: Mapping[str, Any], now: datetime, default: timedelta = DEFAULT_TTL
) -> datetime:
    """The expiry for a store with a default lifetime (Redis, PostgreSQL): ``cookie.expires``,
    or ``now + default`` without one; never past the absolute deadline."""
    cookie = record.get("cookie")
    if is_mapping(cookie) and cookie.get("expires") is not None:
        when = parse_expires(cookie["expires"])
    else:
        when = now + default
    if META_KEY in record:
        deadline = deadline_at(record)
        if deadline is not None and deadline < when:
            return deadline
    return when


def is_expired(record: Mapping[str, Any], now: datetime) -> bool:
    """express's MemoryStore rule: expired when ``expires <= now``."""
    when = expires_at(record)
    return when is not None and when <= now


def ttl_seconds(
    record: Mapping[str, Any], now: datetime, default: timedelta = DEFAULT_TTL
) -> float:
    """Seconds left to live (may be <= 0); ``default`` when the record has no expiry."""
    return (store_expiry(record, now, default) - now).total_seconds()


def utcnow() -> datetime:
    """The default clock of every store: aware UTC now."""
    return datetime.now(timezone.utc)
