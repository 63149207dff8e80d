"""Store round trips per request, counted on the wire (issue 7.3): Redis ``MONITOR`` sees every
command a client sends, SQLite's trace callback every statement a connection runs.

Through a real Flask app (coatcheck-flask, default ``concurrency="merge"``, ``resave=False``,
``save_uninitialized=False``): a new visitor whose session gets data costs one write; a returning
visitor whose session changed costs a read and a write; an unchanged one a read and a touch.
"""

from __future__ import annotations

import socket
import sqlite3
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import redis
from flask import Flask, session

import coatcheck_flask
from coatcheck.stores import RedisStore, SQLiteStore

SECRET = "a-test-secret-that-is-long-enough-0123456789"


def _app(store: Any) -> Flask:
    app = Flask(__name__)
    coatcheck_flask.Session(app, store=store, secret=SECRET, resave=False, save_uninitialized=False)

    @app.get("/count")
    def count() -> str:
        session["n"] = session.get("n", 0) + 1
        return str(session["n"])

    @app.get("/read")
    def read() -> str:
        return str(session.get("n"))

    return app


class Monitor:
    """Redis ``MONITOR`` on its own connection: the commands clients send, in order (commands a
    Lua script runs are reported as ``lua`` and left out)."""

    def __init__(self, url: str) -> None:
        parts = urlparse(url)
        self.sock = socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379))
        self.sock.sendall(b"MONITOR\r\n")
        self.buffer = b""
        assert self._line() == b"+OK"
        self.url = url

    def _line(self) -> bytes:
        while b"\r\n" not in self.buffer:
            chunk = self.sock.recv(65536)
            assert chunk, "MONITOR connection closed"
            self.buffer += chunk
        line, _, self.buffer = self.buffer.partition(b"\r\n")
        return line

    def commands(self, prefix: str) -> list[str]:
        """The command names sent since the last call that touch a key under ``prefix``."""
        marker = f"monitor-mark-{uuid.uuid4().hex}"
        with redis.Redis.from_url(self.url) as client:
            client.echo(marker)
        seen: list[str] = []
        while True:
            line = self._line()
            if marker.encode() in line:
                return seen
            if b" lua]" in line or prefix.encode() not in line:
                continue
            seen.append(line.split(b'"', 2)[1].decode().upper())

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def monitor(redis_url: str) -> Iterator[Monitor]:
    watching = Monitor(redis_url)
    yield watching
    watching.close()


@pytest.mark.redis
def test_redis_round_trips_per_request(redis_url: str, redis_prefix: str, monitor: Monitor) -> None:
    store = RedisStore.from_url(redis_url, prefix=redis_prefix)
    try:
        app = _app(store)
        # A first visitor loads the scripts (EVALSHA answers NOSCRIPT once per server, then
        # EVAL runs and caches it); from then on each operation is one command.
        warm = app.test_client()
        warm.get("/count")
        warm.get("/count")
        client = app.test_client()
        monitor.commands(redis_prefix)  # discard what came before
        assert client.get("/count").text == "1"  # a new visitor
        assert monitor.commands(redis_prefix) == ["EVALSHA"]  # set_if(None): one script
        assert client.get("/count").text == "2"  # returning, changed
        assert monitor.commands(redis_prefix) == ["EVALSHA", "EVALSHA"]  # get_versioned, set_if
        assert client.get("/read").text == "2"  # returning, unchanged
        assert monitor.commands(redis_prefix) == ["EVALSHA", "PEXPIRE"]  # get_versioned, touch
    finally:
        store.clear()
        store.close()


class TracedSQLiteStore(SQLiteStore):
    """SQLiteStore whose connections report every statement they run."""

    statements: list[str]

    def _open(self) -> sqlite3.Connection:
        conn = super()._open()
        conn.set_trace_callback(self.statements.append)
        return conn


@pytest.mark.parametrize("where", ["file", ":memory:"])
def test_sqlite_statements_per_request(tmp_path: Path, where: str) -> None:
    TracedSQLiteStore.statements = []
    path = tmp_path / "sessions.sqlite3" if where == "file" else ":memory:"
    store = TracedSQLiteStore(path)
    try:
        client = _app(store).test_client()
        seen = TracedSQLiteStore.statements

        def run(path: str) -> list[str]:
            seen.clear()
            client.get(path)
            return [statement.split(None, 1)[0].upper() for statement in seen]

        assert run("/count") == ["INSERT"]  # set_if(None)
        assert run("/count") == ["SELECT", "UPDATE"]  # get_versioned, set_if
        assert run("/read") == ["SELECT", "UPDATE"]  # get_versioned, touch (expire only)
    finally:
        store.close()
