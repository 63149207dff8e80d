"""Fixtures shared by the core's tests."""

from __future__ import annotations

from typing import Any

import pytest

import coatcheck._signing


@pytest.fixture
def hmac_count(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """How many HMAC-SHA256 signatures the signer computes (one per candidate and secret)."""
    count = [0]
    real = coatcheck._signing._signature

    def counting(key: Any, value: bytes) -> bytes:
        count[0] += 1
        return real(key, value)

    monkeypatch.setattr(coatcheck._signing, "_signature", counting)
    return count
