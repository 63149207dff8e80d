"""Cookie header parsing and Set-Cookie serialisation, as express's ``cookie`` 0.7.2 does them.

Parsing never raises on client input. Serialisation validates what *we* were configured with and
writes attributes in cookie 0.7.2's order: Domain, Path, Expires, HttpOnly, Secure, Partitioned,
Priority, SameSite (``Max-Age`` is never sent; express converts it to ``Expires``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime, timezone
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
_ESCAPED_TEXT = re.compile(r"(?:[^%]|%[0-9A-Fa-f]{2})*", re.DOTALL)
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
#: A cookie larger than any browser keeps is not worth parsing (RFC 6265 §6.1 asks for 4096).
MAX_COOKIE_HEADER = 16 * 1024


def decode_uri_component(text: str) -> str:
    """JavaScript's ``decodeURIComponent``, keeping the raw text where JS would throw."""
    if "%" not in text:
        return text
    if not _ESCAPED_TEXT.fullmatch(text):
        return text  # a stray % that is not an escape: JS throws URIError, cookie keeps raw
    try:
        return unquote(text, errors="strict")
    except UnicodeDecodeError:
        return text


def encode_uri_component(text: str) -> str:
    """JavaScript's ``encodeURIComponent`` (the encoder cookie.serialize uses)."""
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
    """All non-empty values of cookie ``name`` across one or more Cookie headers, in order."""
    if headers is None:
        return []
    joined = headers if isinstance(headers, str) else "; ".join(headers)
    if len(joined) > MAX_COOKIE_HEADER:
        return []
    return [value for key, value in iter_cookie_pairs(joined) if key == name and value]


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
    Raises ``ValueError`` with cookie 0.7.2's message for anything it would refuse.
    """
    if not COOKIE_NAME_RE.match(name):
        raise ValueError("argument name is invalid")
    encoded = encode_uri_component(value)
    if encoded and not COOKIE_VALUE_RE.match(encoded):
        raise ValueError("argument val is invalid")
    parts = [f"{name}={encoded}"]
    if domain:
        if not DOMAIN_RE.match(domain):
            raise ValueError("option domain is invalid")
        parts.append(f"Domain={domain}")
    if path:
        if not PATH_RE.match(path):
            raise ValueError("option path is invalid")
        parts.append(f"Path={path}")
    if expires is not None:
        parts.append(f"Expires={http_date(expires)}")
    if http_only:
        parts.append("HttpOnly")
    if secure:
        parts.append("Secure")
    if partitioned:
        parts.append("Partitioned")
    if priority:
        parts.append(f"Priority={priority}")
    if same_site:
        parts.append(f"SameSite={same_site}")
    return "; ".join(parts)


def vary_with_cookie(existing: str | None) -> str:
    """A ``Vary`` header value that includes ``Cookie`` (kept as is if already there or ``*``)."""
    if not existing:
        return "Cookie"
    fields = [f.strip().lower() for f in existing.split(",")]
    if "cookie" in fields or "*" in fields:
        return existing
    return f"{existing}, Cookie"
