"""The task runner. Every command of the README and of .ci/run goes through here.

Under pyenv, the Pythons the sessions need are found without any export (see
``expose_pyenv_pythons``); a missing one fails the run instead of being skipped.

    nox -s tests          # the whole test suite (oldest and newest Python), real servers
    nox -s demo           # the demo page on http://127.0.0.1:8000 (SQLite store)
    nox -s lint typecheck bench dist
    nox -s peers          # the frameworks' own session tests against the adapters
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess

import nox

#: The monorepo's packages, in dependency order (core first).
PACKAGES = (
    "packages/core[redis,postgres]",
    "packages/asgi-adapter",
    "packages/flask-adapter",
    "packages/django-adapter",
)
TEST_DEPS = (
    "pytest>=8",
    "pytest-asyncio>=0.23",
    "hypothesis>=6.100",
    "httpx>=0.27",
    "uvicorn>=0.30",
    "starlette>=0.37",
    "fastapi>=0.110",
    "gunicorn>=22",  # tests/concurrency: coatcheck-flask under a real threaded server
    "mypy>=1.10",  # tests/test_readmes.py type-checks a newcomer's first lines
    "nox>=2024.3",  # tests/test_noxfile.py loads this file
)
#: Debian packages the store tests need: real servers, never mocks.
SERVER_PACKAGES = {"redis-server": "redis-server", "redis-cli": "redis-server"}
#: Debian packages the real-HTTP benchmark needs: the load generator and CPU pinning.
BENCH_PACKAGES = {"wrk": "wrk", "taskset": "util-linux"}
#: What benchmarks/bench_http.py serves and compares (the peers as a user would install them).
BENCH_DEPS = (
    "starlette>=0.37",
    "fastapi>=0.110",
    "uvicorn[standard]>=0.30",
    "gunicorn>=22",
    "starsessions>=2",
    "Flask-Session>=0.8",
    "matplotlib>=3.8",
    "httpx>=0.27",
    "itsdangerous",
)
#: The demo's browser test: Playwright for Python driving Debian's Chromium (no download).
BROWSER_DEPS = ("playwright>=1.40",)
BROWSER_PACKAGES = {"chromium": "chromium"}
PYTHONS = ("3.10", "3.13")

#: The Python of the tool sessions (lint, typecheck, demo, bench, dist).
TOOL_PYTHON = "3.11"

nox.options.sessions = ("lint", "typecheck", "tests")
nox.options.reuse_existing_virtualenvs = True
#: "interpreter not found" must fail the run: a skipped session exits 0 having run nothing.
nox.options.error_on_missing_interpreters = True


def expose_pyenv_pythons(installed: list[str] | None = None) -> str | None:
    """Point ``PYENV_VERSION`` at the newest installed patch of each Python the sessions use.

    pyenv hides every version but the global one: nox's ``python3.10`` is then a shim that
    refuses to run. Left alone when ``PYENV_VERSION`` is already set or pyenv is absent.
    Returns the value it set (or ``None``).
    """
    if os.environ.get("PYENV_VERSION"):
        return None
    if installed is None:
        if not shutil.which("pyenv"):
            return None
        try:
            listed = subprocess.run(
                ["pyenv", "versions", "--bare"], capture_output=True, text=True, check=True
            )
        except (OSError, subprocess.CalledProcessError):
            return None
        installed = listed.stdout.split()
    chosen = []
    for minor in dict.fromkeys((TOOL_PYTHON, *PYTHONS)):  # the tool Python first: ``python``
        patches = [v for v in installed if re.fullmatch(re.escape(minor) + r"\.\d+", v)]
        if patches:
            chosen.append(max(patches, key=lambda v: int(v.rsplit(".", 1)[1])))
    if not chosen:
        return None
    os.environ["PYENV_VERSION"] = ":".join(chosen)
    return os.environ["PYENV_VERSION"]


expose_pyenv_pythons()


def postgres_bindir() -> str | None:
    """Debian keeps PostgreSQL's server binaries off PATH."""
    if shutil.which("initdb"):
        return os.path.dirname(shutil.which("initdb") or "")
    root = "/usr/lib/postgresql"
    if os.path.isdir(root):
        for version in sorted(os.listdir(root), reverse=True):
            candidate = os.path.join(root, version, "bin")
            if os.path.exists(os.path.join(candidate, "initdb")):
                return candidate
    return None


def ensure_servers(session: nox.Session, tools: dict[str, str] = SERVER_PACKAGES) -> None:
    """Install redis-server and PostgreSQL (plus ``tools``: Chromium for the tests, wrk for the
    benchmarks) with apt-get when missing: real servers and a real browser, never skipped in CI."""
    missing = sorted({pkg for tool, pkg in tools.items() if not shutil.which(tool)})
    if postgres_bindir() is None:
        missing.append("postgresql")
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        session.error(f"the tests need {missing}; install them (apt-get install ...)")
    env = {"DEBIAN_FRONTEND": "noninteractive"}
    session.run("apt-get", "update", "-qq", external=True, env=env)
    session.run("apt-get", "install", "-y", "-qq", *missing, external=True, env=env)


