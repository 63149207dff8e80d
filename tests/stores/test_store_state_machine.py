"""The shipped stores against ``MemoryStore`` (the model) under random operations and clock
advances (issue 10.17): ``coatcheck.testing.stateful.store_state_machine``. SQLite runs the
most examples (in-process, fake clock); Redis and PostgreSQL a modest number, so CI stays fast.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from coatcheck.stores import MemoryStore, SQLiteStore
from coatcheck.testing import FakeClock
from coatcheck.testing.stateful import store_state_machine


def _settings(examples: int, steps: int) -> settings:
    return settings(
        max_examples=examples,
        stateful_step_count=steps,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


def test_sqlite_agrees_with_memory_store() -> None:
    machine = store_state_machine(
        lambda clock: SQLiteStore(":memory:", clock=clock),
        touch_updates_stored_cookie=False,  # touch: a new expiry, the JSON as it is
        teardown=lambda store: store.close(),
    )
    run_state_machine_as_test(machine, settings=_settings(60, 30))


def test_memory_store_with_a_cap_agrees_below_it() -> None:
    """The machine itself: a capped MemoryStore never reaching its cap is the model."""
    machine = store_state_machine(lambda clock: MemoryStore(clock=clock, max_sessions=10))
    run_state_machine_as_test(machine, settings=_settings(30, 30))


@pytest.mark.redis
def test_redis_agrees_with_memory_store(redis_url: str) -> None:
    from coatcheck.stores import RedisStore

    def make(clock: FakeClock) -> Any:
        return RedisStore.from_url(redis_url, prefix=f"sm:{uuid.uuid4().hex[:12]}:", clock=clock)

    def teardown(store: Any) -> None:
        store.clear()
        store.close()

    machine = store_state_machine(
        make, real_time=True, touch_updates_stored_cookie=False, teardown=teardown
    )
    run_state_machine_as_test(machine, settings=_settings(15, 20))


@pytest.mark.postgres
def test_postgres_agrees_with_memory_store(postgres_conninfo: str) -> None:
    import psycopg
    from psycopg import sql

    from coatcheck.stores import PostgresStore

    tables: dict[int, str] = {}

    def make(clock: FakeClock) -> Any:
        # A table (and lock table) of each example's own: ``clear()`` leaves locks alone (a
        # lock is not a session), so a shared table would carry one example's held locks
        # into the next (the model starts with none).
        table = f"sm_{uuid.uuid4().hex[:12]}"
        store = PostgresStore(postgres_conninfo, table=table, create_table=True, clock=clock)
        tables[id(store)] = table
        return store

    def teardown(store: Any) -> None:
        store.close()
        table = tables.pop(id(store))
        with psycopg.connect(postgres_conninfo, autocommit=True) as conn:
            for name in (table, f"{table}_lock"):
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(name)))

    machine = store_state_machine(make, touch_updates_stored_cookie=False, teardown=teardown)
    run_state_machine_as_test(machine, settings=_settings(15, 20))
