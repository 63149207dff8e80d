"""Soak: one-request visitors through the core into a default ``MemoryStore`` (issue 10.9).

Each visitor is a new browser with no cookie, served once with express's defaults (no
``max_age``, ``save_uninitialized=True``), so each leaves a browser-session record behind. Prints
the entries in the store and the process RSS before and after. Not a test; run it by hand::

    python benchmarks/soak_memory_store.py [visitors]    # default 200000
"""

from __future__ import annotations

import gc
import logging
import resource
import sys
import time
from datetime import datetime, timezone

from coatcheck import RequestReceived, SessionConfig, SyncDriver, SyncSession
from coatcheck.stores import MemoryStore


def rss_mb() -> float:
    """Resident set size now (Linux ``/proc``), else the peak from ``getrusage``."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main(visitors: int) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    store = MemoryStore()
    driver: SyncDriver[SyncSession] = SyncDriver(
        SessionConfig.from_options(
            secret="s" * 32, store=store, resave=False, save_uninitialized=True
        )
    )
    gc.collect()
    before = rss_mb()
    start = time.perf_counter()
    for n in range(visitors):
        request = RequestReceived(now=datetime.now(timezone.utc), path="/", cookie_header=None)
        cycle = driver.begin(request)
        assert cycle is not None
        cycle.session["views"] = 1
        cycle.session["visitor"] = n
        driver.end(cycle)
    elapsed = time.perf_counter() - start
    gc.collect()
    print(
        f"{visitors} one-request visitors in {elapsed:.1f} s: {store.length()} entries; "
        f"RSS {before:.1f} MB -> {rss_mb():.1f} MB"
    )


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
