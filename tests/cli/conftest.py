"""The CLI tests use the store tests' real servers (Redis, a Redis Cluster, PostgreSQL)."""

from tests.stores.conftest import (  # noqa: F401  (fixtures, registered by importing them)
    pg_table,
    postgres_conninfo,
    redis_cluster_nodes,
    redis_url,
)
