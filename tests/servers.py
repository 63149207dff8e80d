"""Start and stop real Redis / Redis Cluster / PostgreSQL servers for tests and benchmarks.

Framework-free on purpose (no pytest, no client libraries): the store tests, the adapter tests
and the benchmarks all need the same throw-away servers. Every server listens on 127.0.0.1 only,
on a free port, with its data in a private temporary directory that is removed on stop. Only
processes started here are ever signalled, and only by their PID.

Simple use::

    with redis_server() as url:          # "redis://127.0.0.1:PORT/0"
        ...
    with redis_cluster() as urls:        # ["redis://127.0.0.1:P1", ...], 3 primaries
        ...
    with postgres_server() as conninfo:  # "postgresql://postgres@127.0.0.1:PORT/postgres"
        ...

Outage tests use the classes directly: ``server.stop()`` then ``server.start()`` restarts on
the same port (and, for PostgreSQL, the same data directory).

A missing binary raises ``ServerUnavailable``; the caller decides whether that is a skip or a
failure (in CI it must be a failure): ``unavailable(message)`` is that decision for a pytest
test (pytest is imported only then, so the benchmarks need none).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import NoReturn, TypeVar

__all__ = [
    "Managed",
    "PostgresServer",
    "RedisClusterServer",
    "RedisServer",
    "ServerUnavailable",
    "find_postgres_bin",
    "free_port",
    "postgres_server",
    "redis_cluster",
    "redis_server",
    "terminate",
    "unavailable",
]

HOST = "127.0.0.1"
START_TIMEOUT = 30.0


class ServerUnavailable(RuntimeError):
    """The server binary is missing or cannot run here (not a test failure by itself)."""


def unavailable(message: str, *, what: str = "server") -> NoReturn:
    """Something a test needs (a server, a browser) is missing: a failure in CI (``CI`` set),
    a skip on a developer's machine, so CI never passes by skipping."""
    import pytest

    if os.environ.get("CI"):
        pytest.fail(f"{message} (CI is set: a missing {what} is a failure)", pytrace=False)
    pytest.skip(message)


def free_port(*, bus_offset: int | None = None) -> int:
    """A TCP port free on 127.0.0.1 right now (and ``port + bus_offset`` too, if given).

    Redis Cluster also listens on ``port + 10000`` (the cluster bus), so that one must be free.
    """
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((HOST, 0))
            port: int = sock.getsockname()[1]
        if bus_offset is None:
            return port
        if port + bus_offset > 65535:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind((HOST, port + bus_offset))
            except OSError:
                continue
        return port
    raise ServerUnavailable("no free TCP port pair found on 127.0.0.1")


def terminate(
    proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 15
) -> None:
    """Signal one process we started (by its PID) and reap it; escalate to SIGKILL if stuck."""
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, sig)
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout)


# --------------------------------------------------------------------------------------------
# Redis


def _resp_command(port: int, *args: str, timeout: float = 2.0) -> bytes:
    """Send one command in RESP and return the raw reply: enough for PING and CLUSTER INFO."""
    payload = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = arg.encode()
        payload += b"$%d\r\n%s\r\n" % (len(data), data)
    with socket.create_connection((HOST, port), timeout=timeout) as sock:
        sock.sendall(payload)
        reply = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            reply += chunk
            if reply.startswith((b"+", b"-", b":")) and reply.endswith(b"\r\n"):
                break
            if reply.startswith(b"$"):
                header, _, rest = reply.partition(b"\r\n")
                if len(rest) >= int(header[1:]) + 2:
                    break
    return reply


def _redis_binary(name: str) -> str:
    path = shutil.which(name) or shutil.which(name, path="/usr/bin:/usr/local/bin")
    if path is None:
        raise ServerUnavailable(f"{name} not found on PATH (install redis-server / redis-tools)")
    return path


