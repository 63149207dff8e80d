"""Inline vs worker-thread SQLiteStore calls from asyncio, and how long an inline call can
block the event loop when other processes write to the same file.

    python benchmarks/sqlite_inline.py [--ops 20000] [--writers 3]
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import statistics
import tempfile
import time
from pathlib import Path

from coatcheck.stores import SQLiteStore
from coatcheck.testing import FakeClock, make_record


def _writer(path: str, stop: multiprocessing.synchronize.Event, n: int) -> None:
    store = SQLiteStore(path)
    clock = FakeClock()
    record = make_record(clock(), 3600, user="other", n=n)
    i = 0
    while not stop.is_set():
        store.set(f"w{n}-{i % 1000}", record)
        i += 1
    store.close()


def _pcts(samples: list[float]) -> str:
    samples = sorted(samples)
    q = statistics.quantiles(samples, n=1000)
    return (
        f"median {statistics.median(samples):7.1f} µs  p99 {q[989]:8.1f} µs  "
        f"p99.9 {q[998]:8.1f} µs  max {samples[-1]:9.1f} µs"
    )


async def _measure(store: SQLiteStore, ops: int, inline: bool) -> tuple[list[float], list[float]]:
    clock = FakeClock()
    record = make_record(clock(), 3600, user="bob", cart=[1, 2, 3])
    gets: list[float] = []
    sets: list[float] = []
    for i in range(ops):
        sid = f"s{i % 500}"
        t0 = time.perf_counter()
        if inline:
            store.set(sid, record)
        else:
            await asyncio.to_thread(store.set, sid, record)
        t1 = time.perf_counter()
        if inline:
            store.get(sid)
        else:
            await asyncio.to_thread(store.get, sid)
        t2 = time.perf_counter()
        sets.append((t1 - t0) * 1e6)
        gets.append((t2 - t1) * 1e6)
    return gets, sets


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=20_000)
    parser.add_argument("--writers", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "sessions.sqlite3")
        store = SQLiteStore(path)
        for inline in (True, False):
            gets, sets = asyncio.run(_measure(store, args.ops, inline))
            how = "inline    " if inline else "to_thread "
            print(f"{how} get: {_pcts(gets)}")
            print(f"{how} set: {_pcts(sets)}")
        stop = multiprocessing.Event()
        procs = [
            multiprocessing.Process(target=_writer, args=(path, stop, n))
            for n in range(args.writers)
        ]
        for proc in procs:
            proc.start()
        time.sleep(0.5)
        try:
            gets, sets = asyncio.run(_measure(store, args.ops, True))
        finally:
            stop.set()
            for proc in procs:
                proc.join()
        print(f"inline with {args.writers} writer processes:")
        print(f"           get: {_pcts(gets)}")
        print(f"           set: {_pcts(sets)}")
        store.close()


if __name__ == "__main__":
    main()
