"""Django system checks (issue 10.4): a store that cannot be opened fails ``manage.py check``
with the path and a fix, not the first request inside runserver's thread."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.apps import apps
from django.core.checks import Error, run_checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from coatcheck_django.apps import CoatcheckConfig

OPTIONS = {"resave": False, "save_uninitialized": False}


def coatcheck_errors() -> list[Error]:
    return [m for m in run_checks() if str(m.id).startswith("coatcheck.")]


def sqlite_settings(path: Path) -> dict[str, object]:
    return {
        **OPTIONS,
        "store": "coatcheck.stores.SQLiteStore",
        "store_options": {"path": str(path)},
    }


def test_the_app_config_is_coatchecks() -> None:
    """``"coatcheck_django"`` in ``INSTALLED_APPS`` picks the app config registering checks."""
    assert type(apps.get_app_config("coatcheck_django")) is CoatcheckConfig


def test_a_sqlite_path_that_cannot_be_opened_is_a_system_check_error(tmp_path: Path) -> None:
    path = tmp_path / "var" / "lib" / "myapp" / "sessions.sqlite3"  # the quickstart's, absent
    with override_settings(COATCHECK=sqlite_settings(path)):
        (error,) = coatcheck_errors()
    assert isinstance(error, Error)
    assert error.id == "coatcheck.E001"
    assert str(path) in error.msg
    assert "does not exist; create it or choose another path" in error.msg
    assert "store_options" in str(error.hint)


def test_manage_py_check_fails_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    path = blocker / "sessions.sqlite3"
    settings = sqlite_settings(path)
    with override_settings(COATCHECK=settings), pytest.raises(SystemCheckError) as info:
        call_command("check")
    assert "coatcheck.E001" in str(info.value)
    assert str(path) in str(info.value)
    assert "is not a directory" in str(info.value)


def test_a_store_that_opens_passes(tmp_path: Path) -> None:
    with override_settings(COATCHECK=sqlite_settings(tmp_path / "sessions.sqlite3")):
        assert coatcheck_errors() == []
        call_command("check")


def test_invalid_settings_are_a_system_check_error() -> None:
    with override_settings(COATCHECK={**OPTIONS, "save_unitialized": False}):
        (error,) = coatcheck_errors()
    assert error.id == "coatcheck.E002"
    assert "save_uninitialized" in error.msg  # the closest valid name is suggested


def test_nothing_is_checked_when_coatcheck_is_not_the_session_engine() -> None:
    with override_settings(
        COATCHECK={"store": "no.such.module.Store"},
        SESSION_ENGINE="django.contrib.sessions.backends.db",
        MIDDLEWARE=["django.contrib.sessions.middleware.SessionMiddleware"],
    ):
        assert coatcheck_errors() == []
