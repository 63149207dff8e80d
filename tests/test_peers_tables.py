"""Each adapter README's "Differences from <framework>'s own sessions" table is the xfail table
that ``nox -s peers`` applies to the framework's own tests (tests/peers/expected.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.peers.expected import DIFFERENCES, FRAMEWORK, READMES, readme_table

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("suite", sorted(READMES))
def test_readme_lists_exactly_the_xfailed_differences(suite: str) -> None:
    text = (ROOT / READMES[suite]).read_text(encoding="utf-8")
    heading = f"## Differences from {FRAMEWORK[suite]}'s own sessions\n"
    assert heading in text, f"{READMES[suite]} lacks the heading {heading.strip()!r}"
    section = text.split(heading, 1)[1].split("\n## ", 1)[0]
    table = readme_table(suite)
    assert table in section, f"{READMES[suite]}: paste this table under {heading}\n{table}"


def test_every_difference_names_a_suite_with_a_readme() -> None:
    assert {difference.suite for difference in DIFFERENCES} <= set(READMES)
