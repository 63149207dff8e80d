"""Every Python snippet in the READMEs at least parses (the embedding example also runs, in
tests/examples); a README that cannot be pasted is a broken front door."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
READMES = [
    ROOT / "README.md",
    *sorted(ROOT.glob("packages/*/README.md")),
    ROOT / "examples/README.md",
]
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def snippets() -> list[tuple[str, str]]:
    found = []
    for readme in READMES:
        for n, match in enumerate(BLOCK.finditer(readme.read_text(encoding="utf-8")), start=1):
            # a block inside a list item is indented with it
            found.append((f"{readme.relative_to(ROOT)}#{n}", textwrap.dedent(match[1])))
    return found


def test_the_readmes_have_python_snippets() -> None:
    assert len(snippets()) >= 8


@pytest.mark.parametrize(("where", "code"), snippets(), ids=[w for w, _ in snippets()])
def test_snippet_parses(where: str, code: str) -> None:
    ast.parse(code, filename=where)


def core_quickstart() -> str:
    """The first python block of packages/core/README.md: the embedding quickstart."""
    text = (ROOT / "packages/core/README.md").read_text(encoding="utf-8")
    return BLOCK.findall(text)[0]


def test_the_core_quickstart_runs_as_written(tmp_path: Path) -> None:
    # issue 10.21: it used to raise NameError (cookie_header was never defined)
    script = tmp_path / "quickstart.py"
    script.write_text(core_quickstart(), encoding="utf-8")
    done = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "views: 2\n"
    assert (tmp_path / "sessions.sqlite3").is_file()


#: What a newcomer writes first; mypy --strict must accept it unannotated (issue 10.21).
TYPED_USES = """
from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import coatcheck_django
from coatcheck import AsyncDriver, AsyncSession, RequestReceived, SessionConfig, SyncDriver
from coatcheck import SessionCycle, SyncSession

config = SessionConfig.from_options(secret="s", resave=False, save_uninitialized=False)
driver = SyncDriver(config)
async_driver = AsyncDriver(config)
sync_cycle: SessionCycle[SyncSession] | None = driver.begin(
    RequestReceived(now=datetime.now(timezone.utc))
)
if sync_cycle is not None:
    sync_cycle.session.regenerate(keep_data=True)
async_session_class: type[AsyncSession] = async_driver.session_class


def view(request: Any) -> None:
    session = coatcheck_django.get_session(request)
    session.cookie.max_age = 60
    session.regenerate(keep_data=True)
"""


@pytest.mark.parametrize("source", ["quickstart", "typed uses"])
def test_first_uses_pass_mypy_strict(source: str, tmp_path: Path) -> None:
    code = core_quickstart() if source == "quickstart" else TYPED_USES
    module = tmp_path / "first_use.py"
    module.write_text(code, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(module)],
        cwd=ROOT,  # the repository's mypy settings (python_version 3.10) and cache
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize("package", ["asgi-adapter", "flask-adapter", "django-adapter"])
def test_each_adapter_readme_says_how_to_install_from_a_checkout(package: str) -> None:
    # issue 10.20: "pip install packages/<adapter>" alone fails (coatcheck is not on an index)
    text = (ROOT / "packages" / package / "README.md").read_text(encoding="utf-8")
    assert f"pip install ./packages/core ./packages/{package}\n" in text


def test_the_core_readme_says_how_to_install_from_a_checkout() -> None:
    text = (ROOT / "packages/core/README.md").read_text(encoding="utf-8")
    assert "pip install ./packages/core " in text


#: pytest options for a run outside this repository's configuration.
_ISOLATED = ("-p", "no:cacheprovider", "-p", "no:asyncio")


def test_the_store_example_passes_the_contract_suite(tmp_path: Path) -> None:
    """packages/core/README.md's complete example store, run as a test module: every contract
    test passes (issue 10.18); only what the example leaves out is skipped."""

    (example,) = [code for where, code in snippets() if "class TestDictStore(" in code]
    (tmp_path / "test_readme_store.py").write_text(example, encoding="utf-8")
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-W", "error", *_ISOLATED],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    skipped = sorted(re.findall(r"does not implement (\w+)", done.stdout))
    assert skipped == ["all", "clear", "length"], done.stdout
    passed = re.search(r"\b(\d+) passed\b", done.stdout)
    assert passed is not None, done.stdout
    assert int(passed[1]) >= 55, done.stdout
