"""``coatcheck``: the operator's command line, pointed at a store by URL.

    coatcheck --store sqlite:///sessions.sqlite3 stats
    coatcheck --store redis://localhost:6379/0 --user-key user list --user ada
    coatcheck --store postgresql://app@db/app show Xk3v9Q
    coatcheck --store redis+cluster://node1:7000 revoke --user ada
    coatcheck --store sqlite:///sessions.sqlite3 prune

Tables for people, ``--json`` for scripts. Session ids are bearer credentials, so they are
shown abbreviated (``Xk3v9Q…``) unless ``--show-ids``; a prefix is enough to ``show`` or
``revoke`` one. Long scans draw a progress bar on stderr when it is a terminal (or with
``--progress``). Only the standard library's argparse; the store drivers come from the
``redis`` / ``postgres`` extras.

Exit codes (``EXIT_*``): 0 done; 1 nothing matched (an unknown id prefix); 2 usage error;
3 the id prefix is ambiguous; 4 the store failed or is unreachable; 5 the store cannot do
that (no user index, ...); 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, TextIO

from . import __version__
from ._errors import CoatcheckError, ConfigError, StoreError, sid_prefix
from .stores._codec import decode_record, expires_at, parse_expires, to_json
from .stores._users import check_user, record_user

EXIT_OK = 0
EXIT_NOT_FOUND = 1
EXIT_USAGE = 2
EXIT_AMBIGUOUS = 3
EXIT_STORE = 4
EXIT_UNSUPPORTED = 5
EXIT_INTERRUPTED = 130

#: Expiry buckets of ``stats``: (label, upper bound in seconds).
BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1 hour", 3600.0),
    ("< 1 day", 86400.0),
    ("< 7 days", 7 * 86400.0),
    ("< 30 days", 30 * 86400.0),
    (">= 30 days", math.inf),
)
NO_EXPIRY = "no expiry"
BATCH = 500


class Failure(Exception):
    """A command could not do its job; ``code`` is the exit code."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Row:
    """One stored session as a scan sees it: id, raw JSON text, the store's own expiry."""

    sid: str
    text: str
    expires: datetime | None

    @property
    def size(self) -> int:
        return len(self.text.encode("utf-8", "surrogatepass"))


# -- progress -----------------------------------------------------------------------------------


class Progress:
    """A one-line progress bar on stderr, redrawn at most ten times a second."""

    def __init__(self, enabled: bool, label: str, stream: TextIO | None = None) -> None:
        self.enabled = enabled
        self.label = label
        self.stream = stream or sys.stderr
        self.done = 0
        self.total: int | None = None
        self._drawn = 0.0
        self._shown = -1

    def advance(self, count: int = 1, total: int | None = None) -> None:
        self.done += count
        if total is not None:
            self.total = total
        now = time.monotonic()
        if self.enabled and now - self._drawn >= 0.1:
            self._drawn = now
            self._draw()

    def _draw(self) -> None:
        self._shown = self.done
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(share * 30)
            line = f"{self.label} [{bar:<30}] {share:4.0%} {self.done}/{self.total}"
        else:
            line = f"{self.label} {self.done}"
        self.stream.write("\r" + line)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.done:
            if self._shown != self.done:
                self._draw()
            self.stream.write("\n")
            self.stream.flush()


# -- stores by URL --------------------------------------------------------------------------------


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
        from .stores.sqlite import SQLiteStore

        if not self.url.startswith("sqlite:///"):
            raise Failure(EXIT_USAGE, "an SQLite URL is sqlite:///relative/path or sqlite:////abs")
        self.path = self.url[len("sqlite:///") :]
        if not os.path.isfile(self.path):
            raise Failure(EXIT_STORE, f"no SQLite database at {self.path}")
        self.table = table
        self.store = SQLiteStore(self.path, table=table)

    def _open_redis(self, scheme: str, prefix: str | None) -> None:
        try:
            from .stores.redis import RedisStore
        except ImportError as exc:
            raise Failure(EXIT_UNSUPPORTED, f"install coatcheck[redis] ({exc})") from exc
        cluster = scheme.endswith("+cluster")
        url = scheme.removesuffix("+cluster") + self.url[len(scheme) :]
        self.store = RedisStore.from_url(url, prefix=prefix or "sess:", cluster=cluster)
        self.cluster = cluster

    def _open_postgres(self, table: str, schema: str | None) -> None:
        try:
            from .stores.postgres import PostgresStore
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
        from redis.exceptions import RedisClusterException, RedisError

        from .stores.redis import scan_pattern

        client = self.store.client
        prefix = self.store.prefix
        try:
            total = int(client.dbsize()) if pattern is None else None
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
            from .stores.redis import scan_pattern

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


