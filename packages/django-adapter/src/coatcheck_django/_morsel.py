"""A ``Morsel`` that emits the core's Set-Cookie string byte for byte.

Django's ``response.set_cookie`` cannot write express's header (it sorts attributes, has no
Priority, adds Max-Age). The handlers and the test client only ever look at
``response.cookies``, so the adapter puts this morsel there: ``OutputString`` returns the exact
string, while the usual attributes are filled in for code that inspects them
(``response.cookies["sessionid"]["expires"]``). If anything later edits the morsel
(``response.delete_cookie``), it falls back to ``Morsel``'s own rendering of the edit.
"""

from __future__ import annotations

from collections.abc import Container
from http.cookies import Morsel
from typing import Any

_RESERVED: frozenset[str] = frozenset(Morsel._reserved)  # type: ignore[attr-defined]
_BLANK: dict[str, str] = dict.fromkeys(Morsel._reserved, "")  # type: ignore[attr-defined]
_CHECKED_NAMES: set[str] = set()


class ExactMorsel(Morsel[str]):
    """The session cookie, rendered exactly as the core decided it."""

    def __init__(self, set_cookie: str) -> None:
        # Morsel.__init__'s state (every attribute present, blank), in one C-level update.
        dict.update(self, _BLANK)
        pair, *attributes = set_cookie.split("; ")
        name, _, value = pair.partition("=")
        # Morsel.set()'s checks, once per name: the core built a legal cookie already.
        if name not in _CHECKED_NAMES:
            Morsel[str]().set(name, value, value)
            _CHECKED_NAMES.add(name)
        self._key, self._value, self._coded_value = name, value, value  # already URL-encoded
        for attribute in attributes:
            key, _, attribute_value = attribute.partition("=")
            key = key.lower()
            if key in _RESERVED:
                dict.__setitem__(self, key, attribute_value or True)
        self._exact = set_cookie
        self._snapshot = self._state()

    def _state(self) -> tuple[Any, ...]:
        return (self.key, self.value, self.coded_value, dict(self))

    def OutputString(self, attrs: Container[str] | None = None) -> str:
        if attrs is None and self._state() == getattr(self, "_snapshot", None):
            return self._exact
        return super().OutputString(attrs)

    def __getstate__(self) -> dict[str, Any]:
        # Morsel pickles only key/value/coded_value; keep the exact string (cache middleware).
        state: dict[str, Any] = super().__getstate__()  # type: ignore[misc]  # not in typeshed
        return {**state, "exact": self._exact, "snapshot": self._snapshot}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self._exact = state.pop("exact")
        self._snapshot = state.pop("snapshot")
        super().__setstate__(state)  # type: ignore[misc]
