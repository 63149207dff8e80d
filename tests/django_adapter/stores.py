"""Stores named by dotted path in the tests' ``COATCHECK`` settings."""

from __future__ import annotations

from typing import Any

from coatcheck.stores import MemoryStore


class PruningStore(MemoryStore):
    """A MemoryStore with a ``prune()`` (as SQLiteStore has) that counts its calls."""

    def __init__(self, *, label: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.label = label
        self.pruned = 0

    def prune(self) -> int:
        self.pruned += 1
        return 0


class FailingWrites(MemoryStore):
    """Reads work, every write fails: the end-of-request save must become a 500."""

    def set(self, sid: str, record: Any) -> None:
        raise ConnectionError("store down")

    def set_if(self, sid: str, record: Any, version: Any, *, unlock: Any = None) -> bool:
        raise ConnectionError("store down")  # the conditional write of "merge" (the default)


class AsyncOnly:
    """An AsyncStore: Django reaches sessions from sync code, so the adapter refuses it."""

    async def get(self, sid: str) -> None:
        return None

    async def set(self, sid: str, record: Any) -> None:
        return None

    async def destroy(self, sid: str) -> None:
        return None
