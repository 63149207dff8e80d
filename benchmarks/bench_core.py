"""µs per complete session cycle: coatcheck's core, its ASGI middleware, and Starlette's cookie
``SessionMiddleware`` doing the same job in-process, measured side by side in one run.

Cases: (a) a new visitor, (b) a returning visitor whose session is unchanged, (c) one whose
session changed. Run with ``nox -s bench``; numbers are medians of several rounds. Not a test.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

from starlette.middleware.sessions import SessionMiddleware as StarletteSessions

from coatcheck import RequestReceived, SessionConfig, SyncDriver, SyncSession
from coatcheck.stores import MemoryStore
from coatcheck_asgi import SessionMiddleware as CoatcheckSessions

SECRET = "benchmark secret"
DATA = {"user": {"id": 42, "name": "Ada", "roles": ["admin", "dev"]}, "cart": [1, 2, 3]}
ROUNDS, LOOPS = 7, 2000
CORE = "coatcheck core (SyncDriver + MemoryStore)"
ASGI = "coatcheck-asgi middleware + MemoryStore"
BARE = "bare ASGI app (no sessions, same runner)"
#: CPU time of this process, not wall time: on a shared machine, time spent waiting for a core
#: is not the code's cost (``--wall`` measures wall time instead).
CLOCK = time.perf_counter if "--wall" in sys.argv else time.process_time


def interleaved_us(fns: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """Median µs per call of each function, the rounds interleaved so that drift in the
    machine's speed hits every contender alike (ratios stay honest on a noisy machine)."""
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(ROUNDS):
        for name, fn in fns.items():
            start = CLOCK()
            for _ in range(LOOPS):
                fn()
            samples[name].append((CLOCK() - start) / LOOPS * 1e6)
    return {name: statistics.median(values) for name, values in samples.items()}


def core_cases() -> dict[str, Callable[[], Any]]:
    config = SessionConfig.from_options(
        secret=SECRET, store=MemoryStore(), resave=False, save_uninitialized=True
    )
    driver: SyncDriver[SyncSession] = SyncDriver(config)

    def cycle(cookie: str | None, change: bool) -> str | None:
        now = datetime.now(timezone.utc)
        c = driver.begin(RequestReceived(now=now, cookie_header=cookie, path="/"))
        assert c is not None
        if change or cookie is None:
            c.session.update(DATA)
            c.session["n"] = c.session.get("n", 0) + 1
        else:
            _ = c.session.get("user")
        return driver.end(c).set_cookie

    first = cycle(None, True)
    assert first is not None
    cookie = first.split(";", 1)[0]
    return {
        "new visitor": lambda: cycle(None, True),
        "returning, unchanged": lambda: cycle(cookie, False),
        "returning, changed": lambda: cycle(cookie, True),
    }


def asgi_runner(middleware: Any) -> Callable[[str | None, bool], list[tuple[bytes, bytes]]]:
    """Drive one ASGI middleware in-process: one http request, no sockets."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        session = scope["session"]
        if scope["change"] or not session:
            session.update(DATA)
            session["n"] = session.get("n", 0) + 1
        else:
            _ = session.get("user")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    wrapped = middleware(app)
    loop = asyncio.new_event_loop()

    def run(cookie: str | None, change: bool) -> list[tuple[bytes, bytes]]:
        headers = [(b"cookie", cookie.encode())] if cookie else []
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/",
            "root_path": "",
            "scheme": "http",
            "headers": headers,
            "query_string": b"",
            "change": change,
        }
        sent: list[Any] = []

        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        coro: Awaitable[None] = wrapped(scope, receive, send)
        loop.run_until_complete(coro)
        return list(sent[0].get("headers", []))

    return run


def asgi_cases(middleware: Any) -> dict[str, Callable[[], Any]]:
    run = asgi_runner(middleware)
    set_cookie = next(v for k, v in run(None, True) if k == b"set-cookie").decode()
    cookie = set_cookie.split(";", 1)[0]
    return {
        "new visitor": lambda: run(None, True),
        "returning, unchanged": lambda: run(cookie, False),
        "returning, changed": lambda: run(cookie, True),
    }


def bare_asgi(app: Any) -> Any:
    """No sessions: the app gets a plain dict; what the runner itself costs per request."""

    async def bare(scope: Any, receive: Any, send: Any) -> None:
        await app({**scope, "session": {"n": 0}}, receive, send)

    return bare


def bare_cases() -> dict[str, Callable[[], Any]]:
    run = asgi_runner(bare_asgi)
    cookie = "connect.sid=" + "x" * 80
    return {
        "new visitor": lambda: run(None, True),
        "returning, unchanged": lambda: run(cookie, False),
        "returning, changed": lambda: run(cookie, True),
    }


def main() -> None:
    store = MemoryStore()
    contenders = {
        CORE: core_cases(),
        ASGI: asgi_cases(
            lambda app: CoatcheckSessions(
                app, secret=SECRET, store=store, resave=False, save_uninitialized=True
            )
        ),
        "starlette SessionMiddleware (signed cookie)": asgi_cases(
            lambda app: StarletteSessions(app, secret_key=SECRET)
        ),
        BARE: bare_cases(),
    }
    peer_label = "starlette SessionMiddleware (signed cookie)"
    cases = list(contenders[peer_label])
    rows: dict[str, dict[str, float]] = {label: {} for label in contenders}
    for case in cases:
        measured = interleaved_us({label: fns[case] for label, fns in contenders.items()})
        for label, value in measured.items():
            rows[label][case] = value
    peer = rows[peer_label]
    clock = "wall" if CLOCK is time.perf_counter else "CPU"
    print(f"\n{clock} µs per request cycle (median of {ROUNDS} interleaved rounds x {LOOPS});")
    print("ratio = this / starlette's cookie session (lower is faster)")
    print(f"{'':46}" + "".join(f"{c:>28}" for c in cases))
    for label, result in rows.items():
        cells = "".join(f"{result[c]:>16.1f} ({result[c] / peer[c]:>4.2f}x)   " for c in cases)
        print(f"{label:46}{cells}")
    # The in-process runner (an event loop turn, the messages) costs the same with or without
    # sessions: the middleware's own cost is what it adds over the bare app.
    bare, asgi, core = rows[BARE], rows[ASGI], rows[CORE]
    print(f"\n{'asgi middleware over the bare app, / core':46}", end="")
    print(
        "".join(
            f"{asgi[c] - bare[c]:>16.1f} ({(asgi[c] - bare[c]) / core[c]:>4.2f}x)   " for c in cases
        )
    )


if __name__ == "__main__":
    main()
