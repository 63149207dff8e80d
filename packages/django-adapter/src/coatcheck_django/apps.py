"""The app config: add ``"coatcheck_django"`` to ``INSTALLED_APPS`` for the system checks."""

from __future__ import annotations

from django.apps import AppConfig
from django.core import checks


class CoatcheckConfig(AppConfig):  # type: ignore[misc]  # Django ships no type hints
    """Registers ``coatcheck_django``'s system checks (``manage.py check``)."""

    name = "coatcheck_django"
    label = "coatcheck_django"
    verbose_name = "coatcheck sessions"

    def ready(self) -> None:
        from ._checks import check_session_store

        checks.register(check_session_store)
