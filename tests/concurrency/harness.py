"""Real servers for the concurrency tests and benchmark: the apps of ``apps.py`` under uvicorn
(coatcheck-asgi) or gunicorn with threads (coatcheck-flask), and the 16-client workloads.

Framework-free (no pytest), so ``benchmarks/bench_concurrency.py`` uses it too. Every process is
started here and stopped by its PID.

    with AppServer("asgi", store_url, mode="lock") as server:
        result = increments(server.url, clients=16, total=1000)
        result.kept, result.acknowledged            # counter at the end, 200 answers
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import httpx

from tests.servers import HOST, Managed, free_port, terminate

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0
Adapter = Literal["asgi", "flask"]


class AppServer(Managed):
    """``apps.py`` served on a free 127.0.0.1 port: ``asgi`` under uvicorn (one process, the
    event loop interleaves requests), ``flask`` under gunicorn (2 workers x 8 threads, so
    requests of one session race across processes too)."""

    def __init__(self, adapter: Adapter, store: str, *, mode: str, prefix: str | None = None):
        self.adapter = adapter
        self.mode = mode
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.prefix = prefix or f"conc{uuid.uuid4().hex[:10]}"
        self.env = {
            **os.environ,
            "CONCURRENCY_STORE": store,
            "CONCURRENCY_MODE": mode,
            "CONCURRENCY_PREFIX": self.prefix,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
        }
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed in close())
            prefix=f"{adapter}-", suffix=".log", delete=False
        )

    def command(self) -> list[str]:
        bind = ["--host", HOST, "--port", str(self.port)]
        if self.adapter == "asgi":
            app = "tests.concurrency.apps:asgi_app"
            return [
                sys.executable,
                "-m",
                "uvicorn",
                "--factory",
                app,
                *bind,
                "--log-level",
                "warning",
            ]
        return [
            sys.executable,
            "-m",
            "gunicorn",
            "--bind",
            f"{HOST}:{self.port}",
            "--workers",
            "2",
            "--worker-class",
            "gthread",
            "--threads",
            "8",
            "--log-level",
            "warning",
            "tests.concurrency.apps:flask_app()",
        ]

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.command(), env=self.env, cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.adapter} server exited: {self.log()}")
            try:
                if httpx.get(self.url + "/read", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{self.adapter} server did not start: {self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return Path(self._log.name).read_text(errors="replace")

    def close(self) -> None:
        if self.process is not None:
            terminate(self.process)
            self.process = None
        self._log.close()
        Path(self._log.name).unlink(missing_ok=True)


def new_session(url: str) -> str:
    """A fresh session on the server (one increment of ``setup``); its ``Cookie`` header."""
    response = httpx.get(url + "/incr", params={"key": "setup"}, timeout=30)
    response.raise_for_status()
    return response.headers["set-cookie"].split(";", 1)[0]


@dataclass
class IncrementResult:
    """What a 16-client run left: the counter(s) at the end and the requests that said 200."""

    acknowledged: dict[str, int] = field(default_factory=dict)  # key -> 200 answers
    busy: int = 0  # 503 answers (lock timeout, merge retries exhausted): not acknowledged
    data: dict[str, object] = field(default_factory=dict)  # the session at the end
    seconds: float = 0.0

    def kept(self, key: str) -> int:
        value = self.data.get(key, 0)
        return value if isinstance(value, int) else 0

    @property
    def total_acknowledged(self) -> int:
        return sum(self.acknowledged.values())

    @property
    def total_kept(self) -> int:
        return sum(self.kept(key) for key in self.acknowledged)


def increments(
    url: str, *, clients: int = 16, total: int = 1000, own_keys: bool = False
) -> IncrementResult:
    """``clients`` threads share one session and send ``total`` ``/incr`` requests between
    them: all on key ``n``, or (``own_keys``) each client on its own key ``k<i>``."""
    cookie = new_session(url)
    result = IncrementResult()
    lock = threading.Lock()
    per_client = [total // clients + (1 if i < total % clients else 0) for i in range(clients)]

    def client(index: int) -> None:
        key = f"k{index}" if own_keys else "n"
        ok = busy = 0
        with httpx.Client(base_url=url, headers={"cookie": cookie}, timeout=60) as http:
            for _ in range(per_client[index]):
                status = http.get("/incr", params={"key": key}).status_code
                if status == 200:
                    ok += 1
                elif status == 503:
                    busy += 1
                else:
                    raise AssertionError(f"/incr answered {status}")
        with lock:
            result.acknowledged[key] = result.acknowledged.get(key, 0) + ok
            result.busy += busy

    started = time.monotonic()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.seconds = time.monotonic() - started
    result.data = httpx.get(url + "/read", headers={"cookie": cookie}, timeout=30).json()
    return result


@dataclass
class RaceResult:
    """A logout racing a slow writing request of the same session."""

    sid_cookie: str  # the browser's cookie before the race
    slow_set_cookie: str | None
    logout_set_cookie: str | None
    jar: str | None  # the browser's cookie after both responses, in the order they arrived
    data_after: dict[str, object]  # what the server sees with that jar


def destroy_race(url: str, *, pause: float = 1.0) -> RaceResult:
    """``/slow`` (loads, then writes once ``/logout`` of the same cookie finished, or after
    ``pause`` seconds: under ``"lock"`` the logout waits for the slow request's lock)."""
    cookie = new_session(url)
    arrivals: list[tuple[str, str | None]] = []
    lock = threading.Lock()

    def call(path: str, params: dict[str, str]) -> None:
        response = httpx.get(url + path, params=params, headers={"cookie": cookie}, timeout=60)
        response.raise_for_status()
        with lock:
            arrivals.append((path, response.headers.get("set-cookie")))

    with tempfile.TemporaryDirectory() as tmp:
        marker = Path(tmp) / "loaded"
        params = {"pause": str(pause), "marker": str(marker)}
        slow = threading.Thread(target=call, args=("/slow", params))
        slow.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not marker.exists():  # the slow request has loaded the session: now log out
            if time.monotonic() > deadline:
                raise AssertionError("/slow never loaded its session")
            time.sleep(0.005)
        call("/logout", {})
        (Path(tmp) / "loaded.done").touch()  # "merge": the slow request may write now
        slow.join()
    jar: str | None = cookie
    for _, set_cookie in arrivals:  # what a browser keeps: the last Set-Cookie wins
        if set_cookie is not None:
            value = set_cookie.split(";", 1)[0]
            expired = "Expires=Thu, 01 Jan 1970" in set_cookie
            jar = None if expired or value.endswith("=") else value
    headers = {"cookie": jar} if jar else {}
    data_after = httpx.get(url + "/read", headers=headers, timeout=30).json()
    by_path = dict(arrivals)
    return RaceResult(cookie, by_path.get("/slow"), by_path.get("/logout"), jar, data_after)
