"""Fetch, extract and run the frameworks' session tests against the adapters.

    python -m tests.peers.run                 # django, flask and starlette
    python -m tests.peers.run flask -x        # one suite; extra arguments go to pytest

The sdist of the *installed* version is downloaded once with ``pip download --no-binary`` into
``$COATCHECK_PEERS_CACHE`` (default ``~/.cache/coatcheck-peers``). Every run re-extracts the
selected test files into a fresh directory there, so they are byte for byte upstream's; the only
file of ours in that tree is the wiring ``conftest.py`` (a copy of ``wiring_<suite>.py``).
Each suite runs in its own pytest process (Django's settings are process-wide).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class Suite:
    """One framework's tests: which distribution, which members of its sdist, what to run."""

    name: str
    distribution: str
    members: tuple[str, ...]  # folders or files under the sdist's top directory
    conftest_at: str  # where the wiring conftest goes, relative to the top directory
    targets: tuple[str, ...]  # what pytest runs, relative to the top directory
    options: tuple[str, ...] = ()  # upstream's own pytest options (warning filters)


SUITES = {
    "django": Suite(
        "django",
        "django",
        (
            "tests/sessions_tests",
            "tests/test_client",
            "tests/test_client_regress",
            "tests/templates",
        ),
        "tests/conftest.py",
        ("tests/test_peers_django.py",),
    ),
    "flask": Suite(
        "flask",
        "flask",
        ("tests/conftest.py", "tests/test_basic.py", "tests/test_testing.py", "tests/templates"),
        "tests/conftest.py",
        ("tests/test_basic.py", "tests/test_testing.py"),
    ),
    "starlette": Suite(
        "starlette",
        "starlette",
        ("tests/__init__.py", "tests/conftest.py", "tests/types.py", "tests/middleware"),
        "tests/conftest.py",
        ("tests/middleware/test_session.py",),
        (  # from Starlette's pyproject.toml
            "-W",
            "ignore:Using `httpx` with `starlette.testclient` is deprecated"
            ":starlette.exceptions.StarletteDeprecationWarning",
        ),
    ),
}


def cache_dir() -> Path:
    default = Path.home() / ".cache" / "coatcheck-peers"
    return Path(os.environ.get("COATCHECK_PEERS_CACHE") or default)


def _cached(folder: Path, distribution: str, version: str) -> list[Path]:
    prefix = f"{distribution.lower()}-{version}."
    return [p for p in folder.iterdir() if p.name.lower().startswith(prefix)]


def fetch(suites: list[Suite]) -> None:
    """Download the missing sdists of the installed versions, in one ``pip download``."""
    folder = cache_dir() / "sdists"
    folder.mkdir(parents=True, exist_ok=True)
    wanted = {(s.distribution, importlib.metadata.version(s.distribution)) for s in suites}
    missing = sorted(f"{d}=={v}" for d, v in wanted if not _cached(folder, d, v))
    if missing:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--no-binary",
             ":all:", "--dest", str(folder), *missing],
            check=True,
        )  # fmt: skip


def sdist(distribution: str, version: str) -> Path:
    """The cached sdist of ``distribution==version`` (``fetch`` downloads it)."""
    folder = cache_dir() / "sdists"
    found = _cached(folder, distribution, version)
    if len(found) != 1:
        raise SystemExit(f"expected one sdist for {distribution} {version} in {folder}: {found}")
    return found[0]


def extract(suite: Suite, version: str) -> Path:
    """A fresh tree holding only the suite's upstream files, plus our wiring conftest."""
    archive = sdist(suite.distribution, version)
    root = cache_dir() / "run" / f"{suite.name}-{version}"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    with tarfile.open(archive) as tar:
        top = tar.getnames()[0].split("/")[0]
        wanted = [
            m
            for m in tar.getmembers()
            if any(
                m.name == f"{top}/{member}" or m.name.startswith(f"{top}/{member}/")
                for member in suite.members
            )
        ]
        for member in wanted:
            if member.isfile():
                member.name = member.name[len(top) + 1 :]
                tar.extract(member, root, set_attrs=False)
    conftest = root / suite.conftest_at
    if conftest.exists():  # the upstream conftest stays importable, under another name
        conftest.rename(conftest.with_name("upstream_conftest.py"))
    shutil.copy(HERE / f"wiring_{suite.name}.py", conftest)
    shutil.copy(HERE / "expected.py", root / "peers_expected.py")
    extra = HERE / f"files_{suite.name}"
    if extra.is_dir():  # test modules of ours that subclass upstream's mixins
        for path in extra.iterdir():
            shutil.copy(path, root / "tests" / path.name)
    return root


def run(suite: Suite, pytest_args: list[str]) -> int:
    version = importlib.metadata.version(suite.distribution)
    root = extract(suite, version)
    print(f"== {suite.name} {version}: {', '.join(suite.targets)}", flush=True)
    # Only the extracted tree is importable: Starlette's tests are a package named ``tests``.
    env = {**os.environ, "PYTHONPATH": str(root), "COATCHECK_PEERS_SUITE": suite.name}
    command = [
        sys.executable, "-m", "pytest", "-c", str(HERE / "pytest.ini"), "--rootdir", str(root),
        "-p", "peers_expected", *suite.options, *suite.targets, *pytest_args,
    ]  # fmt: skip
    return subprocess.run(command, cwd=root, env=env).returncode


def main(argv: list[str]) -> int:
    names = [a for a in argv if a in SUITES] or list(SUITES)
    pytest_args = [a for a in argv if a not in SUITES]
    fetch([SUITES[name] for name in names])
    failed = [name for name in names if run(SUITES[name], pytest_args) != 0]
    if failed:
        print(f"peers: FAILED {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
