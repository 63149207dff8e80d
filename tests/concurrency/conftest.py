"""The real Redis and PostgreSQL servers of the store tests (``tests/stores/conftest.py``):
the same fixtures, so a missing server is a skip locally and a failure in CI."""

from tests.stores.conftest import postgres_conninfo, redis_url

__all__ = ["postgres_conninfo", "redis_url"]
