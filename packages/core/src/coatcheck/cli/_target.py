"""A store opened from its URL (``sqlite:///``, ``redis://``, ``redis+cluster://``,
``postgresql://``), plus the raw scans the CLI needs that no store method offers: every live
session with its size and the store's own expiry (``stats``, ``list``), and lookups by id prefix
(``show``, ``revoke``) without a full scan where the store allows it.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from .._errors import StoreError
from ._exits import EXIT_STORE, EXIT_UNSUPPORTED, EXIT_USAGE, Failure
from ._output import Progress

#: Rows fetched (or keys read) per round trip of a scan.
BATCH = 500


@dataclass(frozen=True)
class Row:
    """One stored session as a scan sees it: id, raw JSON text, the store's own expiry."""

    sid: str
    text: str
    expires: datetime | None

    @property
    def size(self) -> int:
        return len(self.text.encode("utf-8", "surrogatepass"))


class Target:
    """A store opened from a URL, plus the raw scans the CLI needs (stats over everything)."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.url: str = args.store
        self.user_key: str | None = args.user_key
        self.now = datetime.now(timezone.utc)
        scheme = self.url.split(":", 1)[0].lower()
        self.kind = {
            "sqlite": "sqlite",
            "redis": "redis",
            "rediss": "redis",
            "redis+cluster": "redis",
            "rediss+cluster": "redis",
            "postgres": "postgres",
            "postgresql": "postgres",
        }.get(scheme)
        if self.kind is None:
            raise Failure(EXIT_USAGE, f"unknown store URL scheme {scheme!r} (see --help)")
        self.store: Any
        if self.kind == "sqlite":
            self._open_sqlite(args.table or "sessions")
        elif self.kind == "redis":
            self._open_redis(scheme, args.prefix)
        else:
            self._open_postgres(args.table or "session", args.schema)
        if self.user_key is not None:
            try:
                self.store.index_users(self.user_key)
            except BaseException:
                self.close()
                raise

    # opening
    def _open_sqlite(self, table: str) -> None:
        from ..stores.sqlite import SQLiteStore

        if not self.url.startswith("sqlite:///"):
            raise Failure(EXIT_USAGE, "an SQLite URL is sqlite:///relative/path or sqlite:////abs")
        self.path = self.url[len("sqlite:///") :]
        if not os.path.isfile(self.path):
            raise Failure(EXIT_STORE, f"no SQLite database at {self.path}")
        self.table = table
        self.store = SQLiteStore(self.path, table=table)

    def _open_redis(self, scheme: str, prefix: str | None) -> None:
        try:
            from ..stores.redis import RedisStore
        except ImportError as exc:
            raise Failure(EXIT_UNSUPPORTED, f"install coatcheck[redis] ({exc})") from exc
        cluster = scheme.endswith("+cluster")
        url = scheme.removesuffix("+cluster") + self.url[len(scheme) :]
        self.store = RedisStore.from_url(url, prefix=prefix or "sess:", cluster=cluster)
        self.cluster = cluster

    def _open_postgres(self, table: str, schema: str | None) -> None:
        try:
            from ..stores.postgres import PostgresStore
        except ImportError as exc:
            raise Failure(EXIT_UNSUPPORTED, f"install coatcheck[postgres] ({exc})") from exc
        self.table, self.schema = table, schema
        self.store = PostgresStore(self.url, table=table, schema=schema)

    def close(self) -> None:
        self.store.close()

    # scanning: every live session, with its size and the store's own expiry
    def scan(self, progress: Progress) -> Iterator[Row]:
        if self.kind == "sqlite":
            yield from self._scan_sqlite(progress)
        elif self.kind == "redis":
            yield from self._scan_redis(progress)
        else:
            yield from self._scan_postgres(progress)

    def _scan_sqlite(
        self, progress: Progress, where: str = "", params: tuple[Any, ...] = ()
    ) -> Iterator[Row]:
        now_ms = (self.now - datetime(1970, 1, 1, tzinfo=timezone.utc)) / timedelta(milliseconds=1)
        live = f"(expire IS NULL OR expire > ?){where}"
        conn = sqlite3.connect(self.path)
        try:
            (total,) = conn.execute(
                f'SELECT count(*) FROM "{self.table}" WHERE {live}', (now_ms, *params)
            ).fetchone()
            cursor = conn.execute(
                f'SELECT sid, sess, expire FROM "{self.table}" WHERE {live}', (now_ms, *params)
            )
            while batch := cursor.fetchmany(BATCH):
                progress.advance(len(batch), total)
                for sid, text, expire in batch:
                    when = None if expire is None else _from_ms(expire)
                    yield Row(sid, text, when)
        except sqlite3.Error as exc:
            raise StoreError("scan", None, exc) from exc
        finally:
            conn.close()

    def _scan_redis(self, progress: Progress, pattern: str | None = None) -> Iterator[Row]:
        from redis.cluster import RedisCluster
        from redis.exceptions import RedisClusterException, RedisError

        from ..stores.redis import scan_pattern

        client = self.store.client
        prefix = self.store.prefix
        try:
            total = None
            if pattern is None:
                # redis-py sends DBSIZE to one node of a cluster: count every primary's keys
                if isinstance(client, RedisCluster):
                    total = int(client.dbsize(target_nodes=RedisCluster.PRIMARIES))
                else:
                    total = int(client.dbsize())
            keys = client.scan_iter(match=pattern or scan_pattern(prefix), count=1000)
            batch: list[Any] = []
            for key in keys:
                batch.append(key)
                if len(batch) >= BATCH:
                    yield from self._redis_batch(client, batch, progress, total)
                    batch = []
            if batch:
                yield from self._redis_batch(client, batch, progress, total)
        except (RedisError, RedisClusterException) as exc:
            raise StoreError("scan", None, exc) from exc

    def _redis_batch(
        self, client: Any, keys: list[Any], progress: Progress, total: int | None
    ) -> Iterator[Row]:
        pipe = client.pipeline(transaction=False)
        for key in keys:
            pipe.get(key)
            pipe.pttl(key)
        answers = pipe.execute()
        progress.advance(len(keys), total)
        prefix = len(self.store.prefix.encode())
        for key, raw, pttl in zip(keys, answers[::2], answers[1::2]):
            if not isinstance(raw, bytes):
                continue
            when = self.now + timedelta(milliseconds=pttl) if pttl >= 0 else None
            sid = key[prefix:].decode("utf-8", "surrogateescape")
            yield Row(sid, raw.decode("utf-8", "surrogateescape"), when)

    def _scan_postgres(
        self, progress: Progress, where: Any = None, params: tuple[Any, ...] = ()
    ) -> Iterator[Row]:
        import psycopg
        from psycopg import sql

        table = (
            sql.Identifier(self.schema, self.table) if self.schema else sql.Identifier(self.table)
        )
        now = self.now.replace(tzinfo=None)
        extra = where if where is not None else sql.SQL("")
        try:
            with psycopg.connect(self.url) as conn:
                count = sql.SQL('SELECT count(*) FROM {} WHERE "expire" > %s{}').format(
                    table, extra
                )
                row = conn.execute(count, (now, *params)).fetchone()
                total = int(row[0]) if row else 0
                select = sql.SQL(
                    'SELECT "sid", "sess"::text, "expire" FROM {} WHERE "expire" > %s{}'
                )
                with conn.cursor(name="coatcheck_cli_scan") as cursor:
                    cursor.execute(select.format(table, extra), (now, *params))
                    while batch := cursor.fetchmany(BATCH):
                        progress.advance(len(batch), total)
                        for sid, text, expire in batch:
                            yield Row(sid, text, expire.replace(tzinfo=timezone.utc))
        except psycopg.Error as exc:
            raise StoreError("scan", None, exc) from exc

    # finding by id prefix, without a full scan where the store allows it
    def by_prefix(self, prefix: str) -> list[Row]:
        quiet = Progress(False, "")
        if self.kind == "sqlite":
            return list(
                self._scan_sqlite(quiet, " AND substr(sid, 1, ?) = ?", (len(prefix), prefix))
            )
        if self.kind == "redis":
            from ..stores.redis import scan_pattern

            return list(self._scan_redis(quiet, scan_pattern(self.store.prefix + prefix)))
        from psycopg import sql

        where = sql.SQL(' AND left("sid", %s) = %s')
        return list(self._scan_postgres(quiet, where, (len(prefix), prefix)))

    # the user index
    def sessions_of(self, user: str) -> dict[str, dict[str, Any]]:
        if self.user_key is None:
            raise Failure(
                EXIT_USAGE, "--user needs --user-key (the session key holding the user id)"
            )
        found: dict[str, dict[str, Any]] = self.store.sessions_of(user)
        return found


def _from_ms(value: float) -> datetime:
    return datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=value)
