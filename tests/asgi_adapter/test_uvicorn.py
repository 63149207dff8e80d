"""A ConfigError under a real uvicorn process (issue 10.22).

Starlette builds its middleware at lifespan start-up; uvicorn's default ``--lifespan auto``
swallows an exception there as "lifespan protocol appears unsupported" (INFO) and serves 500s.
The middleware logs the error at ERROR first, so it is on the console whatever the mode, and
``--lifespan on`` (documented in the README) stops the server.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.servers import HOST, free_port, terminate

TYPO_APP = """
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from coatcheck_asgi import SessionMiddleware

app = Starlette(
    routes=[Route("/", lambda request: PlainTextResponse("ok"))],
    middleware=[
        Middleware(
            SessionMiddleware, secret="x" * 40, resave=False, save_unitialized=False
        )
    ],
)
"""
DIRECT_APP = """
from starlette.applications import Starlette

from coatcheck_asgi import SessionMiddleware

app = SessionMiddleware(Starlette(), secret="x" * 40, resave=False, save_unitialized=False)
"""
START_TIMEOUT = 30.0
LOGGED = (
    "coatcheck_asgi.SessionMiddleware: ConfigError: save_unitialized: unknown option(s): "
    "save_unitialized (did you mean save_uninitialized?)"
)


def run_uvicorn(tmp_path: Path, source: str, *args: str) -> tuple[str, int | None, int]:
    """Start ``uvicorn app:app`` on a free port until it serves or exits; its output, exit code
    (``None`` if it was still running) and port. The process is stopped by its PID."""
    (tmp_path / "app.py").write_text(source)
    port = free_port()
    log_path = tmp_path / "uvicorn.log"
    command = [sys.executable, "-m", "uvicorn", "app:app", "--app-dir", str(tmp_path)]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [*command, "--host", HOST, "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while proc.poll() is None and "Uvicorn running on" not in log_path.read_text():
            if time.monotonic() > deadline:
                pytest.fail(f"uvicorn neither served nor exited: {log_path.read_text()}")
            time.sleep(0.05)
        code = proc.poll()
        if code is None:
            status = httpx.get(f"http://{HOST}:{port}/", timeout=10).status_code
            assert status == 500  # what the log line warns about
    finally:
        terminate(proc)
    return log_path.read_text(), code, port


@pytest.mark.network
def test_under_lifespan_auto_the_config_error_is_logged_at_start_up(tmp_path: Path) -> None:
    output, code, _ = run_uvicorn(tmp_path, TYPO_APP)
    assert code is None, "uvicorn --lifespan auto keeps serving (that is why we log)"
    assert LOGGED in output
    assert "--lifespan on" in output  # the hint
    assert output.index(LOGGED) < output.index("Application startup complete")


@pytest.mark.network
def test_under_lifespan_on_the_config_error_stops_uvicorn(tmp_path: Path) -> None:
    output, code, _ = run_uvicorn(tmp_path, TYPO_APP, "--lifespan", "on")
    assert code not in (None, 0)
    assert LOGGED in output
    assert "Application startup failed" in output


@pytest.mark.network
def test_wrapping_the_app_directly_fails_at_import(tmp_path: Path) -> None:
    output, code, _ = run_uvicorn(tmp_path, DIRECT_APP)
    assert code not in (None, 0)
    assert "ConfigError: save_unitialized: unknown option(s)" in output
    assert "Uvicorn running on" not in output
