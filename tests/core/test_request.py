"""Request facts, express's ``issecure``, and RFC 6265 path gating (a deliberate difference)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from coatcheck import RequestReceived, is_secure, path_matches

from .cycle import NOW


@pytest.mark.parametrize(
    ("request_path", "cookie_path", "matches"),
    [
        ("/", "/", True),
        ("/anything/at/all", "/", True),
        ("", "/", True),  # an empty pathname counts as "/"
        ("/admin", "/admin", True),
        ("/admin/", "/admin", True),
        ("/admin/users", "/admin", True),
        ("/administrator", "/admin", False),  # DIFFERENCE: express's raw prefix test matches
        ("/adminx/users", "/admin", False),
        ("/", "/admin", False),
        ("/ADMIN", "/admin", False),  # case-sensitive
        ("/admin/x", "/admin/", True),
        ("/admin/", "/admin/", True),
        ("/admin", "/admin/", False),
        ("/administrator", "/admin/", False),
        ("/x", "", True),  # no path option: "/"
    ],
)
def test_rfc6265_path_match(request_path: str, cookie_path: str, matches: bool) -> None:
    assert path_matches(request_path, cookie_path) is matches


@pytest.mark.parametrize(
    ("facts", "proxy", "secure"),
    [
        ({}, None, False),
        ({"direct_tls": True}, None, True),
        ({"direct_tls": True}, False, True),  # TLS to us is secure whatever proxy says
        ({"direct_tls": True}, True, True),
        ({"framework_secure": True}, None, True),
        ({"framework_secure": False, "forwarded_proto": "https"}, None, False),
        ({"framework_secure": True}, False, False),
        ({"forwarded_proto": "https"}, False, False),
        ({"forwarded_proto": "https"}, True, True),
        ({"forwarded_proto": " HTTPS "}, True, True),
        ({"forwarded_proto": "https,http"}, True, True),  # the first value decides
        ({"forwarded_proto": "http,https"}, True, False),
        ({"forwarded_proto": ""}, True, False),
        ({}, True, False),  # missing header
        ({"framework_secure": True}, True, False),  # proxy=True: the header, not the framework
    ],
)
def test_is_secure_is_express_issecure(
    facts: dict[str, object], proxy: bool | None, secure: bool
) -> None:
    request = RequestReceived(now=NOW, **facts)  # type: ignore[arg-type]
    assert is_secure(request, proxy) is secure


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        RequestReceived(now=datetime(2026, 1, 1))


def test_now_is_kept_in_utc_at_millisecond_precision() -> None:
    """JavaScript dates have ms precision; a record then reads back exactly as written."""
    paris = timezone(timedelta(hours=1))
    request = RequestReceived(now=datetime(2026, 1, 1, 13, 0, 0, 123456, tzinfo=paris))
    assert request.now == datetime(2026, 1, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)
    assert request.now.tzinfo == timezone.utc


def test_defaults() -> None:
    request = RequestReceived(now=NOW)
    assert request.path == "/"
    assert request.cookie_header is None
    assert request.request is None
    assert not is_secure(request, None)
