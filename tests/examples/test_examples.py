"""The examples, served for real: each one's documented command runs in a subprocess on a free
port of 127.0.0.1 and is driven over HTTP by ``httpx.Client``, which keeps cookies like a browser.

Every example serves the same pages (``examples/_shared.py``), so one set of tests covers the
Starlette, FastAPI, Flask and Django ports of express-session's "View counter" and "User login".
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import httpx
import pytest

from tests.servers import HOST, free_port, terminate

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
START_TIMEOUT = 30.0
SECRET = "examples test secret"


@dataclass(frozen=True)
class Example:
    script: str
    cookie: str  # the session cookie's name (each adapter's default)
    store: str  # which --store to run it with: both kinds get served

    def __str__(self) -> str:
        return self.script.removesuffix(".py")


ALL = (
    Example("starlette_app.py", "connect.sid", "sqlite"),
    Example("fastapi_app.py", "connect.sid", "memory"),
    Example("flask_app.py", "session", "sqlite"),
    Example("django_app.py", "sessionid", "sqlite"),
)


@contextlib.contextmanager
def serve(script: str, cwd: Path, *args: str, secret: str = SECRET) -> Iterator[str]:
    """Run ``python examples/<script> --port N *args`` until it accepts connections; yield its
    URL. Its output is printed when the block ends, so a failing test shows it."""
    port = free_port()
    log_path = cwd / f"{script}-{port}.log"
    # The examples must not trip express's deprecation (resave / save_uninitialized implicit).
    env = {**os.environ, "COATCHECK_SECRET": secret, "PYTHONWARNINGS": "error::FutureWarning"}
    command = [sys.executable, str(EXAMPLES / script), "--port", str(port), *args]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(command, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if proc.poll() is not None:
                pytest.fail(f"{script} exited with {proc.returncode} before serving")
            with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.5):
                break
            if time.monotonic() > deadline:
                pytest.fail(f"{script} did not accept connections within {START_TIMEOUT}s")
            time.sleep(0.05)
        url = f"http://{HOST}:{port}"
        assert f"{url}/" in log_path.read_text(errors="replace"), "the URL is printed on start"
        yield url
    finally:
        terminate(proc, timeout=10)
        print(f"--- {' '.join(command)} (exit {proc.returncode}) ---")
        print(log_path.read_text(errors="replace"))


def session_id(client: httpx.Client, name: str) -> str:
    """The bare session id in the client's cookie ``s:<id>.<signature>`` (URL-encoded)."""
    value = client.cookies.get(name)
    assert value, f"no {name} cookie; the client has {dict(client.cookies)}"
    signed = unquote(value)
    assert signed.startswith("s:"), signed
    return signed[2:].rsplit(".", 1)[0]


def fresh_get(url: str, cookie: str) -> httpx.Response:
    """One request from another browser that sends exactly ``cookie``."""
    with httpx.Client(base_url=url, timeout=10) as other:
        return other.get("/", headers={"Cookie": cookie})


@pytest.fixture(params=ALL, ids=str)
def served(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Example, str]]:
    """The example's server, started for this test alone (its output shows if the test fails)."""
    example: Example = request.param
    db = str(tmp_path / "sessions.sqlite3")
    with serve(example.script, tmp_path, "--store", example.store, "--db", db) as url:
        yield example, url


@pytest.mark.network
def test_view_counter_then_login_and_logout(served: tuple[Example, str]) -> None:
    example, url = served
    with httpx.Client(base_url=url, follow_redirects=True, timeout=10) as client:
        # View counter: the count lives in the session and grows across requests.
        first = client.get("/")
        assert first.status_code == 200
        assert "you viewed this page 1 time<" in first.text
        assert '<form action="/login" method="post">' in first.text
        anonymous = session_id(client, example.cookie)
        anonymous_cookie = f"{example.cookie}={client.cookies[example.cookie]}"
        assert "you viewed this page 2 times" in client.get("/").text
        assert session_id(client, example.cookie) == anonymous
        form = client.get("/login")
        assert '<input name="user">' in form.text
        assert "you viewed this page 1 time<" in form.text  # counted per path, as in express

        # Login: a new id (fixation defence), then the user is greeted (and escaped).
        page = client.post("/login", data={"user": "Ada <b>", "pass": "anything"})
        assert page.status_code == 200
        assert page.url.path == "/"
        assert [r.status_code for r in page.history] == [303]
        assert 'hello, Ada &lt;b&gt;! <a href="/logout">Logout</a>' in page.text
        # regenerate(keep_data=True): the counter survives the login (2 views, then this one)
        assert "you viewed this page 3 times" in page.text
        logged_in = session_id(client, example.cookie)
        assert logged_in != anonymous
        logged_in_cookie = f"{example.cookie}={client.cookies[example.cookie]}"

        # A reload keeps the user and the id.
        again = client.get("/")
        assert "hello, Ada &lt;b&gt;!" in again.text
        assert session_id(client, example.cookie) == logged_in
        # The id from before the login is gone from the store: whoever holds it is a stranger.
        stale = fresh_get(url, anonymous_cookie)
        assert stale.status_code == 200
        assert "you viewed this page 1 time<" in stale.text
        assert "hello" not in stale.text

        # Logout: the user is gone and the browser ends up with yet another id.
        out = client.get("/logout")
        assert out.status_code == 200
        assert out.url.path == "/"
        assert "hello" not in out.text
        assert '<form action="/login" method="post">' in out.text
        assert session_id(client, example.cookie) not in {anonymous, logged_in}
        # Replaying the logged-in cookie after logout finds no user.
        replay = fresh_get(url, logged_in_cookie)
        assert replay.status_code == 200
        assert "hello" not in replay.text