def install_workspace(session: nox.Session, *extra: str, silent: bool = True) -> None:
    session.install(*[arg for pkg in PACKAGES for arg in ("-e", pkg)], *extra, silent=silent)


@nox.session(python=PYTHONS)
def tests(session: nox.Session) -> None:
    """The whole suite: core, stores against real Redis and PostgreSQL, adapters, examples."""
    ensure_servers(session, {**SERVER_PACKAGES, **BROWSER_PACKAGES})
    install_workspace(session, *TEST_DEPS, *BROWSER_DEPS)
    bindir = postgres_bindir()
    env = {"COATCHECK_PG_BINDIR": bindir} if bindir else {}
    session.run("pytest", *session.posargs, env=env)


#: The frameworks the peers session runs against: the newest releases and the oldest supported
#: (DESIGN: Django >= 4.2, Flask >= 3). Starlette's suite runs with the newest only.
PEER_FRAMEWORKS = {
    "newest": ("django", "flask", "starlette", "httpx2"),  # Starlette's own tests use httpx2
    "oldest": ("django==4.2.*", "flask==3.0.*", "werkzeug==3.0.*"),
}
PEER_SUITES = {"newest": ("django", "flask", "starlette"), "oldest": ("django", "flask")}


@nox.session
@nox.parametrize(("python", "frameworks"), [("3.13", "newest"), ("3.10", "oldest")])
def peers(session: nox.Session, frameworks: str) -> None:
    """Django's, Flask's and Starlette's own session tests, unchanged, against the adapters.

    The sdists of the installed versions are cached in ~/.cache/coatcheck-peers (or
    $COATCHECK_PEERS_CACHE); deliberate differences are strict xfails (tests/peers/expected.py).
    """
    # Editable installs without build isolation: pip re-resolving hatchling for each of the four
    # packages on every run was most of this session's time.
    session.install("hatchling", "editables")
    session.install(
        "--no-build-isolation",
        *[arg for pkg in PACKAGES for arg in ("-e", pkg.split("[")[0])],
        "pytest>=8",
        "httpx>=0.27",
        *PEER_FRAMEWORKS[frameworks],
    )
    suites = [arg for arg in session.posargs if not arg.startswith("-")]
    options = [arg for arg in session.posargs if arg.startswith("-")]
    wanted = [s for s in PEER_SUITES[frameworks] if not suites or s in suites]
    session.run("python", "-m", "tests.peers.run", *wanted, *options)


@nox.session(python=TOOL_PYTHON)
def lint(session: nox.Session) -> None:
    """ruff: lint rules and formatting."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session(python=TOOL_PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over every package."""
    install_workspace(session, "mypy>=1.10", *TEST_DEPS)
    session.run("mypy")


@nox.session(python=TOOL_PYTHON)
def demo(session: nox.Session) -> None:
    """The demo page on http://127.0.0.1:8000, sessions in SQLite (they survive a restart)."""
    # pip's own progress is shown: the first run installs for ~40 s and must not look hung.
    session.log("installing coatcheck, coatcheck-asgi, uvicorn and starlette (first run ~40 s)")
    install_workspace(session, "uvicorn>=0.30", "starlette>=0.37", silent=False)
    session.log("starting the demo (Ctrl+C stops it)")
    session.run("python", "examples/demo.py", *session.posargs)


@nox.session(python=TOOL_PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks (never pass/fail): every session middleware over real HTTP (a few minutes;
    writes benchmarks/results/http.*), the core cycle in-process, the stores.

    ``nox -s bench -- --only starlette`` passes its arguments to bench_http.py.
    """
    ensure_servers(session, {**SERVER_PACKAGES, **BENCH_PACKAGES})
    install_workspace(session, *BENCH_DEPS)
    bindir = postgres_bindir()
    env = {"COATCHECK_PG_BINDIR": bindir} if bindir else {}
    session.run("python", "benchmarks/bench_http.py", *session.posargs, env=env)
    for script in sorted(os.listdir("benchmarks")):
        if script.startswith("bench_") and script.endswith(".py") and script != "bench_http.py":
            session.run("python", f"benchmarks/{script}", env=env)


@nox.session(python=TOOL_PYTHON)
def dist(session: nox.Session) -> None:
    """Build the wheels, install them (not editable) and run the store contract suite."""
    out = session.create_tmp()
    session.install("build")
    for pkg in PACKAGES:
        session.run("python", "-m", "build", "--wheel", "--outdir", out, pkg.split("[")[0])
    wheels = sorted(os.path.join(out, w) for w in os.listdir(out) if w.endswith(".whl"))
    session.install(*wheels, "pytest>=8", "pytest-asyncio>=0.23")
    session.run("python", "-c", "import coatcheck_asgi, coatcheck_flask, coatcheck_django")
    # No "-p coatcheck": the contract suite must arrive through the wheel's pytest11 entry point.
    session.run("pytest", "tests/stores/test_memory.py", "tests/dist")
