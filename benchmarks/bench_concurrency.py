"""What each ``concurrency`` mode costs and what it keeps (issue 8). Not a test: figures only.

1. Per-request cost of ``"none"``, ``"merge"`` and ``"lock"`` through the core's ``SyncDriver``
   on MemoryStore and on a real Redis (``tests/servers.py``): a request with a cookie that
   changes the session (read + write) and one that only reads it (read + touch).
2. The 16-client test: 16 clients share one session and send 1,000 ``/incr`` requests to
   coatcheck-asgi under uvicorn and coatcheck-flask under gunicorn (threads), on Redis; how many
   increments each mode keeps, on one counter and on one key per client.

    python benchmarks/bench_concurrency.py [--total 1000] [--json out.json] [--quick]

``run(total=..., quick=...)`` returns the same figures as a dict (for ``nox -s bench``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from coatcheck import RequestReceived, SessionConfig, SyncDriver, SyncSession
from coatcheck.stores import MemoryStore, RedisStore
from tests.concurrency.harness import AppServer, increments
from tests.servers import redis_server

MODES = ("none", "merge", "lock")
SECRET = "bench secret, long enough to sign the cookies with!"


def request_cycle(store: Any, mode: str, *, change: bool) -> Callable[[], None]:
    """One cookie-carrying request cycle (load, app, end) of a stored session, as a call."""
    config = SessionConfig.from_options(
        secret=SECRET, store=store, resave=False, save_uninitialized=False, concurrency=mode
    )
    driver: SyncDriver[SyncSession] = SyncDriver(config)
    now = datetime.now(timezone.utc)
    first = driver.begin(RequestReceived(now=now, cookie_header=None, path="/"))
    assert first is not None
    first.session["n"] = 0
    set_cookie = driver.end(first).set_cookie
    assert set_cookie is not None
    request = RequestReceived(now=now, cookie_header=set_cookie.split(";", 1)[0], path="/")

    def one() -> None:
        cycle = driver.begin(request)
        assert cycle is not None
        if change:
            cycle.session["n"] += 1
        else:
            cycle.session.get("n")
        driver.end(cycle)

    return one


def best_us(calls: dict[str, Callable[[], None]], n: int, rounds: int = 7) -> dict[str, float]:
    """µs per call of each, best of ``rounds`` interleaved rounds (so machine drift and other
    load hit every mode alike; the best round is the least disturbed one)."""
    best = dict.fromkeys(calls, float("inf"))
    for fn in calls.values():  # warm up
        for _ in range(max(n // 20, 1)):
            fn()
    for _ in range(rounds):
        for name, fn in calls.items():
            start = time.perf_counter()
            for _ in range(n):
                fn()
            best[name] = min(best[name], (time.perf_counter() - start) / n * 1e6)
    return best


def costs(redis_url: str, n: int) -> dict[str, dict[str, float]]:
    """{store: {"<mode> write"/"<mode> read": µs}}: the modes interleaved per store."""
    figures: dict[str, dict[str, float]] = {}
    stores: list[tuple[str, Callable[[], Any], int]] = [
        ("MemoryStore", MemoryStore, n),
        ("RedisStore", lambda: RedisStore.from_url(redis_url, prefix="bench-conc:"), n // 10),
    ]
    for name, make, count in stores:
        store = make()
        calls = {
            f"{mode} {kind}": request_cycle(store, mode, change=kind == "write")
            for kind in ("write", "read")
            for mode in MODES
        }
        figures[name] = best_us(calls, count)
    return figures


def kept(redis_url: str, total: int) -> dict[str, dict[str, Any]]:
    """{"<adapter> <mode>": {...}}: what the 16-client run keeps of ``total`` increments."""
    figures: dict[str, dict[str, Any]] = {}
    for adapter in ("asgi", "flask"):
        for mode in MODES:
            with AppServer(adapter, redis_url, mode=mode) as server:
                one_key = increments(server.url, total=total)
                own_keys = increments(server.url, total=total, own_keys=True)
            figures[f"{adapter} {mode}"] = {
                "one counter kept": one_key.kept("n"),
                "one counter acknowledged": one_key.total_acknowledged,
                "own keys kept": own_keys.total_kept,
                "own keys acknowledged": own_keys.total_acknowledged,
                "503s": one_key.busy + own_keys.busy,
                "seconds": round(one_key.seconds + own_keys.seconds, 1),
            }
    return figures


def run(*, total: int = 1000, quick: bool = False) -> dict[str, Any]:
    """Both parts against a private Redis; ``quick`` measures fewer cycles and increments."""
    with redis_server() as url:
        return {
            "per_request_us": costs(url, 300 if quick else 3_000),
            "increments": kept(url, 160 if quick else total),
            "total": 160 if quick else total,
        }


def report(figures: dict[str, Any]) -> str:
    lines = ["## Per-request cost by concurrency mode (µs, best of 7 interleaved rounds)"]
    columns = [f"{mode} {kind}" for kind in ("write", "read") for mode in MODES]
    lines.append("| store | " + " | ".join(columns) + " |")
    lines.append("|---" * (len(columns) + 1) + "|")
    for store, row in figures["per_request_us"].items():
        lines.append(f"| {store} | " + " | ".join(f"{row[c]:.1f}" for c in columns) + " |")
    lines.append("")
    total = figures["total"]
    lines.append(f"## 16 clients, {total} increments of one session (Redis)")
    lines.append("| adapter, mode | one counter kept | own keys kept | 503s | seconds |")
    lines.append("|---|---|---|---|---|")
    for name, row in figures["increments"].items():
        lines.append(
            f"| {name} | {row['one counter kept']} / {row['one counter acknowledged']} "
            f"| {row['own keys kept']} / {row['own keys acknowledged']} "
            f"| {row['503s']} | {row['seconds']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--total", type=int, default=1000, help="increments per 16-client run")
    parser.add_argument("--quick", action="store_true", help="fewer cycles and increments")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    figures = run(total=args.total, quick=args.quick)
    print(report(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