# -- output -------------------------------------------------------------------------------------


def duration(seconds: float | None) -> str:
    """``3d 4h``, ``59m 12s``: two units, for people."""
    if seconds is None:
        return "-"
    if seconds <= 0:
        return "expired"
    total = int(seconds)
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        if total >= size or (unit == "s" and not parts):
            parts.append(f"{total // size}{unit}")
            total %= size
    return " ".join(parts[:2])


def size_text(size: float) -> str:
    if size < 1024:
        return f"{int(size)} B"
    return f"{size / 1024:.1f} KiB"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], out: TextIO) -> None:
    """Left-aligned columns separated by two spaces; numbers are pre-formatted by callers."""
    widths = [len(h) for h in headers]
    for row in rows:
        widths = [max(w, len(cell)) for w, cell in zip(widths, row)]
    for row in (headers, *rows):
        out.write("  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() + "\n")


def percentile(sorted_values: Sequence[int], share: float) -> int:
    """Nearest-rank percentile of an already sorted list (0 for an empty one)."""
    if not sorted_values:
        return 0
    rank = max(1, math.ceil(share * len(sorted_values)))
    return sorted_values[rank - 1]


# -- commands -----------------------------------------------------------------------------------


class Commands:
    def __init__(self, args: argparse.Namespace, target: Target, out: TextIO) -> None:
        self.args = args
        self.target = target
        self.out = out
        self.progress_enabled = bool(args.progress or sys.stderr.isatty())

    def ident(self, sid: str) -> str:
        return sid if self.args.show_ids else sid_prefix(sid)

    def emit_json(self, value: Any) -> None:
        self.out.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")

    def ttl(self, row: Row) -> float | None:
        return None if row.expires is None else (row.expires - self.target.now).total_seconds()

    def stats(self) -> int:
        counts = {label: 0 for label, _ in BUCKETS}
        counts[NO_EXPIRY] = 0
        sizes: list[int] = []
        users: set[str] = set()
        with_user = 0
        progress = Progress(self.progress_enabled, "scanning")
        try:
            for row in self.target.scan(progress):
                sizes.append(row.size)
                ttl = self.ttl(row)
                if ttl is None:
                    counts[NO_EXPIRY] += 1
                else:
                    counts[next(label for label, bound in BUCKETS if ttl < bound)] += 1
                if self.target.user_key is not None:
                    record = decode_record(row.text)
                    user = None if record is None else record_user(record, self.target.user_key)
                    if user is not None:
                        with_user += 1
                        users.add(user)
        finally:
            progress.close()
        sizes.sort()
        summary: dict[str, Any] = {
            "sessions": len(sizes),
            "expires_in": counts,
            "size_bytes": {
                "p50": percentile(sizes, 0.5),
                "p90": percentile(sizes, 0.9),
                "p99": percentile(sizes, 0.99),
                "max": sizes[-1] if sizes else 0,
                "total": sum(sizes),
            },
        }
        if self.target.user_key is not None:
            summary["with_user"] = with_user
            summary["users"] = len(users)
        if self.args.json:
            self.emit_json(summary)
            return EXIT_OK
        self.out.write(f"live sessions: {len(sizes)}\n")
        if self.target.user_key is not None:
            self.out.write(f"with a user:   {with_user} ({len(users)} distinct users)\n")
        self.out.write("\n")
        table(["EXPIRES IN", "SESSIONS"], [[k, str(v)] for k, v in counts.items()], self.out)
        self.out.write("\n")
        sized = summary["size_bytes"]
        table(
            ["RECORD SIZE", ""],
            [[k, size_text(sized[k])] for k in ("p50", "p90", "p99", "max", "total")],
            self.out,
        )
        return EXIT_OK

    def _listing(self, rows: list[Row]) -> int:
        limit = self.args.limit
        rows.sort(key=lambda r: (r.expires is None, -(r.expires.timestamp() if r.expires else 0)))
        shown = rows[:limit] if limit else rows
        key = self.target.user_key
        entries: list[dict[str, Any]] = []
        for row in shown:
            record: dict[str, Any] = decode_record(row.text) or {}
            user = record_user(record, key) if key else None
            cookie: dict[str, Any] = record.get("cookie") or {}
            written = None
            try:
                stored_expiry = parse_expires(cookie["expires"]) if cookie.get("expires") else None
                max_age = cookie.get("originalMaxAge")
                if stored_expiry is not None and isinstance(max_age, (int, float)):
                    written = stored_expiry - timedelta(milliseconds=max_age)
            except (CoatcheckError, TypeError, ValueError):
                written = None
            entries.append(
                {
                    "id": self.ident(row.sid),
                    "user": user,
                    "expires": row.expires.isoformat() if row.expires else None,
                    "expires_in_s": None if row.expires is None else round(self.ttl(row) or 0, 3),
                    "last_written": written.isoformat() if written else None,
                    "size_bytes": row.size,
                    "keys": sorted(k for k in record if k != "cookie"),
                }
            )
        if self.args.json:
            self.emit_json(entries)
            return EXIT_OK
        headers = ["ID", "USER", "EXPIRES IN", "LAST WRITTEN", "SIZE", "KEYS"]
        cells = [
            [
                e["id"],
                e["user"] or "-",
                duration(e["expires_in_s"]),
                e["last_written"][:19].replace("T", " ") if e["last_written"] else "-",
                size_text(e["size_bytes"]),
                ",".join(e["keys"]) or "-",
            ]
            for e in entries
        ]
        table(headers, cells, self.out)
        more = len(rows) - len(shown)
        tail = f" (showing {len(shown)}; --limit 0 for all)" if more > 0 else ""
        self.out.write(f"{len(rows)} session(s){tail}\n")
        return EXIT_OK

    def list(self) -> int:
        if self.args.user is not None:
            user = check_user(self.args.user)
            found = self.target.sessions_of(user)
            rows = [Row(sid, to_json(record), expires_at(record)) for sid, record in found.items()]
            return self._listing(rows)
        progress = Progress(self.progress_enabled, "scanning")
        try:
            rows = list(self.target.scan(progress))
        finally:
            progress.close()
        return self._listing(rows)

    def _unique(self, prefix: str) -> Row:
        if not prefix:
            raise Failure(EXIT_USAGE, "give an id prefix")
        rows = self.target.by_prefix(prefix)
        if not rows:
            raise Failure(EXIT_NOT_FOUND, f"no live session id starts with {prefix!r}")
        if len(rows) > 1:
            some = ", ".join(self.ident(r.sid) for r in rows[:5])
            raise Failure(
                EXIT_AMBIGUOUS, f"{len(rows)} sessions start with {prefix!r} ({some}); give more"
            )
        return rows[0]

    def show(self) -> int:
        row = self._unique(self.args.id_prefix)
        record = json.loads(row.text)
        if self.args.json:
            self.emit_json(
                {
                    "id": self.ident(row.sid),
                    "expires": row.expires.isoformat() if row.expires else None,
                    "size_bytes": row.size,
                    "record": record,
                }
            )
            return EXIT_OK
        expiry = "no expiry" if row.expires is None else f"expires in {duration(self.ttl(row))}"
        self.out.write(f"session {self.ident(row.sid)}  ({expiry}, {size_text(row.size)})\n")
        self.out.write(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
        return EXIT_OK

    def revoke(self) -> int:
        if self.args.user is not None:
            if self.target.user_key is None:
                raise Failure(EXIT_USAGE, "--user needs --user-key")
            count = int(self.target.store.destroy_user(check_user(self.args.user)))
            what = f"user {self.args.user}"
        else:
            row = self._unique(self.args.id_prefix)
            self.target.store.destroy(row.sid)
            count, what = 1, self.ident(row.sid)
        if self.args.json:
            self.emit_json({"revoked": count})
        else:
            self.out.write(f"revoked {count} session(s): {what}\n")
        return EXIT_OK

    def prune(self) -> int:
        prune: Callable[[], int] | None = getattr(self.target.store, "prune", None)
        if prune is not None:
            count = int(prune())
            note = "expired session(s) deleted"
        else:  # Redis expires keys on its own
            count = 0
            note = "expired session(s) deleted (Redis expires keys itself)"
        if self.args.json:
            self.emit_json({"pruned": count})
        else:
            self.out.write(f"{count} {note}\n")
        return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="coatcheck",
        description="Inspect and manage the sessions in a coatcheck (or express-session) store.",
        epilog=(
            "store URLs: sqlite:///relative.sqlite3, sqlite:////abs/path.sqlite3, "
            "redis://host:6379/0, rediss://..., redis+cluster://node:7000, "
            "postgresql://user@host/db.  exit codes: 0 ok, 1 not found, 2 usage, "
            "3 ambiguous id prefix, 4 store error, 5 unsupported by this store, 130 interrupted"
        ),
    )
    parser.add_argument("--version", action="version", version=f"coatcheck {__version__}")
    parser.add_argument(
        "--store",
        default=os.environ.get("COATCHECK_STORE"),
        help="the store URL (default $COATCHECK_STORE)",
    )
    parser.add_argument(
        "--user-key",
        default=os.environ.get("COATCHECK_USER_KEY"),
        help="the session key holding the user id, as the app's user_key option "
        "(default $COATCHECK_USER_KEY; Django: _auth_user_id)",
    )
    parser.add_argument("--prefix", help="Redis key prefix (default sess:)")
    parser.add_argument("--table", help="table name (default: sessions for SQLite, session for PG)")
    parser.add_argument("--schema", help="PostgreSQL schema of the table")
    output_flags(parser, None)
    # The output flags work after the command too (``coatcheck list --json``).
    common = argparse.ArgumentParser(add_help=False)
    output_flags(common, argparse.SUPPRESS)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help, parents=[common])

    command("stats", "live sessions, by expiry, size percentiles")
    listing = command("list", "list sessions (newest expiry first)")
    listing.add_argument("--user", help="only this user's sessions (uses the user index)")
    listing.add_argument("--limit", type=int, default=20, help="at most N rows (0: all; 20)")
    show = command("show", "print one session's record")
    show.add_argument("id_prefix", metavar="ID-PREFIX")
    revoke = command("revoke", "destroy one session, or every session of a user")
    which = revoke.add_mutually_exclusive_group(required=True)
    which.add_argument("--user", help="every session of this user")
    which.add_argument("id_prefix", nargs="?", metavar="ID-PREFIX")
    command("prune", "delete expired sessions (SQL stores)")
    return parser