class Managed:
    """``with server:`` starts it (cleaning up if the start fails) and closes it on exit.

    The base of every server started for tests here and in ``tests/concurrency/harness.py``."""

    def start(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self: _M) -> _M:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


_M = TypeVar("_M", bound=Managed)


class RedisServer(Managed):
    """One private ``redis-server`` (no persistence) on a free 127.0.0.1 port."""

    def __init__(self, *, port: int | None = None, extra_args: Sequence[str] = ()) -> None:
        self.binary = _redis_binary("redis-server")
        self.port = port if port is not None else free_port()
        self.extra_args = list(extra_args)
        self._owns_dir = True
        self.directory = Path(tempfile.mkdtemp(prefix="coatcheck-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def start(self) -> None:
        """Start (or restart) the server on its port and wait until it answers PING."""
        if self.process is not None and self.process.poll() is None:
            return
        argv = [
            self.binary,
            "--port", str(self.port),
            "--bind", HOST,
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self.directory),
            "--daemonize", "no",
            *self.extra_args,
        ]  # fmt: skip
        log = open(self.directory / "redis.log", "ab")  # noqa: SIM115 - owned by the child
        try:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited early; see {self.directory / 'redis.log'}")
            try:
                if _resp_command(self.port, "PING").startswith(b"+PONG"):
                    return
            except OSError:
                pass
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"redis-server on port {self.port} did not start in time")

    def stop(self) -> None:
        """Terminate the server process (by PID); the port and directory are kept for a restart."""
        if self.process is not None:
            terminate(self.process)
            self.process = None

    def close(self) -> None:
        """Stop and remove the temporary directory."""
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.directory, ignore_errors=True)


class RedisClusterServer(Managed):
    """A Redis Cluster of ``size`` primaries and no replicas, each node a ``RedisServer``."""

    def __init__(self, size: int = 3) -> None:
        self.cli = _redis_binary("redis-cli")
        self.nodes: list[RedisServer] = []
        for _ in range(size):
            port = free_port(bus_offset=10000)
            node = RedisServer(
                port=port,
                extra_args=[
                    "--cluster-enabled", "yes",
                    "--cluster-config-file", "nodes.conf",
                    "--cluster-node-timeout", "5000",
                ],
            )  # fmt: skip
            self.nodes.append(node)

    @property
    def urls(self) -> list[str]:
        return [f"redis://{HOST}:{node.port}" for node in self.nodes]

    def start(self) -> None:
        """Start every node, join them with ``redis-cli --cluster create``, wait for state ok."""
        for node in self.nodes:
            node.start()
        addresses = [f"{HOST}:{node.port}" for node in self.nodes]
        info = _resp_command(self.nodes[0].port, "CLUSTER", "INFO")
        if b"cluster_state:ok" not in info:
            subprocess.run(
                [self.cli, "--cluster", "create", *addresses, "--cluster-replicas", "0",
                 "--cluster-yes"],
                check=True,
                capture_output=True,
                timeout=START_TIMEOUT,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if all(
                b"cluster_state:ok" in _resp_command(node.port, "CLUSTER", "INFO")
                for node in self.nodes
            ):
                return
            time.sleep(0.05)
        raise RuntimeError("redis cluster did not reach cluster_state:ok in time")

    def stop(self) -> None:
        """Signal every node first, then reap them: they shut down in parallel."""
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(node.process.pid, signal.SIGTERM)
        for node in self.nodes:
            node.stop()

    def close(self) -> None:
        self.stop()
        for node in self.nodes:
            node.close()


# --------------------------------------------------------------------------------------------
# PostgreSQL


def find_postgres_bin() -> Path:
    """The directory holding ``initdb`` and ``postgres``: ``$COATCHECK_PG_BIN``, the PATH, or
    the newest ``/usr/lib/postgresql/*/bin`` (Debian/Ubuntu keep them off the PATH)."""
    explicit = os.environ.get("COATCHECK_PG_BIN")
    candidates = [Path(explicit)] if explicit else []
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    versioned = glob.glob("/usr/lib/postgresql/*/bin")
    versioned.sort(key=lambda p: int(Path(p).parent.name) if Path(p).parent.name.isdigit() else 0)
    candidates.extend(Path(p) for p in reversed(versioned))
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "postgres").exists():
            return directory
    raise ServerUnavailable(
        "PostgreSQL binaries (initdb, postgres) not found: "
        "install PostgreSQL or set COATCHECK_PG_BIN"
    )


