"""Option values every config object shares: durations in seconds, and unknown option names
reported with the closest valid one (a typo is a ``ConfigError``, never a bare ``TypeError``)."""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from ._errors import ConfigError

#: The longest cookie lifetime accepted (either way): far beyond any real use (browsers cap at
#: 400 days), and small enough that ``now + max_age`` stays a representable ``datetime``.
MAX_LIFETIME_SECONDS = 1000 * 365.25 * 86400


def unknown_options(
    given: Iterable[str], valid: Iterable[str], *, option: str | None = None, kind: str = "option"
) -> ConfigError | None:
    """A ``ConfigError`` naming the unknown names in ``given``, each with the closest valid name
    (``save_unitialized`` -> ``save_uninitialized``, express's ``maxAge`` -> ``max_age``)."""
    valid = sorted(valid)
    unknown = sorted({str(name) for name in given} - set(valid))
    if not unknown:
        return None
    hints = []
    for name in unknown:
        snake = re.sub(r"(?<=[a-z0-9])([A-Z])", r"_\1", name).lower()  # express's camelCase
        close = [snake] if snake in valid else difflib.get_close_matches(snake, valid, n=1)
        if close:
            hints.append(f"{name} -> {close[0]}" if len(unknown) > 1 else close[0])
    message = f"unknown {kind}(s): {', '.join(unknown)}"
    if hints:
        message += f" (did you mean {', '.join(hints)}?)"
    return ConfigError(option or unknown[0], message)


def seconds(value: float | timedelta | None, option: str) -> float | None:
    """A duration option in seconds (``timedelta`` accepted), or ``None``."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        value = value.total_seconds()
    elif isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(option, f"must be a number of seconds or a timedelta, not {value!r}")
    if not math.isfinite(value):
        raise ConfigError(option, f"must be a finite number of seconds, not {value!r}")
    if abs(value) > MAX_LIFETIME_SECONDS:
        raise ConfigError(option, f"must be at most {MAX_LIFETIME_SECONDS:.0f} s (1000 years)")
    return float(value)


def positive_seconds_or_none(value: float | timedelta | None, option: str) -> float | None:
    lifetime = seconds(value, option)
    if lifetime is not None and lifetime <= 0:
        raise ConfigError(option, f"must be a positive number of seconds, not {value!r}")
    return lifetime


def positive_seconds(value: Any, option: str) -> float:
    """A duration option that must be given and more than zero seconds."""
    result = positive_seconds_or_none(value, option)
    if result is None:
        raise ConfigError(option, f"must be a positive number of seconds, not {value!r}")
    return result
