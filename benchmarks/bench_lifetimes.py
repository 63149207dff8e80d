"""What a returning visitor whose session did not change costs, with and without ``touch_after``
(and with ``max_lifetime`` + ``id_at_rest="hmac"``), on Redis and PostgreSQL: store round trips
per request, counted on the wire, and wall time per request through the core's ``SyncDriver``.

Round trips are counted, not inferred: Redis with ``MONITOR`` (commands a client sent; the
commands a Lua script runs are left out, they are not round trips), PostgreSQL with a psycopg
connection class that counts statements (the store runs in autocommit: one statement, one round
trip). Real servers on 127.0.0.1 (``tests/servers.py``). Run with ``nox -s bench``. Not a test:
it never passes or fails.
"""

from __future__ import annotations

import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import psycopg
import redis
from psycopg_pool import ConnectionPool

from coatcheck import RequestReceived, SessionConfig, SyncDriver, SyncSession
from coatcheck.stores import PostgresStore, RedisStore
from tests.servers import postgres_server, redis_server

VISITORS = 50  # returning visitors, each with its own session
ROUNDS = 3  # interleaved rounds per variant (medians survive machine drift)
#: Each visitor's request i is made at start + i * STEP: 20 requests within a minute
#: (touch_after=60 skips nearly every touch), with the session's max_age an hour.
STEP = timedelta(seconds=3)
REQUESTS_PER_VISITOR = 20

VARIANTS: dict[str, dict[str, Any]] = {
    "express (touch every request)": {},
    "touch_after=60": {"touch_after": 60},
    "touch_after=60, max_lifetime, hmac": {
        "touch_after": 60,
        "max_lifetime": 8 * 3600,
        "id_at_rest": "hmac",
    },
}


class CountingConnection(psycopg.Connection[Any]):
    """Counts every statement sent (each is one round trip in autocommit)."""

    statements = 0
    _lock = threading.Lock()

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        with CountingConnection._lock:
            CountingConnection.statements += 1
        return super().execute(*args, **kwargs)


class Monitor:
    """Counts the commands Redis receives from clients (``MONITOR``); the commands a Lua script
    runs are not round trips and are left out, as are this class's own markers."""

    def __init__(self, url: str) -> None:
        self._monitored = redis.Redis.from_url(url)
        self._client = redis.Redis.from_url(url)
        self.count = 0
        self._marks: dict[str, int] = {}
        self._seen = threading.Condition()
        started = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(started,), daemon=True)
        self._thread.start()
        started.wait(5)

    def _run(self, started: threading.Event) -> None:
        with self._monitored.monitor() as monitor:  # type: ignore[no-untyped-call]
            started.set()
            for command in monitor.listen():
                text = str(command["command"])
                if text.startswith("ECHO coatcheck-bench-"):
                    with self._seen:
                        self._marks[text.split(" ", 1)[1]] = self.count
                        self._seen.notify_all()
                    if text.endswith("-stop"):
                        return
                elif command.get("client_type") != "lua":
                    self.count += 1

    def _mark(self, name: str) -> int:
        self._client.echo(name)
        with self._seen:
            self._seen.wait_for(lambda: name in self._marks, timeout=10)
            return self._marks.pop(name)

    def sync(self) -> int:
        """Commands counted up to now (everything sent before this call has been seen)."""
        return self._mark(f"coatcheck-bench-{time.perf_counter_ns()}")

    def close(self) -> None:
        self._mark("coatcheck-bench-stop")
        self._thread.join(5)
        self._client.close()
        self._monitored.close()


def config_for(store: Any, **options: Any) -> SessionConfig:
    return SessionConfig.from_options(
        secret=["bench secret, current", "bench secret, previous"],
        store=store,
        resave=False,
        save_uninitialized=False,
        cookie={"max_age": 3600},
        **options,
    )


def request(now: datetime, cookie: str | None) -> RequestReceived:
    return RequestReceived(now=now, cookie_header=cookie, path="/")


def visitors(driver: SyncDriver[SyncSession], start: datetime) -> list[str]:
    """Log ``VISITORS`` visitors in (a write each); their Cookie headers."""
    cookies = []
    for n in range(VISITORS):
        cycle = driver.begin(request(start, None))
        assert cycle is not None
        cycle.session["user"] = {"id": n, "name": "Ada"}
        decision = driver.end(cycle, start)
        assert decision.set_cookie is not None
        cookies.append(decision.set_cookie.split(";", 1)[0])
    return cookies


def returning(driver: SyncDriver[SyncSession], cookies: list[str], start: datetime) -> float:
    """Every visitor comes back ``REQUESTS_PER_VISITOR`` times, reading only; µs/request."""
    elapsed = 0.0
    for i in range(1, REQUESTS_PER_VISITOR + 1):
        now = start + i * STEP
        for cookie in cookies:
            t0 = time.perf_counter()
            cycle = driver.begin(request(now, cookie))
            assert cycle is not None
            dict(cycle.session)
            driver.end(cycle, now)
            elapsed += time.perf_counter() - t0
    return elapsed / (len(cookies) * REQUESTS_PER_VISITOR) * 1e6


def measure(store: Any, count: Callable[[], int]) -> dict[str, tuple[float, float]]:
    """Per variant: (round trips per returning request, median µs per returning request)."""
    trips: dict[str, list[float]] = {name: [] for name in VARIANTS}
    micros: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for round_ in range(ROUNDS):
        for name, options in VARIANTS.items():  # interleaved: drift hits every variant alike
            driver: SyncDriver[SyncSession] = SyncDriver(config_for(store, **options))
            start = datetime.now(timezone.utc) + timedelta(seconds=round_)
            cookies = visitors(driver, start)
            before = count()
            micros[name].append(returning(driver, cookies, start))
            trips[name].append((count() - before) / (VISITORS * REQUESTS_PER_VISITOR))
    return {
        name: (statistics.median(trips[name]), statistics.median(micros[name])) for name in VARIANTS
    }


@contextmanager
def redis_store() -> Iterator[tuple[Any, Callable[[], int]]]:
    with redis_server() as url:
        store = RedisStore.from_url(url)
        monitor = Monitor(url)
        try:
            yield store, monitor.sync
        finally:
            monitor.close()
            store.clear()
            store.close()


@contextmanager
def postgres_store() -> Iterator[tuple[Any, Callable[[], int]]]:
    with postgres_server() as conninfo:
        pool: ConnectionPool[Any] = ConnectionPool(
            conninfo,
            connection_class=CountingConnection,
            kwargs={"autocommit": True},
            min_size=1,
            max_size=2,
            open=True,
        )
        store = PostgresStore(pool, create_table=True)
        store.ensure_table()
        try:
            yield store, lambda: CountingConnection.statements
        finally:
            pool.close()


def main() -> None:
    print(
        f"bench_lifetimes: a returning visitor whose session did not change "
        f"({VISITORS} visitors x {REQUESTS_PER_VISITOR} requests, {STEP.seconds} s apart, "
        f"max_age 1 h; median of {ROUNDS} interleaved rounds)"
    )
    print(f"{'store':<12} {'variant':<38} {'round trips/request':>20} {'us/request':>11}")
    for label, open_store in (("Redis", redis_store), ("PostgreSQL", postgres_store)):
        with open_store() as (store, count):
            for name, (trips, us) in measure(store, count).items():
                print(f"{label:<12} {name:<38} {trips:>20.2f} {us:>11.0f}")


if __name__ == "__main__":
    main()
