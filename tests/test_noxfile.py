"""``nox -s tests`` finds its Pythons by itself and fails loudly without them (issue 10.19).

It used to print "skipped: interpreter not found" for both Pythons and exit 0 having run
nothing, unless the user had exported ``PYENV_VERSION`` first.
"""

from __future__ import annotations

import os
import runpy
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Loads the noxfile as nox does, then asks each Python the sessions use for its version.
PROBE = """
import os, runpy, subprocess, nox
ns = runpy.run_path("noxfile.py")
print(nox.options.error_on_missing_interpreters)
for version in dict.fromkeys((ns["TOOL_PYTHON"], *ns["PYTHONS"])):
    out = subprocess.run([f"python{version}", "-c", "import sys; print(sys.version_info[:2])"],
                         capture_output=True, text=True)
    print(version, out.returncode, out.stdout.strip())
"""


_NAMESPACE: dict[str, Any] = {}


def _load(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """The noxfile's globals, loaded once (nox refuses a session registered twice); loading
    runs ``expose_pyenv_pythons()``, so the environment is restored after each test."""
    monkeypatch.delenv("PYENV_VERSION", raising=False)
    if not _NAMESPACE:
        _NAMESPACE.update(runpy.run_path(str(ROOT / "noxfile.py")))
    return _NAMESPACE


def test_a_missing_interpreter_fails_the_run() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYENV_VERSION"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0] == "True"


@pytest.mark.skipif(not shutil.which("pyenv"), reason="only meaningful where pyenv hides Pythons")
def test_without_pyenv_version_every_session_python_runs() -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYENV_VERSION"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    for line in done.stdout.splitlines()[1:]:
        version, code, found = line.split(" ", 2)
        major, minor = version.split(".")
        assert (code, found) == ("0", f"({major}, {minor})"), line


def test_the_newest_patch_of_each_python_is_chosen_tool_python_first(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    namespace = _load(monkeypatch)
    expose = namespace["expose_pyenv_pythons"]
    monkeypatch.delenv("PYENV_VERSION", raising=False)  # the load may have set it
    installed = ["2.7.18", "3.10.2", "3.10.13", "3.11.7", "3.13.0", "3.13.0a1", "3.130.1"]
    assert expose(installed) == "3.11.7:3.10.13:3.13.0"
    assert os.environ["PYENV_VERSION"] == "3.11.7:3.10.13:3.13.0"


def test_an_explicit_pyenv_version_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    namespace = _load(monkeypatch)
    monkeypatch.setenv("PYENV_VERSION", "3.12.1")
    assert namespace["expose_pyenv_pythons"](["3.10.13"]) is None
    assert os.environ["PYENV_VERSION"] == "3.12.1"