def output_flags(parser: argparse.ArgumentParser, default: Any) -> None:
    """``--json``, ``--show-ids``, ``--progress`` (``default``: SUPPRESS on subcommands, so the
    top-level value stands unless the flag is repeated there)."""
    for flag, help in (
        ("--json", "machine-readable output"),
        ("--show-ids", "print full session ids"),
        ("--progress", "progress bar on stderr even when it is not a terminal"),
    ):
        if default is None:
            parser.add_argument(flag, action="store_true", help=help)
        else:
            parser.add_argument(flag, action="store_true", default=default, help=help)


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    """Run one command; returns the exit code (the console script exits with it)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    stream = out or sys.stdout
    if not args.store:
        parser.error("--store URL is required (or set $COATCHECK_STORE)")
    if args.command == "list" and args.limit < 0:
        parser.error("--limit must be >= 0")
    target: Target | None = None
    try:
        target = Target(args)
        return int(getattr(Commands(args, target, stream), args.command)())
    except Failure as exc:
        print(f"coatcheck: {exc}", file=sys.stderr)
        return exc.code
    except NotImplementedError as exc:
        print(f"coatcheck: {exc}", file=sys.stderr)
        return EXIT_UNSUPPORTED
    except ConfigError as exc:
        print(f"coatcheck: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except TypeError as exc:  # a user id that is no user id
        print(f"coatcheck: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (StoreError, OSError) as exc:
        print(f"coatcheck: store failed: {exc}", file=sys.stderr)
        return EXIT_STORE
    except KeyboardInterrupt:
        print("coatcheck: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        if target is not None:
            target.close()


if __name__ == "__main__":
    sys.exit(main())
