"""Concurrent requests of one session through real servers (issue 8): coatcheck-asgi under
uvicorn and coatcheck-flask under gunicorn (2 workers x 8 threads), on real Redis and PostgreSQL.

16 clients share one session. With ``"lock"`` every acknowledged increment of one counter
survives; with ``"merge"`` concurrent writers of different keys lose nothing; in both, a logout
racing a slow writing request leaves the session destroyed and the browser without a valid
cookie. ``COATCHECK_CONCURRENCY_TOTAL`` sets the increments per run: 1,000 by default, as in the
issue; 320 (20 per client) when ``CI`` is set, to keep CI short (8 server configurations run,
each with its own uvicorn or gunicorn). ``"none"`` (express: most increments lost) is measured
by ``benchmarks/bench_concurrency.py``, not asserted.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest

from coatcheck import SessionConfig
from coatcheck.stores import MemoryStore, PostgresStore, RedisStore
from tests.concurrency.apps import SECRET
from tests.concurrency.harness import AppServer, destroy_race, increments

TOTAL = int(
    os.environ.get("COATCHECK_CONCURRENCY_TOTAL") or (320 if os.environ.get("CI") else 1000)
)
CLIENTS = 16

pytestmark = pytest.mark.network


@pytest.fixture(
    scope="module",
    params=[
        pytest.param(("asgi", "redis"), marks=pytest.mark.redis, id="asgi-redis"),
        pytest.param(("flask", "redis"), marks=pytest.mark.redis, id="flask-redis"),
        pytest.param(("asgi", "postgres"), marks=pytest.mark.postgres, id="asgi-postgres"),
        pytest.param(("flask", "postgres"), marks=pytest.mark.postgres, id="flask-postgres"),
    ],
)
def stack(request: pytest.FixtureRequest) -> tuple[str, str, str]:
    """(adapter, store kind, store URL): the real server the store fixture started."""
    adapter, kind = request.param
    url = request.getfixturevalue("redis_url" if kind == "redis" else "postgres_conninfo")
    return adapter, kind, url


@pytest.fixture(scope="module", params=["lock", "merge"])
def server(request: pytest.FixtureRequest, stack: tuple[str, str, str]) -> Iterator[AppServer]:
    adapter, _, url = stack
    with AppServer(adapter, url, mode=request.param) as running:  # type: ignore[arg-type]
        yield running


def stored(stack: tuple[str, str, str], server: AppServer, cookie: str) -> Any:
    """What the real store holds now for the session behind ``cookie`` (``name=value``)."""
    config = SessionConfig.from_options(
        secret=SECRET, resave=False, save_uninitialized=False, store=MemoryStore()
    )
    sid = config.session_id_from(cookie.split("=", 1)[1])
    assert sid is not None
    _, kind, url = stack
    store: RedisStore | PostgresStore = (
        RedisStore.from_url(url, prefix=f"{server.prefix}:")
        if kind == "redis"
        else PostgresStore(url, table=server.prefix)
    )
    try:
        return store.get(sid)
    finally:
        store.close()


def test_every_acknowledged_increment_survives(server: AppServer) -> None:
    """``"lock"``: 16 clients on one counter; ``"merge"``: each client on its own key."""
    own_keys = server.mode == "merge"
    result = increments(server.url, clients=CLIENTS, total=TOTAL, own_keys=own_keys)
    assert result.total_acknowledged + result.busy == TOTAL
    assert result.total_acknowledged > 0
    for key, acknowledged in result.acknowledged.items():
        assert result.kept(key) == acknowledged, (key, result)


def test_a_logout_racing_a_slow_write_stays_a_logout(
    server: AppServer, stack: tuple[str, str, str]
) -> None:
    race = destroy_race(server.url)
    assert race.logout_set_cookie is not None
    assert "Expires=Thu, 01 Jan 1970" in race.logout_set_cookie
    if server.mode == "merge":  # type: ignore[attr-defined]
        # the slow request found its session deleted: nothing written, the cookie expired
        assert race.slow_set_cookie is not None
        assert "Expires=Thu, 01 Jan 1970" in race.slow_set_cookie
    assert race.jar is None  # the browser holds no session cookie
    assert race.data_after == {}  # and the server knows nothing of it
    assert stored(stack, server, race.sid_cookie) is None
