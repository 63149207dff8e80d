"""Store latency (get / set / touch) and requests per second through the ASGI adapter, for
MemoryStore, SQLiteStore, RedisStore and PostgresStore, measured side by side in one run against
real servers started on 127.0.0.1 (``tests/servers.py``). Run with ``nox -s bench``. Not a test.
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, MutableMapping
from contextlib import ExitStack, contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coatcheck.stores import (
    AsyncPostgresStore,
    AsyncRedisStore,
    MemoryStore,
    PostgresStore,
    RedisStore,
    SQLiteStore,
)
from coatcheck_asgi import SessionMiddleware
from tests.servers import postgres_server, redis_server

OPS = 2000
REQUESTS = 2000
CONCURRENCY = 16


def per_op_us(fn: Callable[[int], Any], n: int = OPS) -> float:
    """Median µs of ``fn(i)`` over ``n`` calls, in 5 rounds."""
    rounds = []
    for r in range(5):
        start = time.perf_counter()
        for i in range(n // 5):
            fn(r * n + i)
        rounds.append((time.perf_counter() - start) / (n // 5) * 1e6)
    return statistics.median(rounds)


def latency(store: Any) -> dict[str, float]:
    now = datetime.now(timezone.utc)
    expires = (now + timedelta(hours=1)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    cookie = {"originalMaxAge": 3_600_000, "expires": expires, "httpOnly": True, "path": "/"}
    record = {"cookie": cookie, "user": {"id": 1, "name": "Ada"}, "cart": [1, 2, 3]}
    for i in range(OPS * 5):
        store.set(f"bench-{i}", record)
    return {
        "set": per_op_us(lambda i: store.set(f"bench-{i % OPS}", record)),
        "get": per_op_us(lambda i: store.get(f"bench-{i % OPS}")),
        "touch": per_op_us(lambda i: store.touch(f"bench-{i % OPS}", record)),
    }


async def asgi_rps(store: Any, concurrency: int) -> float:
    """Requests/s of a returning visitor whose session changes, in-process (no sockets)."""

    async def app(scope: Any, receive: Any, send: Any) -> None:
        session = scope["session"]
        session["n"] = session.get("n", 0) + 1
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    wrapped = SessionMiddleware(
        app, secret="bench", store=store, resave=False, save_uninitialized=False
    )

    async def request(cookie: bytes | None) -> bytes | None:
        headers = [(b"cookie", cookie)] if cookie else []
        scope = {
            "type": "http",
            "method": "GET",
            "path": "/",
            "root_path": "",
            "scheme": "http",
            "headers": headers,
            "query_string": b"",
            "http_version": "1.1",
        }
        start: dict[str, Any] = {}

        async def receive() -> MutableMapping[str, Any]:
            return {"type": "http.request", "body": b""}

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)

        await wrapped(scope, receive, send)
        for key, value in start.get("headers", []):
            if key == b"set-cookie":
                return bytes(value).split(b";", 1)[0]
        return None

    cookies = [await request(None) for _ in range(concurrency)]

    async def visitor(cookie: bytes | None, count: int) -> None:
        for _ in range(count):
            await request(cookie)

    started = time.perf_counter()
    await asyncio.gather(*(visitor(c, REQUESTS // concurrency) for c in cookies))
    return REQUESTS / (time.perf_counter() - started)


@contextmanager
def stores() -> Iterator[dict[str, tuple[Any, Callable[[], Any]]]]:
    """name -> (sync store for latency, factory of the store the ASGI adapter uses)."""
    with ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
        redis_url = stack.enter_context(redis_server())
        pg_url = stack.enter_context(postgres_server())
        sqlite = SQLiteStore(tmp / "bench.sqlite3")
        redis_store = RedisStore.from_url(redis_url)
        pg_store = PostgresStore(pg_url, create_table=True)
        stack.callback(sqlite.close)
        stack.callback(redis_store.close)
        stack.callback(pg_store.close)
        yield {
            "MemoryStore": (MemoryStore(), MemoryStore),
            "SQLiteStore": (sqlite, lambda: sqlite),
            "RedisStore (async for ASGI)": (
                redis_store,
                lambda: AsyncRedisStore.from_url(redis_url),
            ),
            "PostgresStore (async for ASGI)": (
                pg_store,
                lambda: AsyncPostgresStore(pg_url, create_table=True),
            ),
        }


def main() -> None:
    rows = {}
    with stores() as named:
        for name, (sync_store, asgi_store) in named.items():
            lat = latency(sync_store)
            rps = {}
            for conc in (1, CONCURRENCY):
                store = asgi_store()

                async def measure(store: Any = store, conc: int = conc) -> float:
                    try:
                        return await asgi_rps(store, conc)
                    finally:
                        if hasattr(store, "aclose"):
                            await store.aclose()

                rps[conc] = asyncio.run(measure())
            rows[name] = (lat, rps)
    base = rows["MemoryStore"][1]
    print(f"\nstore latency (µs/op, median) and ASGI requests/s (in-process, {REQUESTS} requests)")
    print(
        f"{'store':32}{'get':>9}{'set':>9}{'touch':>9}{'req/s c=1':>12}{'vs mem':>8}"
        f"{f'req/s c={CONCURRENCY}':>13}{'vs mem':>8}"
    )
    for name, (lat, rps) in rows.items():
        print(
            f"{name:32}{lat['get']:>9.1f}{lat['set']:>9.1f}{lat['touch']:>9.1f}"
            f"{rps[1]:>12.0f}{rps[1] / base[1]:>7.2f}x"
            f"{rps[CONCURRENCY]:>13.0f}{rps[CONCURRENCY] / base[CONCURRENCY]:>7.2f}x"
        )


if __name__ == "__main__":
    main()
