"""Cookie header parsing and Set-Cookie serialisation, as express's ``cookie`` 0.7.2 does them.

Parsing never raises on client input. Serialisation validates what *we* were configured with and
writes attributes in cookie 0.7.2's order: Domain, Path, Expires, HttpOnly, Secure, Partitioned,
Priority, SameSite (``Max-Age`` is never sent; express converts it to ``Expires``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import quote, unquote

# RFC 6265 §4.1.1 token / cookie-octet rules, as cookie 0.7.2 checks them. ``\Z``, not ``$``:
# Python's ``$`` also matches before a trailing newline, which would let "\n" into a header.
COOKIE_NAME_RE = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")
COOKIE_VALUE_RE = re.compile(r'^("?)[\x21\x23-\x2B\x2D-\x3A\x3C-\x5B\x5D-\x7E]*\1\Z')
DOMAIN_RE = re.compile(
    r"^([.]?[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)([.][a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*\Z",
    re.IGNORECASE,
)
PATH_RE = re.compile(r"^[\x20-\x3A\x3D-\x7E]*\Z")
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: A cookie larger than any browser keeps is not worth parsing (RFC 6265 §6.1 asks for 4096).
MAX_COOKIE_HEADER = 16 * 1024
#: Duplicate cookies of our name whose signatures are checked, first ones first: enough for the
#: real ones (a parent domain's and a path's), while a header packed with forged pairs costs at
#: most this many HMACs per secret instead of hundreds.
MAX_COOKIE_CANDIDATES = 4


_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
#: ``encodeURIComponent`` for every ASCII character, as one ``str.translate`` table.
_ENCODE_ASCII = {
    code: chr(code) if chr(code).isalnum() or chr(code) in "!'()*-._~" else f"%{code:02X}"
    for code in range(128)
}


def _ascii_escapes() -> dict[str, str]:
    """Every two-hex-digit escape of an ASCII character, in any letter case: ``"3a"`` -> ``":"``."""
    table: dict[str, str] = {}
    for code in range(128):
        digits = f"{code:02x}"
        for high in {digits[0], digits[0].upper()}:
            for low in {digits[1], digits[1].upper()}:
                table[high + low] = chr(code)
    return table


#: ``%XX`` escapes of ASCII characters: one byte that is its own UTF-8 character, so they decode
#: without UTF-8 checks (a signed id's ``%3A``, ``%2B``, ``%2F`` are such escapes).
_ASCII_UNESCAPES = _ascii_escapes()


def decode_uri_component(text: str) -> str:
    """JavaScript's ``decodeURIComponent``, keeping the raw text where JS would throw."""
    if "%" not in text:
        return text
    head, *escaped = text.split("%")
    decoded = [head]
    for part in escaped:
        char = _ASCII_UNESCAPES.get(part[:2])
        if char is None:
            break  # a stray "%", or a non-ASCII escape: checked below
        decoded.append(char)
        decoded.append(part[2:])
    else:
        return "".join(decoded)  # the common case: ASCII escapes only
    for part in escaped:
        if len(part) < 2 or part[0] not in _HEX_DIGITS or part[1] not in _HEX_DIGITS:
            return text  # a stray % that is not an escape: JS throws URIError, cookie keeps raw
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        return text


def encode_uri_component(text: str) -> str:
    """JavaScript's ``encodeURIComponent`` (the encoder cookie.serialize uses)."""
    if text.isascii():
        return text.translate(_ENCODE_ASCII)
    return quote(text, safe="!'()*-._~")


def iter_cookie_pairs(header: str) -> Iterator[tuple[str, str]]:
    """Every ``(name, decoded value)`` in a Cookie header, in order, duplicates included.

    Follows cookie 0.7.2's scan: split on ``;``, name/value at the first ``=``, spaces and tabs
    trimmed, one pair of surrounding double quotes removed, fragments without ``=`` skipped.
    """
    for fragment in header.split(";"):
        name, eq, value = fragment.partition("=")
        if not eq:
            continue
        name = name.strip(" \t")
        value = value.strip(" \t")
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        yield name, decode_uri_component(value)


