"""Session middleware over real HTTP: every contender under its real server, measured in one
pass, interleaved, against the bare app of its framework.

Each app (``http_apps.py``) runs under the server a user would deploy it with -- uvicorn for
Starlette and FastAPI, gunicorn's sync worker for Flask and Django -- one worker, pinned with
``taskset`` to CPU 0; ``wrk -t1 -c16`` drives it from CPU 1. The scenario: ``GET /`` increments a
counter in the session (``resave=False, save_uninitialized=False``), for *returning* visitors
(64 cookies replayed in turn, so one session's requests do not overlap: the session changes on
every request) and a *new* visitor (no cookie: a new session is created and stored every time).

Reported per contender, medians over interleaved rounds (drift on a shared machine hits every
contender alike, so ratios survive it):
- throughput / bare (the same framework's app without sessions, same round);
- server CPU µs per request over bare: utime+stime of the server process (``/proc/<pid>/stat``)
  divided by the requests it served, minus the same for the bare app -- the figure that
  survives a noisy machine;
- wrk's p50 / p99 latency;
- store round trips per request, counted: Redis commands seen by ``MONITOR``, SQLite statements
  seen by sqlite3's trace callback, in a separate sequential pass (counting slows the store).

Writes ``benchmarks/results/http[-LABEL].{md,json,png}``. A benchmark, never a pass/fail test::

    nox -s bench -- --http-only             # or: python benchmarks/bench_http.py
    python benchmarks/bench_http.py --duration 2 --rounds 3 --only starlette
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from http_apps import ASGI_CONTENDERS, WSGI_CONTENDERS  # noqa: E402

from tests.servers import RedisServer, free_port  # noqa: E402

SCENARIOS = ("returning", "new")
#: Sequential requests per contender and scenario in the round-trip counting pass.
COUNT_REQUESTS = 40
CLOCK_TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")
#: A bare app is sent a cookie header of the same size as a session app's.
DUMMY_COOKIE = "connect.sid=s%3A" + "x" * 32 + "." + "y" * 43

LABELS = {
    "bare": "bare app (no sessions)",
    "cookie": "framework's signed-cookie session",
    "starsessions-memory": "starsessions InMemoryStore",
    "starsessions-redis": "starsessions RedisStore",
    "flask-session-redis": "Flask-Session (redis)",
    "db": "django.contrib.sessions db (SQLite)",
    "cache-redis": "django.contrib.sessions cache (Redis)",
    "coatcheck-memory": "coatcheck + MemoryStore",
    "coatcheck-sqlite": "coatcheck + SQLiteStore",
    "coatcheck-redis": "coatcheck + RedisStore",
}
SERVERS = {"starlette": "uvicorn", "fastapi": "uvicorn", "flask": "gunicorn", "django": "gunicorn"}


@dataclass
class Contender:
    key: str  # "starlette-coatcheck-memory"
    stack: str  # "starlette"
    variant: str  # "coatcheck-memory"
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    pid: int = 0  # the process serving requests (gunicorn: the worker, not the arbiter)
    cookie: str | None = None  # the returning visitor's Cookie header
    #: wrk's Lua script replaying the returning visitors' cookies in turn (see ``visitors``)
    script: Path | None = None
    samples: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    round_trips: dict[str, dict[str, float]] = field(default_factory=dict)
    #: coatcheck imported from another checkout (``--baseline``): "before", measured alongside
    baseline: Path | None = None

    @property
    def name(self) -> str:
        return self.key + (" (baseline)" if self.baseline else "")

    @property
    def bare(self) -> bool:
        return self.variant == "bare"

    @property
    def store(self) -> str | None:
        for store in ("redis", "sqlite", "memory"):
            if self.variant.endswith(store):
                return store
        return "sqlite" if self.variant == "db" else None

    @property
    def label(self) -> str:
        label = LABELS[self.variant]
        if self.stack == "fastapi" and self.variant.startswith("coatcheck"):
            label += " (SessionDep)"
        return label + (" — before" if self.baseline else "")


def make_contenders(only: str | None, baseline: Path | None = None) -> list[Contender]:
    contenders = []
    for key in (*ASGI_CONTENDERS, *WSGI_CONTENDERS):
        stack, _, variant = key.partition("-")
        if baseline is not None and variant.startswith("coatcheck"):
            contenders.append(Contender(key, stack, variant, baseline=baseline))
        contenders.append(Contender(key, stack, variant))
    if only:
        stacks = {c.stack for c in contenders if re.search(only, c.key)}
        # the bare app of each selected stack is always measured: every figure is relative to it
        contenders = [
            c for c in contenders if re.search(only, c.key) or (c.bare and c.stack in stacks)
        ]
    return contenders


# -- processes --------------------------------------------------------------------------------


def pinned(cpu: int, argv: list[str]) -> list[str]:
    return ["taskset", "-c", str(cpu), *argv] if shutil.which("taskset") else argv


def start_server(c: Contender, redis_url: str, workdir: Path, log_dir: Path) -> None:
    c.port = free_port()
    env = {
        **os.environ,
        "BENCH_CONTENDER": c.key,
        "BENCH_REDIS_URL": redis_url,
        "BENCH_DIR": str(workdir),
        # a baseline's packages come first on the path, ahead of the installed (editable) ones
        "PYTHONPATH": os.pathsep.join(
            [
                *baseline_paths(c.baseline),
                str(ROOT / "benchmarks"),
                *filter(None, [os.environ.get("PYTHONPATH")]),
            ]
        ),
    }
    if SERVERS[c.stack] == "uvicorn":
        argv = [
            sys.executable, "-m", "uvicorn", "--factory", "http_apps:asgi_app",
            "--host", "127.0.0.1", "--port", str(c.port),
            "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
    else:
        argv = [
            sys.executable, "-m", "gunicorn", "--workers", "1", "--worker-class", "sync",
            "--bind", f"127.0.0.1:{c.port}", "--log-level", "warning", "--timeout", "120",
            "http_apps:wsgi_app()",
        ]  # fmt: skip
    log = open(log_dir / f"{c.name}.log", "ab")  # noqa: SIM115 - owned by the child
    try:
        c.process = subprocess.Popen(pinned(0, argv), env=env, stdout=log, stderr=log)
    finally:
        log.close()


def baseline_paths(checkout: Path | None) -> list[str]:
    """The ``src`` folders of another checkout's packages (``git worktree add /tmp/x main``)."""
    if checkout is None:
        return []
    return [str(path) for path in sorted((checkout / "packages").glob("*/src"))]


