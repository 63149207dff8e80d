"""``coatcheck`` (the operator CLI) against real stores: SQLite, Redis, a Redis Cluster and
PostgreSQL, each filled by the store itself, then inspected and changed through the CLI."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest

from coatcheck import cli
from coatcheck.stores import SQLiteStore
from coatcheck.testing import make_record
from tests.servers import free_port

ADA = ["ada-" + uuid.uuid4().hex[:28] for _ in range(3)]
BOB = "bob-" + uuid.uuid4().hex[:28]
ANON = "anon" + uuid.uuid4().hex[:28]
TWINS = ["dupAAA" + uuid.uuid4().hex[:26], "dupAAA" + uuid.uuid4().hex[:26]]


@dataclass
class Filled:
    """A store URL plus the extra CLI options it needs, holding the sessions above."""

    kind: str
    url: str
    options: list[str]
    store: Any

    def run(self, *argv: str) -> tuple[int, str]:
        out = io.StringIO()
        code = cli.main([*self.options, "--store", self.url, "--user-key", "user", *argv], out)
        return code, out.getvalue()

    def json(self, *argv: str) -> Any:
        code, text = self.run(*argv, "--json")
        assert code == 0, text
        return json.loads(text)


def fill(store: Any) -> None:
    now = datetime.now(timezone.utc)
    store.index_users("user")
    for n, sid in enumerate(ADA):
        store.set(sid, make_record(now, 600 * (n + 1), user="ada", cart=["tea"] * n))
    store.set(BOB, make_record(now, 86400 * 3, user="bob"))
    store.set(ANON, make_record(now, None, views={"/": 1}))
    for sid in TWINS:
        store.set(sid, make_record(now, 60, user="eve"))


@pytest.fixture(params=["sqlite", "redis", "redis-cluster", "postgres"])
def filled(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Filled]:
    kind: str = request.param
    if kind == "sqlite":
        path = tmp_path / "sessions.sqlite3"
        with SQLiteStore(path) as store:
            fill(store)
            yield Filled(kind, f"sqlite:///{path}", [], store)
    elif kind.startswith("redis"):
        from coatcheck.stores import RedisStore

        prefix = f"coatcheck-test:{uuid.uuid4().hex[:12]}:"
        cluster = kind == "redis-cluster"
        if cluster:
            url = request.getfixturevalue("redis_cluster_nodes")[0]
        else:
            url = request.getfixturevalue("redis_url")
        store = RedisStore.from_url(url, prefix=prefix, cluster=cluster)
        fill(store)
        cli_url = url.replace("redis://", "redis+cluster://") if cluster else url
        yield Filled(kind, cli_url, ["--prefix", prefix], store)
        store.clear()
        users = list(store.client.scan_iter(match=f"coatcheck-users:{prefix}*"))
        if users:
            store.client.delete(*users)
        store.close()
    else:
        from coatcheck.stores import PostgresStore

        conninfo = request.getfixturevalue("postgres_conninfo")
        table = request.getfixturevalue("pg_table")
        store = PostgresStore(conninfo, table=table, create_table=True)
        fill(store)
        yield Filled(kind, conninfo, ["--table", table], store)
        store.close()


def test_stats_counts_buckets_and_sizes(filled: Filled) -> None:
    stats = filled.json("stats")
    assert stats["sessions"] == 7
    assert stats["with_user"] == 6
    assert stats["users"] == 3
    # ada's 10/20/30 minutes and eve's twins; bob's 3 days; the browser-session record: the
    # store's own expiry counts, and every store gives it a day (connect-redis /
    # connect-pg-simple; SQLite too since issue 10.10; PostgreSQL rounds up, past the day).
    buckets = stats["expires_in"]
    assert buckets["< 1 hour"] == 5
    assert buckets["< 30 days"] == buckets[">= 30 days"] == 0
    assert buckets["no expiry"] == 0
    assert buckets["< 1 day"] + buckets["< 7 days"] == 2
    sizes = stats["size_bytes"]
    assert 0 < sizes["p50"] <= sizes["p90"] <= sizes["p99"] <= sizes["max"] < sizes["total"]
    code, text = filled.run("stats")
    assert code == 0
    assert "live sessions: 7" in text
    assert "with a user:   6 (3 distinct users)" in text
    assert "EXPIRES IN" in text
    assert "p99" in text


def test_list_abbreviates_ids_unless_asked(filled: Filled) -> None:
    code, text = filled.run("list")
    assert code == 0
    assert "7 session(s)" in text
    assert ADA[0][:6] + "…" in text
    for sid in (*ADA, BOB, ANON, *TWINS):
        assert sid not in text  # never a full id on screen
    code, text = filled.run("list", "--show-ids", "--limit", "2")
    assert "7 session(s) (showing 2; --limit 0 for all)" in text
    assert BOB in text  # the longest-lived with an expiry comes first
    rows = filled.json("list", "--limit", "0")
    assert len(rows) == 7
    assert {row["id"] for row in rows} >= {ADA[0][:6] + "…", ANON[:6] + "…"}


def test_list_a_users_sessions(filled: Filled) -> None:
    rows = filled.json("list", "--user", "ada", "--show-ids")
    assert sorted(row["id"] for row in rows) == sorted(ADA)
    assert {row["user"] for row in rows} == {"ada"}
    assert all(row["last_written"] for row in rows)
    assert filled.json("list", "--user", "nobody") == []


def test_show_pretty_prints_one_record(filled: Filled) -> None:
    code, text = filled.run("show", ADA[2][:10])
    assert code == 0
    header, body = text.split("\n", 1)
    assert header.startswith(f"session {ADA[2][:6]}…  (expires in ")
    assert json.loads(body)["cart"] == ["tea", "tea"]
    assert '\n  "user": "ada"' in body
    assert ADA[2] not in text
    shown = filled.json("show", BOB[:12], "--show-ids")
    assert shown["id"] == BOB
    assert shown["record"]["user"] == "bob"


def test_show_and_revoke_refuse_unknown_and_ambiguous_prefixes(
    filled: Filled, capsys: pytest.CaptureFixture[str]
) -> None:
    assert filled.run("show", "zzzz-no-such")[0] == cli.EXIT_NOT_FOUND
    code, _ = filled.run("revoke", "dupAAA")
    assert code == cli.EXIT_AMBIGUOUS
    err = capsys.readouterr().err
    assert "2 sessions start with 'dupAAA'" in err
    assert TWINS[0] not in err
    assert filled.store.get(TWINS[0]) is not None


def test_revoke_one_session_or_a_user(filled: Filled) -> None:
    code, text = filled.run("revoke", BOB[:10])
    assert (code, text) == (0, f"revoked 1 session(s): {BOB[:6]}…\n")
    assert filled.store.get(BOB) is None
    assert filled.json("revoke", "--user", "ada") == {"revoked": 3}
    assert all(filled.store.get(sid) is None for sid in ADA)
    assert filled.store.get(ANON) is not None
    assert filled.json("stats")["sessions"] == 3


def test_prune(filled: Filled) -> None:
    expired = "expired-" + uuid.uuid4().hex
    filled.store.set(expired, make_record(datetime.now(timezone.utc), -5, user="old"))
    result = filled.json("prune")
    if filled.kind.startswith("redis"):
        assert result == {"pruned": 0}  # Redis expired the key itself
    else:
        assert result == {"pruned": 1}
    assert filled.json("prune") == {"pruned": 0}
    assert filled.json("stats")["sessions"] == 7


def test_progress_bar_only_when_asked_or_on_a_terminal(
    filled: Filled, capsys: pytest.CaptureFixture[str]
) -> None:
    filled.run("stats")
    assert capsys.readouterr().err == ""  # stderr is no terminal here
    filled.run("stats", "--progress")
    err = capsys.readouterr().err
    assert "scanning [" in err
    assert err.endswith("\n")
    # the total is the whole store's (a cluster's: every primary's, not one node's)
    shown_total = int(err.rstrip().rsplit("/", 1)[1])
    assert shown_total >= filled.json("stats")["sessions"]


def test_usage_and_store_errors_have_their_exit_codes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*argv: str) -> int:
        return cli.main(list(argv), io.StringIO())

    assert run("--store", "mysql://x/y", "stats") == cli.EXIT_USAGE
    assert run("--store", f"sqlite:///{tmp_path}/missing.sqlite3", "stats") == cli.EXIT_STORE
    assert not (tmp_path / "missing.sqlite3").exists()  # never creates a database
    port = free_port()
    assert run("--store", f"redis://127.0.0.1:{port}/0", "stats") == cli.EXIT_STORE
    with SQLiteStore(tmp_path / "s.sqlite3"):
        pass
    url = f"sqlite:///{tmp_path}/s.sqlite3"
    assert run("--store", url, "list", "--user", "ada") == cli.EXIT_USAGE  # no --user-key
    assert run("--store", url, "--user-key", "no spaces", "stats") == cli.EXIT_USAGE
    with pytest.raises(SystemExit) as exited:
        run("--store", url, "revoke")  # neither --user nor an id prefix
    assert exited.value.code == cli.EXIT_USAGE
    assert "coatcheck: " in capsys.readouterr().err


def test_the_console_script_is_installed(tmp_path: Path) -> None:
    script = shutil.which("coatcheck", path=os.path.dirname(sys.executable))
    assert script, "the coatcheck distribution declares a coatcheck console script"
    path = tmp_path / "s.sqlite3"
    with SQLiteStore(path) as store:
        fill(store)
    done = subprocess.run(
        [script, "--store", f"sqlite:///{path}", "--user-key", "user", "revoke", "--user", "ada"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stdout) == (0, "revoked 3 session(s): user ada\n")
    missing = subprocess.run(
        [script, "--store", f"sqlite:///{path}", "show", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert missing.returncode == cli.EXIT_NOT_FOUND
    assert "no live session id starts with 'nope'" in missing.stderr


@pytest.mark.parametrize("module", ["coatcheck", "coatcheck.cli"])
def test_python_dash_m_runs_the_cli(module: str, tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite3"
    with SQLiteStore(path) as store:
        fill(store)
    done = subprocess.run(
        [sys.executable, "-m", module, "--store", f"sqlite:///{path}", "show", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == cli.EXIT_NOT_FOUND
    assert "no live session id starts with 'nope'" in done.stderr
