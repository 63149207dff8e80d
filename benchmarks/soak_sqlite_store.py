"""Soak: does SQLiteStore stay near its live size with no help? (issue 10.10; not run in CI)

Many one-request visitors, each storing a session with ``max_age`` seconds of life, arriving one
every ``--every`` seconds of fake time, written by ``--threads`` threads at once (each thread
takes pooled connections, as a threaded server does), and nobody calls ``prune()``. Prints
rows kept vs live sessions and the sizes of the database and its WAL.

    python benchmarks/soak_sqlite_store.py                      # 200,000 visitors
    python benchmarks/soak_sqlite_store.py --store OLD.py       # the same against another
                                                                # version of stores/sqlite.py
"""

from __future__ import annotations

import argparse
import importlib.util
import itertools
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from coatcheck.testing import FakeClock, make_record


def load_store_class(source: str | None) -> Any:
    """``SQLiteStore`` from this checkout, or from another version of the module's file."""
    if source is None:
        from coatcheck.stores import SQLiteStore

        return SQLiteStore
    spec = importlib.util.spec_from_file_location("coatcheck.stores._soaked", source)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "coatcheck.stores"
    spec.loader.exec_module(module)
    return module.SQLiteStore


def size(path: Path) -> float:
    return path.stat().st_size / 1e6 if path.exists() else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--visitors", type=int, default=200_000)
    parser.add_argument("--max-age", type=float, default=60.0)
    parser.add_argument("--every", type=float, default=0.01, help="fake seconds between visitors")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--store", help="path of another sqlite.py to soak instead")
    args = parser.parse_args()

    store_class = load_store_class(args.store)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sessions.sqlite3"
        clock = FakeClock()
        store = store_class(path, clock=clock)
        arrivals = itertools.count()
        lock = threading.Lock()
        peak_wal = 0.0

        def visitor_loop() -> None:
            nonlocal peak_wal
            while True:
                with lock:
                    n = next(arrivals)
                    if n >= args.visitors:
                        return
                    clock.advance(args.every)
                    record = make_record(clock(), args.max_age, visitor=n, cart=["x"] * 5)
                sid = f"visitor-{n:07d}"
                store.set(sid, record)
                store.get(sid)
                if n % 5_000 == 0:
                    with lock:
                        peak_wal = max(peak_wal, size(path.with_name(path.name + "-wal")))

        started = time.perf_counter()
        threads = [threading.Thread(target=visitor_loop) for _ in range(args.threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = time.perf_counter() - started
        live = store.length()
        with sqlite3.connect(path) as conn:
            (rows,) = conn.execute("SELECT COUNT(*) FROM sessions").fetchone()
        conn.close()
        wal = path.with_name(path.name + "-wal")
        print(f"store: {args.store or 'this checkout'}")
        print(
            f"{args.visitors:,} visitors, max_age {args.max_age:g} s, one every {args.every:g} s,"
            f" {args.threads} threads, {elapsed:.1f} s"
        )
        print(f"rows {rows:,} for {live:,} live sessions")
        print(f"database {size(path):.1f} MB, WAL {size(wal):.1f} MB (peak seen {peak_wal:.1f} MB)")
        store.close()


if __name__ == "__main__":
    main()