def wait_ready(c: Contender, log_dir: Path, timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    assert c.process is not None
    while time.monotonic() < deadline:
        if c.process.poll() is not None:
            raise RuntimeError(f"{c.name} exited; see {log_dir / (c.name + '.log')}")
        try:
            get(c.port, "/_bench/ops")
        except OSError:
            time.sleep(0.2)
            continue
        c.pid = serving_pid(c.process.pid)
        return
    raise RuntimeError(f"{c.key} did not answer in {timeout}s")


def serving_pid(pid: int) -> int:
    """The deepest single descendant: gunicorn's worker; uvicorn serves in its own process."""
    while True:
        children: list[str] = []
        for task in os.listdir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError), open(f"/proc/{pid}/task/{task}/children") as f:
                children += f.read().split()
        if len(children) != 1:
            return pid
        pid = int(children[0])


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """Stop one process we started, by its PID."""
    if proc is None or proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(proc.pid, signal.SIGTERM)
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(20)


def cpu_us(pid: int) -> float:
    """utime + stime of the process (all its threads), in µs."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * CLOCK_TICK_US


# -- HTTP -----------------------------------------------------------------------------------


def get(port: int, path: str, cookie: str | None = None) -> tuple[int, list[str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("GET", path, headers={"Cookie": cookie} if cookie else {})
        response = conn.getresponse()
        return response.status, response.headers.get_all("Set-Cookie") or [], response.read()
    finally:
        conn.close()


def first_cookie(c: Contender) -> str:
    """The returning visitor's cookie: what the first visit's Set-Cookie handed out."""
    if c.bare:
        return DUMMY_COOKIE
    status, set_cookies, _ = get(c.port, "/")
    if status != 200 or not set_cookies:
        raise RuntimeError(f"{c.key}: first visit gave {status} and no Set-Cookie")
    return set_cookies[0].split(";", 1)[0]


_UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6}


def visitors(c: Contender, count: int, workdir: Path) -> None:
    """``count`` returning visitors, each with the cookie its first visit got, replayed in
    turn by a wrk script: with more visitors than connections, requests of one session do not
    overlap (one user is not 16 parallel clients; the concurrency tests cover that case)."""
    cookies = [c.cookie] + [first_cookie(c) for _ in range(count - 1)] if not c.bare else []
    cookies = cookies or [DUMMY_COOKIE]
    script = workdir / f"{c.name}.lua".replace(" ", "_")
    listed = ",\n".join(f"  {json.dumps(cookie)}" for cookie in cookies)
    script.write_text(
        f"local cookies = {{\n{listed}\n}}\nlocal i = 0\n"
        "request = function()\n  i = i % #cookies + 1\n"
        '  return wrk.format("GET", "/", {["Cookie"] = cookies[i]})\nend\n'
    )
    c.script = script


def wrk(c: Contender, scenario: str, duration: int, connections: int) -> dict[str, float]:
    """One wrk run; the server's CPU is read around it."""
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{duration}s", "--latency"]
    if scenario == "returning":
        assert c.script is not None
        argv += ["-s", str(c.script)]
    argv.append(f"http://127.0.0.1:{c.port}/")
    before = cpu_us(c.pid)
    out = subprocess.run(pinned(1, argv), capture_output=True, text=True, check=True).stdout
    used = cpu_us(c.pid) - before
    settle(c)  # the backlog a sync worker still serves is not the next contender's noise
    requests = int(re.search(r"(\d+) requests in", out)[1])  # type: ignore[index]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    latency = {
        pct: float(value) * _UNITS[unit]
        for pct, value, unit in re.findall(r"\s(50|99)%\s+([\d.]+)(us|ms|s)\b", out)
    }
    return {
        "rps": requests / duration,
        "requests": requests,
        "cpu_us_per_request": used / max(requests, 1),
        "p50_us": latency.get("50", float("nan")),
        "p99_us": latency.get("99", float("nan")),
        "errors": int(errors[1]) if errors else 0,
        "socket_errors": bool(
            socket_errors and "read 0, write 0, timeout 0" not in socket_errors[1]
        ),
    }