class PostgresServer(Managed):
    """A private PostgreSQL cluster (trust auth, fsync off) on a free 127.0.0.1 port.

    PostgreSQL refuses to run as root, so when we are root every server process runs as the
    ``postgres`` user (``Popen(user=...)``, which keeps the postmaster's PID ours to signal).
    """

    def __init__(self, *, port: int | None = None) -> None:
        self.bin = find_postgres_bin()
        self.port = port if port is not None else free_port()
        self._user: str | None = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError:
                raise ServerUnavailable("running as root but no 'postgres' user exists") from None
            self._user = "postgres"
        self.directory = Path(tempfile.mkdtemp(prefix="coatcheck-pg-"))
        self.data = self.directory / "data"
        if self._user is not None:
            shutil.chown(self.directory, self._user, self._user)
        self.process: subprocess.Popen[bytes] | None = None
        self._initialised = False

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{HOST}:{self.port}/postgres"

    def _run(self, argv: list[str]) -> None:
        result = subprocess.run(
            argv, user=self._user, cwd=self.directory, capture_output=True, timeout=120
        )
        if result.returncode != 0:
            raise RuntimeError(f"{argv[0]} failed: {result.stderr.decode(errors='replace')}")

    def start(self) -> None:
        """initdb on first start, then run the postmaster and wait until it accepts connections."""
        if self.process is not None and self.process.poll() is None:
            return
        if not self._initialised:
            self._run(
                [str(self.bin / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres",
                 "-E", "UTF8", "--locale=C", "--no-sync"]
            )  # fmt: skip
            self._initialised = True
        argv = [
            str(self.bin / "postgres"),
            "-D", str(self.data),
            "-k", str(self.directory),
            "-h", HOST,
            "-p", str(self.port),
            "-c", "fsync=off",
            "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off",
            "-c", "max_connections=200",
        ]  # fmt: skip
        log = open(self.directory / "postgres.log", "ab")  # noqa: SIM115 - owned by the child
        try:
            self.process = subprocess.Popen(
                argv, user=self._user, cwd=self.directory, stdout=log, stderr=subprocess.STDOUT
            )
        finally:
            log.close()
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"postgres exited early; see {self.directory / 'postgres.log'}")
            if self._ready():
                return
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"postgres on port {self.port} did not start in time")

    def _ready(self) -> bool:
        """The postmaster writes ``ready`` as the status line of postmaster.pid once it accepts
        connections (PostgreSQL 10+), which spares us a client library or pg_isready."""
        try:
            lines = (self.data / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[7].strip() == "ready"

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster's PID): clients are disconnected at once."""
        if self.process is not None:
            terminate(self.process, signal.SIGINT, timeout=30)
            self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# One context manager per server kind, yielding what a client needs.


@contextlib.contextmanager
def redis_server() -> Iterator[str]:
    """A private redis-server for the ``with`` block; yields its URL."""
    with RedisServer() as server:
        yield server.url


@contextlib.contextmanager
def redis_cluster(size: int = 3) -> Iterator[list[str]]:
    """A private Redis Cluster (``size`` primaries); yields one URL per node."""
    with RedisClusterServer(size) as cluster:
        yield cluster.urls


@contextlib.contextmanager
def postgres_server() -> Iterator[str]:
    """A private PostgreSQL for the ``with`` block; yields its conninfo URL."""
    with PostgresServer() as server:
        yield server.url
