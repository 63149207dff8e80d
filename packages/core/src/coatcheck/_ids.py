"""Session id generation: uid-safe's 24 random bytes, base64url, 32 characters (192 bits)."""

from __future__ import annotations

import secrets
from typing import Any


def default_genid(request: Any = None) -> str:
    """express's default ``genid``; ``request`` is accepted (and ignored) like ``genid(req)``."""
    return secrets.token_urlsafe(24)
