"""The commands: ``stats``, ``list``, ``show``, ``revoke``, ``prune`` (one method each, named
after the command; each returns its exit code)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TextIO

from .._errors import CoatcheckError, sid_prefix
from ..stores._codec import decode_record, expires_at, parse_expires, to_json
from ..stores._users import check_user, record_user
from ._exits import EXIT_AMBIGUOUS, EXIT_NOT_FOUND, EXIT_OK, EXIT_USAGE, Failure
from ._output import Progress, duration, percentile, size_text, table
from ._target import Row, Target

#: Expiry buckets of ``stats``: (label, upper bound in seconds).
BUCKETS: tuple[tuple[str, float], ...] = (
    ("< 1 hour", 3600.0),
    ("< 1 day", 86400.0),
    ("< 7 days", 7 * 86400.0),
    ("< 30 days", 30 * 86400.0),
    (">= 30 days", math.inf),
)
NO_EXPIRY = "no expiry"


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
