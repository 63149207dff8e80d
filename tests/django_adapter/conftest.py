"""Django for the adapter's tests: configured here (not globally), a database for contrib.auth."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.management import call_command
from django.test import override_settings

from coatcheck.stores import MemoryStore
from tests.django_adapter.djsettings import ensure_configured

ensure_configured()


@pytest.fixture(scope="session")
def db() -> None:
    """contrib.auth's tables, migrated once into the on-disk SQLite test database."""
    call_command("migrate", verbosity=0)


@pytest.fixture
def store() -> Iterator[MemoryStore]:
    """The test app wired to a MemoryStore the test can look into."""
    memory = MemoryStore()
    options = {"store": memory, "resave": False, "save_uninitialized": False}
    with override_settings(COATCHECK=options):
        yield memory


@pytest.fixture
def user(db: None) -> Iterator[Any]:
    """A fresh user (password ``pw-1``), deleted afterwards."""
    from django.contrib.auth.models import User

    created = User.objects.create_user(username=f"u-{uuid.uuid4().hex[:8]}", password="pw-1")
    yield created
    created.delete()