# -- counting store round trips ---------------------------------------------------------------


class RedisMonitor:
    """Counts the commands Redis executes (``MONITOR``) while a ``with`` block runs, by the
    client address that sent them (``MONITOR`` names it), so another server's stray commands
    (e.g. the backlog a sync worker still serves after wrk stopped) are never counted."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.commands: list[tuple[str, str]] = []  # (client "ip:port", command)

    def __enter__(self) -> RedisMonitor:
        self.sock = socket.create_connection(("127.0.0.1", self.port))
        self.sock.sendall(b"MONITOR\r\n")
        self.file = self.sock.makefile("rb")
        assert self.file.readline().startswith(b"+OK")
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()
        return self

    def _read(self) -> None:
        # ``1700000000.123 [0 127.0.0.1:5678] "GET" ...`` is a client's command (a round trip);
        # ``[0 lua] "GET"`` runs inside a script the client sent with one EVALSHA: not counted.
        with contextlib.suppress(OSError, ValueError):
            for line in self.file:
                match = re.search(rb'\[\d+ ([^\]]+)\] "([A-Za-z]+)"', line)
                if match and match[1] != b"lua":
                    self.commands.append((match[1].decode(), match[2].decode().upper()))

    def sent_by(self, clients: set[str]) -> list[str]:
        """The commands sent from these client addresses."""
        return [name for client, name in self.commands if client in clients]

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.3)  # let the last commands arrive
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)


def redis_clients(pid: int, redis_port: int) -> set[str]:
    """The ``ip:port`` local addresses of the process's TCP connections to ``redis_port``
    (its sockets in ``/proc/<pid>/fd``, their addresses in ``/proc/net/tcp``)."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                target = os.readlink(f"/proc/{pid}/fd/{fd}")
                if target.startswith("socket:["):
                    inodes.add(target[8:-1])
    clients = set()
    with open("/proc/net/tcp") as f:
        for line in list(f)[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode in inodes and int(remote.split(":")[1], 16) == redis_port:
                ip_hex, port_hex = local.split(":")
                ip = ".".join(str(b) for b in reversed(bytes.fromhex(ip_hex)))
                clients.add(f"{ip}:{int(port_hex, 16)}")
    return clients


def settle(c: Contender, quiet: float = 0.1, timeout: float = 10.0) -> None:
    """Wait until the server is idle (its CPU time stops moving): a sync worker still serves
    the connections wrk left in its backlog, which would run into the next measurement."""
    deadline = time.monotonic() + timeout
    last = cpu_us(c.pid)
    while time.monotonic() < deadline:
        time.sleep(quiet)
        now = cpu_us(c.pid)
        if now == last:
            return
        last = now


def count_round_trips(c: Contender, redis_port: int) -> None:
    """Store operations per request, counted in sequential requests (keep-alive off), from
    this server's own Redis connections. One unmonitored request per scenario first: a fresh
    server's first script call loads it (``NOSCRIPT``, then ``EVAL``, once per server)."""
    for scenario in SCENARIOS:
        cookie = c.cookie if scenario == "returning" else None
        get(c.port, "/", cookie)
        get(c.port, "/_bench/ops?trace=1")
        with RedisMonitor(redis_port) as monitor:
            for _ in range(COUNT_REQUESTS):
                status, _, _ = get(c.port, "/", cookie)
                assert status == 200, (c.key, status)
        sql = int(get(c.port, "/_bench/ops?trace=0")[2])
        commands = monitor.sent_by(redis_clients(c.pid, redis_port))
        names: dict[str, int] = {}
        for name in commands:
            names[name] = names.get(name, 0) + 1
        c.round_trips[scenario] = {
            "redis": len(commands) / COUNT_REQUESTS,
            "sql": sql / COUNT_REQUESTS,
            "redis_commands": {k: v / COUNT_REQUESTS for k, v in sorted(names.items())},  # type: ignore[dict-item]
        }


# -- the run ------------------------------------------------------------------------------------


@contextlib.contextmanager
def running(contenders: list[Contender], workdir: Path) -> Iterator[RedisServer]:
    log_dir = workdir / "logs"
    log_dir.mkdir()
    with RedisServer() as redis:
        if shutil.which("taskset") and redis.process is not None:
            subprocess.run(["taskset", "-pc", "1", str(redis.process.pid)], capture_output=True)
        try:
            for c in contenders:
                start_server(c, redis.url, workdir, log_dir)
            for c in contenders:
                wait_ready(c, log_dir)
            yield redis
        finally:
            for c in contenders:
                stop(c.process)
            shutil.rmtree(workdir, ignore_errors=True)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    contenders = make_contenders(args.only, args.baseline)
    started = time.monotonic()
    workdir = Path(tempfile.mkdtemp(prefix="coatcheck-bench-http-"))
    with running(contenders, workdir) as redis:
        print(f"{len(contenders)} servers up in {time.monotonic() - started:.0f}s", flush=True)
        for c in contenders:
            c.cookie = first_cookie(c)
            count_round_trips(c, redis.port)
            visitors(c, args.visitors, workdir)
            for scenario in SCENARIOS:  # warm-up: imports, pools, caches
                wrk(c, scenario, 1, args.connections)
        for r in range(args.rounds):
            for scenario in SCENARIOS:
                order = contenders[r % len(contenders) :] + contenders[: r % len(contenders)]
                for c in order:
                    c.samples.setdefault(scenario, []).append(
                        wrk(c, scenario, args.duration, args.connections)
                    )
            print(
                f"round {r + 1}/{args.rounds} done ({time.monotonic() - started:.0f}s)", flush=True
            )
    return summarise(contenders, args)


def summarise(contenders: list[Contender], args: argparse.Namespace) -> dict[str, Any]:
    bare = {c.stack: c for c in contenders if c.bare}
    rows = []
    for c in contenders:
        row: dict[str, Any] = {
            "key": c.key,
            "baseline": str(c.baseline) if c.baseline else None,
            "stack": c.stack,
            "server": SERVERS[c.stack],
            "label": c.label,
            "store": c.store,
        }
        for scenario in SCENARIOS:
            mine, base = c.samples[scenario], bare[c.stack].samples[scenario]
            # per round, against the bare app of the same round; then the median
            ratios = [m["rps"] / b["rps"] for m, b in zip(mine, base)]
            added = [m["cpu_us_per_request"] - b["cpu_us_per_request"] for m, b in zip(mine, base)]
            row[scenario] = {
                "rps": statistics.median(m["rps"] for m in mine),
                "throughput_vs_bare": statistics.median(ratios),
                "cpu_us_per_request": statistics.median(m["cpu_us_per_request"] for m in mine),
                "added_cpu_us": statistics.median(added),
                "p50_us": statistics.median(m["p50_us"] for m in mine),
                "p99_us": statistics.median(m["p99_us"] for m in mine),
                "errors": sum(m["errors"] for m in mine),
                "round_trips": c.round_trips.get(scenario, {}),
                "samples": mine,
            }
        rows.append(row)
    return {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "commit": git_commit(),
        "python": platform.python_version(),
        "cpu": cpu_model(),
        "duration_s": args.duration,
        "rounds": args.rounds,
        "connections": args.connections,
        "visitors": args.visitors,
        "rows": rows,
    }


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "describe", "--always", "--dirty"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


# -- output ---------------------------------------------------------------------------------------


def round_trip_text(row: dict[str, Any], scenario: str) -> str:
    counted = row[scenario]["round_trips"]
    if row["store"] in (None, "memory"):
        return "0 (in process)" if row["store"] == "memory" else "—"
    if row["store"] == "sqlite":
        return f"{counted.get('sql', 0):g} SQL"
    commands = counted.get("redis_commands", {})
    names = "+".join(f"{k}" if v == 1 else f"{v:g} {k}" for k, v in commands.items())
    return f"{counted.get('redis', 0):g} ({names})" if names else "0"


def markdown(result: dict[str, Any], command: str) -> str:
    lines = [
        f"# Session middleware over real HTTP ({result['date']}, `{result['commit']}`)",
        "",
        f"One worker pinned to CPU 0, `wrk -t1 -c{result['connections']}` on CPU 1, "
        f"{result['duration_s']:g} s per run, medians of {result['rounds']} interleaved rounds; "
        f"Python {result['python']}, {result['cpu']}. `GET /` increments a counter in the "
        "session (`resave=False, save_uninitialized=False`). **+CPU** = server CPU µs per "
        "request over the bare app of the same framework in the same round (utime+stime of the "
        "server process ÷ requests); **÷bare** = throughput ÷ the bare app's; round trips per "
        "request counted with Redis `MONITOR` / SQLite's trace callback. "
        f"Returning visitors: {result.get('visitors', 1)} cookies replayed in turn, the "
        "session changes on every request. "
        "New visitor: no cookie, a session is created and stored on every request.",
        "",
        "| stack | session | +CPU µs returning | +CPU µs new | ÷bare returning | ÷bare new "
        "| p50 / p99 ms returning | round trips returning | round trips new |",
        "|---|---|--:|--:|--:|--:|--:|---|---|",
    ]
    for row in result["rows"]:
        ret, new = row["returning"], row["new"]
        stack = f"{row['stack']} ({row['server']})"
        if row["store"] is None and row["label"].startswith("bare"):
            lines.append(
                f"| {stack} | {row['label']} | {ret['cpu_us_per_request']:.0f} µs/req "
                f"| {new['cpu_us_per_request']:.0f} µs/req | {ret['rps']:.0f} req/s "
                f"| {new['rps']:.0f} req/s | {ret['p50_us'] / 1e3:.2f} / {ret['p99_us'] / 1e3:.2f} "
                "| — | — |"
            )
            continue
        flag = " ⚠ errors" if ret["errors"] or new["errors"] else ""
        lines.append(
            f"| {stack} | {row['label']}{flag} "
            f"| {ret['added_cpu_us']:+.0f} | {new['added_cpu_us']:+.0f} "
            f"| {ret['throughput_vs_bare']:.2f} | {new['throughput_vs_bare']:.2f} "
            f"| {ret['p50_us'] / 1e3:.2f} / {ret['p99_us'] / 1e3:.2f} "
            f"| {round_trip_text(row, 'returning')} | {round_trip_text(row, 'new')} |"
        )
    lines += before_after(result)
    lines += [
        "",
        "Bare rows give the bare app's own CPU µs per request and requests/s.",
        "",
        f"Reproduce: `{command}`",
        "",
    ]
    return "\n".join(lines)


def chart(result: dict[str, Any], path: Path) -> bool:
    """Added CPU per request, one panel per framework (each on its own scale)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no chart", file=sys.stderr)
        return False
    rows = [r for r in result["rows"] if not r["label"].startswith("bare")]
    stacks = list(dict.fromkeys(r["stack"] for r in rows))
    heights = [sum(r["stack"] == s for r in rows) + 0.8 for s in stacks]
    fig, axes = plt.subplots(
        len(stacks),
        1,
        figsize=(10, 0.45 * sum(heights) + 1.2),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for ax, stack in zip(axes[:, 0], stacks):
        mine = [r for r in rows if r["stack"] == stack]
        y = range(len(mine))
        for offset, scenario, colour, name in (
            (-0.2, "returning", "#1f77b4", "returning visitor (session changes)"),
            (0.2, "new", "#ff7f0e", "new visitor"),
        ):
            bars = ax.barh(
                [i + offset for i in y],
                [r[scenario]["added_cpu_us"] for r in mine],
                height=0.4,
                color=colour,
                label=name,
            )
            for bar, row in zip(bars, mine):
                if row.get("baseline"):
                    bar.set_alpha(0.45)
                    bar.set_hatch("//")
        ax.set_yticks(list(y), [r["label"] for r in mine])
        for tick, row in zip(ax.get_yticklabels(), mine):
            tick.set_color("#b00020" if "coatcheck" in row["label"] else "black")
        ax.invert_yaxis()
        ax.set_title(f"{stack} ({mine[0]['server']})", loc="left", fontsize=10)
        ax.grid(axis="x", alpha=0.3)
        ax.axvline(0, color="black", linewidth=0.6)
    handles, names = axes[0, 0].get_legend_handles_labels()
    axes[-1, 0].set_xlabel("server CPU µs per request over the bare app (lower is better)")
    fig.suptitle(f"Session middleware cost over real HTTP ({result['commit']})")
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.legend(handles, names, loc="upper right", fontsize=8, ncol=2)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def before_after(result: dict[str, Any]) -> list[str]:
    """coatcheck's rows measured from the baseline checkout next to this one's, same pass."""
    rows = result["rows"]
    pairs = [
        (before, after)
        for before in rows
        if before.get("baseline")
        for after in rows
        if after["key"] == before["key"] and not after.get("baseline")
    ]
    if not pairs:
        return []
    lines = [
        "",
        f"## Before / after, same pass (baseline: `{pairs[0][0]['baseline']}`)",
        "",
        "| stack | coatcheck + store | +CPU µs returning before → after "
        "| +CPU µs new before → after | ÷bare returning before → after |",
        "|---|---|--:|--:|--:|",
    ]
    for before, after in pairs:
        b, a = before["returning"], after["returning"]
        lines.append(
            f"| {after['stack']} | {after['label']} "
            f"| {b['added_cpu_us']:+.0f} → {a['added_cpu_us']:+.0f} "
            f"| {before['new']['added_cpu_us']:+.0f} → {after['new']['added_cpu_us']:+.0f} "
            f"| {b['throughput_vs_bare']:.2f} → {a['throughput_vs_bare']:.2f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=int, default=2, help="seconds per wrk run (2)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (3)")
    parser.add_argument("--connections", type=int, default=16, help="wrk connections (16)")
    parser.add_argument(
        "--visitors", type=int, default=64, help="returning visitors, cookies replayed in turn (64)"
    )
    parser.add_argument("--only", help="regex over contender keys (bare apps always run)")
    parser.add_argument("--label", default="", help="suffix of the result files")
    parser.add_argument(
        "--baseline",
        type=Path,
        help="another checkout (e.g. `git worktree add /tmp/before main`): its coatcheck is "
        "measured in the same pass, next to this one (before/after on the same machine state)",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    args = parser.parse_args(argv)
    for tool in ("wrk",):
        if not shutil.which(tool):
            sys.exit(f"{tool} is not installed (apt-get install {tool}; nox -s bench does it)")
    result = measure(args)
    args.out.mkdir(parents=True, exist_ok=True)
    stem = "http" + (f"-{args.label}" if args.label else "")
    command = "nox -s bench  # or: python benchmarks/bench_http.py " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    (args.out / f"{stem}.json").write_text(json.dumps(result, indent=1) + "\n")
    text = markdown(result, command.strip())
    (args.out / f"{stem}.md").write_text(text)
    chart(result, args.out / f"{stem}.png")
    print(text)


if __name__ == "__main__":
    main()
