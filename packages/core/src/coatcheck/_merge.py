"""``concurrency="merge"``: re-apply one request's own changes onto a record written meanwhile.

Pure functions, used only after a conditional write was refused (never on the happy path). The
request's changes are found by comparing its data with the snapshot it loaded: the JSON text the
load-time hash was computed from, kept as a string, so nested values cannot drift under it.
Top-level keys are the unit: a key this request set, changed or deleted takes this request's
value; every other key keeps the value the store has now (DESIGN "Concurrency").
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._lifetime import META_KEY
from .stores._codec import is_mapping, to_json

#: Record keys that are not session data: express's cookie and coatcheck's own object.
RECORD_KEYS = frozenset({"cookie", META_KEY})


def stored_data(record: Any) -> dict[str, Any]:
    """The session data of a stored record: without express's ``cookie`` and coatcheck's own
    key; ``{}`` for no record (or anything that is not a mapping). A copy (a store may hand
    out an object it keeps), made in one C call: this runs on every load."""
    if not is_mapping(record):
        return {}
    data = dict(record)
    for key in RECORD_KEYS:
        data.pop(key, None)
    return data


def data_json(data: Mapping[str, Any]) -> str:
    """The JSON text of session data (order kept), without a ``Session``'s access tracking."""
    plain = dict(dict.items(data)) if isinstance(data, dict) else dict(data)
    return to_json(plain)


@dataclass(frozen=True)
class Changes:
    """This request's top-level changes since its snapshot."""

    changed: frozenset[str]  # set or changed (the value differs as JSON)
    deleted: frozenset[str]  # present in the snapshot, gone now

    def __bool__(self) -> bool:
        return bool(self.changed or self.deleted)


def changes_since(snapshot_text: str, data: dict[str, Any]) -> Changes:
    """Which top-level keys of ``data`` differ from the snapshot's JSON text.

    Values are compared as JSON text, so ``1`` and ``True`` (equal in Python) differ, and a
    tuple equals the list it is stored as.
    """
    snapshot: dict[str, Any] = json.loads(snapshot_text)
    changed = frozenset(
        key
        for key, value in dict.items(data)  # plain items: no access tracking on a Session
        if key not in snapshot or to_json(value) != to_json(snapshot[key])
    )
    deleted = frozenset(key for key in snapshot if key not in data)
    return Changes(changed, deleted)


def merged_data(fresh: Mapping[str, Any], data: dict[str, Any], changes: Changes) -> dict[str, Any]:
    """The fresh record's data (cookie excluded, order kept) with ``changes`` re-applied from
    ``data``: this request's value wins for the keys it touched; new keys go last."""
    merged = {
        key: value for key, value in fresh.items() if key != "cookie" and key not in changes.deleted
    }
    for key, value in dict.items(data):  # in this request's order, untracked
        if key in changes.changed:
            merged[key] = value
    return merged


def cookie_settings(cookie: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored cookie without its sliding part (``expires``): the settings someone chose."""
    return {} if cookie is None else {k: v for k, v in cookie.items() if k != "expires"}


def theirs_wins_cookie(
    snapshot: Mapping[str, Any] | None, mine: Mapping[str, Any], theirs: Mapping[str, Any]
) -> bool:
    """Take the stored cookie only when the other writer changed its settings and this request
    did not (``cookie.max_age = ...`` is a change like any key; a touch is not)."""
    base = cookie_settings(snapshot)
    return cookie_settings(theirs) != base and cookie_settings(mine) == base