def cookie_values(headers: str | Iterable[str] | None, name: str) -> list[str]:
    """All non-empty values of cookie ``name`` across one or more Cookie headers, in order.

    ``iter_cookie_pairs`` filtered by name, without decoding the values of other cookies.
    """
    if headers is None:
        return []
    joined = headers if isinstance(headers, str) else "; ".join(headers)
    if len(joined) > MAX_COOKIE_HEADER or name not in joined:
        return []
    values = []
    for fragment in joined.split(";"):
        key, eq, value = fragment.partition("=")
        if not eq or key.strip(" \t") != name:
            continue
        value = value.strip(" \t")
        if len(value) >= 2 and value[0] == '"' and value[-1] == '"':
            value = value[1:-1]
        value = decode_uri_component(value)
        if value:
            values.append(value)
    return values


def http_date(when: datetime) -> str:
    """``Date.prototype.toUTCString`` (RFC 7231 IMF-fixdate), independent of the locale."""
    utc = when.astimezone(timezone.utc)
    return (
        f"{_WEEKDAYS[utc.weekday()]}, {utc.day:02d} {_MONTHS[utc.month - 1]} {utc.year:04d} "
        f"{utc.hour:02d}:{utc.minute:02d}:{utc.second:02d} GMT"
    )


def serialize_cookie(
    name: str,
    value: str,
    *,
    domain: str | None = None,
    path: str | None = None,
    expires: datetime | None = None,
    http_only: bool = False,
    secure: bool = False,
    partitioned: bool = False,
    priority: str | None = None,
    same_site: str | None = None,
) -> str:
    """One Set-Cookie header value; ``value`` is URL-encoded here, as cookie.serialize does.

    ``priority`` and ``same_site`` are the attribute spellings (``"High"``, ``"Lax"``) or None.
    Raises ``ValueError`` with cookie 0.7.2's message for anything it would refuse. The
    attribute text is validated and built once per distinct set of attributes (cached), so a
    request only encodes the value and formats ``Expires``.
    """
    if name not in _VALID_NAMES:
        if not COOKIE_NAME_RE.match(name):
            raise ValueError("argument name is invalid")
        if len(_VALID_NAMES) < 64:
            _VALID_NAMES.add(name)
    # encodeURIComponent's output is always made of cookie-octets (RFC 6265 §4.1.1), so
    # cookie 0.7.2's value check ("argument val is invalid") cannot fail here.
    encoded = encode_uri_component(value)
    attributes = (domain, path, http_only, secure, partitioned, priority, same_site)
    try:
        head, tail = _cached_attributes(*attributes)
    except TypeError:  # an unhashable attribute: validate it the slow way
        head, tail = _attribute_text(*attributes)
    if expires is None:
        return f"{name}={encoded}{head}{tail}"
    return f"{name}={encoded}{head}; Expires={http_date(expires)}{tail}"


_VALID_NAMES: set[str] = set()


def _attribute_text(
    domain: str | None,
    path: str | None,
    http_only: bool,
    secure: bool,
    partitioned: bool,
    priority: str | None,
    same_site: str | None,
) -> tuple[str, str]:
    """The attributes before ``Expires`` and after it, in cookie 0.7.2's order."""
    head = ""
    if domain:
        if not DOMAIN_RE.match(domain):
            raise ValueError("option domain is invalid")
        head += f"; Domain={domain}"
    if path:
        if not PATH_RE.match(path):
            raise ValueError("option path is invalid")
        head += f"; Path={path}"
    tail = ""
    if http_only:
        tail += "; HttpOnly"
    if secure:
        tail += "; Secure"
    if partitioned:
        tail += "; Partitioned"
    if priority:
        tail += f"; Priority={priority}"
    if same_site:
        tail += f"; SameSite={same_site}"
    return head, tail


_cached_attributes = lru_cache(maxsize=256, typed=True)(_attribute_text)


def vary_with_cookie(existing: str | None) -> str:
    """A ``Vary`` header value that includes ``Cookie`` (kept as is if already there or ``*``)."""
    if not existing:
        return "Cookie"
    fields = [f.strip().lower() for f in existing.split(",")]
    if "cookie" in fields or "*" in fields:
        return existing
    return f"{existing}, Cookie"
