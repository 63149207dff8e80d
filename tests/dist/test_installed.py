"""What a packaging mistake would break: typed markers, the pytest plugin, lockstep versions.

``nox -s dist`` runs this against the built wheels (not the editable checkout)."""

from __future__ import annotations

import importlib
import importlib.metadata as metadata
import re
from pathlib import Path

import pytest

DISTRIBUTIONS = {
    "coatcheck": "coatcheck",
    "coatcheck-asgi": "coatcheck_asgi",
    "coatcheck-flask": "coatcheck_flask",
    "coatcheck-django": "coatcheck_django",
}


@pytest.mark.parametrize(("dist", "module"), sorted(DISTRIBUTIONS.items()))
def test_every_package_is_typed(dist: str, module: str) -> None:
    package = importlib.import_module(module)
    assert package.__file__ is not None
    assert (Path(package.__file__).parent / "py.typed").is_file()


@pytest.mark.parametrize("dist", sorted(DISTRIBUTIONS))
def test_versions_move_in_lockstep(dist: str) -> None:
    core = metadata.version("coatcheck")
    assert metadata.version(dist) == core
    if dist != "coatcheck":
        requires = metadata.requires(dist) or []
        assert f"coatcheck=={core}" in [r.split(";")[0].replace(" ", "") for r in requires]


def test_contract_suite_is_a_registered_pytest_plugin() -> None:
    plugins = metadata.entry_points(group="pytest11")
    assert any(ep.name == "coatcheck" and ep.value == "coatcheck.testing" for ep in plugins)


def test_driver_extras_are_declared() -> None:
    extras: dict[str, set[str]] = {}
    for requirement in metadata.requires("coatcheck") or []:
        name, _, marker = requirement.partition(";")
        extra = marker.split("extra ==")[-1].strip(" '\"") if "extra" in marker else ""
        extras.setdefault(extra, set()).add(re.split(r"[<>=!~ ]", name, maxsplit=1)[0])
    assert extras[""] == {"itsdangerous"}
    assert extras["redis"] == {"redis", "hiredis"}  # hiredis: the C reply parser (issue 7.3)
    assert extras["postgres"] == {"psycopg", "psycopg-pool"}
