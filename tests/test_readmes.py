"""Every Python snippet in the READMEs at least parses (the embedding example also runs, in
tests/examples); a README that cannot be pasted is a broken front door."""

from __future__ import annotations

import ast
import re
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
            found.append((f"{readme.relative_to(ROOT)}#{n}", match[1]))
    return found


def test_the_readmes_have_python_snippets() -> None:
    assert len(snippets()) >= 8


@pytest.mark.parametrize(("where", "code"), snippets(), ids=[w for w, _ in snippets()])
def test_snippet_parses(where: str, code: str) -> None:
    ast.parse(code, filename=where)
