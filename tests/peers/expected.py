"""Which upstream tests run, and the deliberate differences they meet (``xfail(strict=True)``).

A pytest plugin (``run.py`` loads it with ``-p``): ``pytest_collection_modifyitems`` deselects
what is not about sessions and marks the tests listed in ``DIFFERENCES`` as strict xfails, so a
listed test that starts passing fails the run, as does any unlisted failure. Every reason names
the line of DESIGN.md ("Details pinned down" ...) that makes the difference deliberate; the
adapters' READMEs carry the same table (``tests/test_peers_tables.py`` keeps them in sync).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass

import pytest


@dataclass(frozen=True)
class Difference:
    """Upstream tests failing for one documented reason.

    ``tests``: names as pytest shows them after the file (``Class::test`` for Django's); a name
    without ``[...]`` covers all its parametrizations. Each must match at least one collected
    test of the suite (else the table is stale and the run fails).
    """

    suite: str
    tests: tuple[str, ...]
    difference: str  # one line, for the README table
    design: str  # where DESIGN.md makes it deliberate: "section: quoted words"

    @property
    def reason(self) -> str:
        return f"{self.difference} (DESIGN {self.design})"

    def matches(self, name: str) -> bool:
        return name in self.tests or name.split("[", 1)[0] in self.tests


#: What each suite keeps of the collected files (regex on the node id after the file name).
SELECTED = {
    "django": r"^(CoatcheckSessionTests|SessionMiddlewareTests|LoginTests|SessionEngineTests|"
    r"SessionTests)::|^ClientTest::test_\w*(login|logout|session)",
    "flask": r"^test_\w*(session|flash)",
    "starlette": r".",
}
#: The README that carries each suite's table.
READMES = {
    "django": "packages/django-adapter/README.md",
    "flask": "packages/flask-adapter/README.md",
    "starlette": "packages/asgi-adapter/README.md",
}
FRAMEWORK = {"django": "Django", "flask": "Flask", "starlette": "Starlette"}

_SET_COOKIE = 'Details pinned down: "Set-Cookie is what express-session sends"'
_EXPRESS = 'Where coatcheck deliberately differs: "Follow the reference behaviour everywhere"'

DIFFERENCES: tuple[Difference, ...] = (
    # -- Django ----------------------------------------------------------------------------------
    Difference(
        "django",
        ("CoatcheckSessionTests::test_session_key_valid_string_saved",),
        "An unsigned value poked into the private `_session_key` is never adopted: "
        "`session_key` is the signed cookie value",
        'Details pinned down, Django: "Unsigned ids are never adopted"',
    ),
    Difference(
        "django",
        (
            "SessionMiddlewareTests::test_session_delete_on_end",
            "SessionMiddlewareTests::test_session_delete_on_end_with_custom_domain_and_path",
        ),
        "The expiring Set-Cookie of a logout is express's (`sessionid=; Path=/; Expires=Thu, "
        "01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Lax`), not Django's `Max-Age=0` form",
        _SET_COOKIE,
    ),
    Difference(
        "django",
        ("SessionMiddlewareTests::test_secure_session_cookie",),
        "A `Secure` cookie is not sent in answer to a plain-HTTP request (express: "
        '"not secured"); the session is still saved',
        _EXPRESS,
    ),
    Difference(
        "django",
        ("SessionMiddlewareTests::test_empty_session_saved",),
        "Sessions live in coatcheck's store as express's records, not in "
        "`django.contrib.sessions`' `Session` table",
        '"Wire and storage formats (express-compatible by default)"',
    ),
    Difference(
        "django",
        ("SessionMiddlewareTests::test_session_update_error_redirect",),
        "A `request.session` replaced by the view is taken as data (`request.session = {...}`); "
        "a session object of another engine is not saved through its own backend",
        'Details pinned down: "Unset and replace"',
    ),
    Difference(
        "django",
        (
            "ClientTest::test_logout_cookie_sessions",
            "ClientTest::test_sessions_app_is_not_installed",
            "ClientTest::test_view_with_login_when_sessions_app_is_not_installed",
            "SessionEngineTests::test_login",
        ),
        "With coatcheck's middleware installed, `SESSION_ENGINE` must be "
        '`"coatcheck_django"` (`ConfigError`); these tests switch to another engine',
        "Wiring, Django: 'SESSION_ENGINE = \"coatcheck_django\"'",
    ),
    # -- Flask -----------------------------------------------------------------------------------
    Difference(
        "flask",
        ("test_session_special_types", "test_extended_flashing"),
        "Session values are JSON: tuples come back as lists; bytes, `Markup`, `UUID`, "
        "`datetime` are refused (Flask's tagged serializer is not used)",
        'Stores: "Serialisation is JSON — never pickle"',
    ),
    Difference(
        "flask",
        ("test_session_using_session_settings",),
        "A session emptied of its data is still a session: saved empty, its cookie kept; "
        "`session.destroy()` ends it and expires the cookie",
        'Where coatcheck deliberately differs: "destroy() also sends an expiring Set-Cookie"',
    ),
    Difference(
        "flask",
        ("test_session_using_samesite_attribute",),
        "Assigning a value equal to the stored one is not a change (express hashes the data), "
        "so a browser-session cookie is not re-sent",
        _EXPRESS,
    ),
    # -- Starlette -------------------------------------------------------------------------------
    Difference(
        "starlette",
        ("test_session", "test_session_zero_max_age"),
        "The cookie's lifetime is sent as `Expires`, never `Max-Age` (as express does)",
        _SET_COOKIE,
    ),
    Difference(
        "starlette",
        (
            "test_session_cookie_subpath",
            "test_domain_cookie",
            "test_partitioned_session[asyncio-True]",
        ),
        "Attribute names are written as express writes them (`Path=`, `Domain=`, "
        "`Partitioned`), not lower-case",
        _SET_COOKIE,
    ),
)


def readme_table(suite: str) -> str:
    """The README's "Differences from <framework>'s own sessions" table for ``suite``."""
    rows = [
        "| Difference | Upstream tests (strict xfail) | Deliberate per DESIGN.md |",
        "|---|---|---|",
    ]
    for difference in DIFFERENCES:
        if difference.suite == suite:
            tests = ", ".join(f"`{name}`" for name in difference.tests)
            design = difference.design.replace("|", "\\|")
            rows.append(f"| {difference.difference} | {tests} | {design} |")
    return "\n".join(rows) + "\n"


def _suite() -> str:
    return os.environ["COATCHECK_PEERS_SUITE"]


def _version() -> str:
    from importlib.metadata import version

    return version(_suite())


def _name(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    suite, version = _suite(), _version()
    keep = re.compile(SELECTED[suite])
    selected = [item for item in items if keep.search(_name(item))]
    deselected = [item for item in items if not keep.search(_name(item))]
    if deselected:
        config.hook.pytest_deselected(items=deselected)
    items[:] = selected
    names = {_name(item) for item in items}
    for difference in DIFFERENCES:
        if difference.suite != suite:
            continue
        for wanted in difference.tests:
            if not any(Difference(suite, (wanted,), "", "").matches(name) for name in names):
                raise pytest.UsageError(f"{wanted!r}: no such test in {suite} {version}")
        for item in items:
            if difference.matches(_name(item)):
                item.add_marker(pytest.mark.xfail(strict=True, reason=difference.reason))


def pytest_report_header() -> str:
    return f"coatcheck peers: {_suite()} {_version()}, unchanged upstream tests"
