"""The demo in a real browser: Debian's Chromium, headless, driven by Playwright for Python
(no browser download: the system ``/usr/bin/chromium`` is the executable).

Two browser contexts (two browsers with their own cookie jars) log in as the same user; both
sessions are listed; "log out everywhere" in one logs the other out on its next reload. Each
step leaves a screenshot in ``$COATCHECK_ARTIFACTS/demo-browser/`` (default: the test's temp
directory); nothing is committed. A missing Chromium or Playwright fails in CI and skips
elsewhere.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.examples.test_examples import serve
from tests.servers import unavailable

CHROMIUM = os.environ.get("COATCHECK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable(f"playwright is not installed: {exc}", what="browser")
    if not (os.path.exists(CHROMIUM) or shutil.which(CHROMIUM)):
        unavailable(f"no Chromium at {CHROMIUM} (apt-get install chromium)", what="browser")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    root = os.environ.get("COATCHECK_ARTIFACTS")
    folder = Path(root) / "demo-browser" if root else tmp_path / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def login(page: Any, url: str, name: str) -> None:
    page.goto(f"{url}/")
    page.fill("#user", name)
    page.click("#login")
    page.wait_for_selector("text=hello, ada!")


@pytest.mark.network
def test_log_in_from_two_browsers_then_log_out_everywhere(
    browser: Any, tmp_path: Path, shots: Path
) -> None:
    with serve("demo.py", tmp_path) as url:
        laptop = browser.new_context()
        phone = browser.new_context()
        try:
            first, second = laptop.new_page(), phone.new_page()

            # 1. Anonymous: the page explains both sides; the browser already holds a cookie.
            first.goto(f"{url}/")
            assert first.inner_text("header h1").startswith("coatcheck")
            assert "you viewed this page 1 time" in first.inner_text(".note")
            (cookie,) = [c for c in laptop.cookies() if c["name"] == "connect.sid"]
            assert cookie["httpOnly"] is True
            assert cookie["sameSite"] == "Lax"
            assert cookie["value"].startswith("s%3A")
            # The record on the page is what the store holds, expiry counting down (JS).
            assert '"views"' in first.inner_text("#record")
            first.wait_for_function(
                "document.querySelector('#expires-in').textContent.match(/^\\d+m \\d\\ds$/)"
            )
            first.screenshot(path=str(shots / "1-anonymous.png"), full_page=True)

            # 2. Log in as ada in both browsers: two sessions of one user, each marked.
            login(first, url, "ada")
            login(second, url, "ada")
            second.screenshot(path=str(shots / "2-second-browser.png"), full_page=True)
            first.reload()
            rows = first.locator("#sessions tr.session")
            assert rows.count() == 2
            assert first.locator("#sessions .badge").count() == 1  # "this browser"
            assert "2 live session(s) of ada" in first.inner_text("#users")
            assert '"user": "ada"' in first.inner_text("#record")
            first.screenshot(path=str(shots / "3-both-sessions-listed.png"), full_page=True)

            # An express power on the way: regenerate gives a new id, keeps the user.
            before = first.inner_text("#server code")
            first.click("#regenerate")
            assert "regenerate(keep_data=True)" in first.inner_text("#did")
            assert first.inner_text("#server code") != before
            assert "hello, ada!" in first.inner_text("#you")
            assert first.locator("#sessions tr.session").count() == 2

            # 3. Log out everywhere from the first browser.
            first.click("#everywhere")
            assert "logout_everywhere()" in first.inner_text("#did")
            assert "(2 session(s) ended)" in first.inner_text("#did")
            assert first.locator("#login").count() == 1
            first.screenshot(path=str(shots / "4-logged-out-everywhere.png"), full_page=True)

            # 4. The other browser is logged out on its next request.
            second.reload()
            assert second.locator("#login").count() == 1
            assert "hello, ada!" not in second.content()
            assert re.search(r'"user"', second.inner_text("#record")) is None
            second.screenshot(path=str(shots / "5-other-browser-logged-out.png"), full_page=True)
        finally:
            laptop.close()
            phone.close()
    assert sorted(p.name for p in shots.iterdir()) == [
        "1-anonymous.png",
        "2-second-browser.png",
        "3-both-sessions-listed.png",
        "4-logged-out-everywhere.png",
        "5-other-browser-logged-out.png",
    ]
    print(f"screenshots: {shots}")