@pytest.mark.network
def test_tampered_cookie_is_a_fresh_session(served: tuple[Example, str]) -> None:
    example, url = served
    with httpx.Client(base_url=url, follow_redirects=True, timeout=10) as client:
        client.get("/")
        assert "you viewed this page 2 times" in client.get("/").text
        victim = session_id(client, example.cookie)
        # Another id under the same signature: what someone guessing ids would send.
        signed = unquote(client.cookies[example.cookie])
        forged = signed[:2] + ("A" if signed[2] != "A" else "B") + signed[3:]
        tampered = fresh_get(url, f"{example.cookie}={quote(forged, safe='')}")
        assert tampered.status_code == 200
        assert "you viewed this page 1 time<" in tampered.text
        new_cookie = tampered.cookies.get(example.cookie)
        assert new_cookie, "the fresh session gets its own cookie"
        assert unquote(new_cookie)[2:].rsplit(".", 1)[0] != victim
        # The real session is untouched.
        assert "you viewed this page 3 times" in client.get("/").text


@pytest.mark.network
def test_demo_sessions_survive_a_restart(tmp_path: Path) -> None:
    """``nox -s demo``: sessions in ./coatcheck-demo.sqlite3 outlive the server process."""
    with httpx.Client(follow_redirects=True, timeout=10) as client:
        with serve("demo.py", tmp_path) as url:
            page = client.post(f"{url}/login", data={"user": "ada", "pass": "x"})
            assert "hello, ada!" in page.text
            logged_in = session_id(client, "connect.sid")
        db = tmp_path / "coatcheck-demo.sqlite3"
        assert db.is_file(), "the demo keeps its sessions in a file under the current directory"
        assert not Path(f"{db}-wal").exists(), "the store is closed cleanly on SIGTERM"

        with serve("demo.py", tmp_path) as url:  # a new process, the same file and secret
            page = client.get(f"{url}/")
            assert "hello, ada!" in page.text
            assert session_id(client, "connect.sid") == logged_in

        with serve("demo.py", tmp_path, secret="another secret") as url:
            page = client.get(f"{url}/")  # the old cookie no longer verifies: a fresh session
            assert page.status_code == 200
            assert "hello" not in page.text


@pytest.mark.network
def test_demo_says_when_it_uses_the_development_secret(tmp_path: Path) -> None:
    with serve("demo.py", tmp_path, secret="") as url:
        page = httpx.get(f"{url}/", timeout=10)
        assert "Sessions are signed with a development secret" in page.text
    with serve("demo.py", tmp_path) as url:
        assert "development secret" not in httpx.get(f"{url}/", timeout=10).text


def readme_embed_example() -> str:
    """The ```python block between ``<!-- embed-example -->`` markers of the top README."""
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8") if readme.exists() else ""
    found = re.search(
        r"<!-- embed-example -->\s*```python\n(.*?)```\s*<!-- /embed-example -->", text, re.S
    )
    if found is None:
        pytest.fail(
            "README.md needs the core-embedding example between <!-- embed-example --> and "
            "<!-- /embed-example --> as one ```python block: complete code defining `app`, a raw "
            "WSGI app counting views in the session (body 'views: N'), that prints 'views: 1' "
            "then 'views: 2' for two requests where the second sends back the first's cookie"
        )
    return found.group(1)


def test_readme_embed_example_runs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # should the snippet create a database file, it lands here
    namespace: dict[str, Any] = {"__name__": "readme_embed_example"}
    exec(compile(readme_embed_example(), "README.md <!-- embed-example -->", "exec"), namespace)
    assert capsys.readouterr().out.split() == ["views:", "1", "views:", "2"]

    # The `app` it defines is a working WSGI app: a browser keeps its count, a forger does not.
    app = namespace.get("app")
    assert callable(app), "the README example defines a WSGI callable named `app`"
    transport = httpx.WSGITransport(app=app)
    with httpx.Client(transport=transport, base_url="http://example.test") as client:
        first = client.get("/")
        assert first.status_code == 200
        assert first.text.strip() == "views: 1"
        set_cookie = first.headers["set-cookie"]
        assert set_cookie.startswith("connect.sid=s%3A")
        assert "HttpOnly" in set_cookie
        assert client.get("/").text.strip() == "views: 2"
        signed = unquote(client.cookies["connect.sid"])
        forged = signed[:2] + ("A" if signed[2] != "A" else "B") + signed[3:]
    with httpx.Client(transport=transport, base_url="http://example.test") as stranger:
        cookie = f"connect.sid={quote(forged, safe='')}"
        assert stranger.get("/", headers={"Cookie": cookie}).text.strip() == "views: 1"
