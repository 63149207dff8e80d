"""The shared scenario table again, through Django's ASGI handler and async views, so the
middleware's ``__acall__`` path and the native ``a*`` methods meet the same expectations."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.scenarios import test_scenarios
from tests.scenarios.test_scenarios import World

# Collect every scenario here too; they use the ``world`` fixture below.
globals().update(
    {name: value for name, value in vars(test_scenarios).items() if name.startswith("test_")}
)


@pytest.fixture
def world() -> Callable[..., World]:
    return lambda **overrides: World("django_adapter.async_stack", **overrides)


def test_the_async_stack_really_runs_async_views() -> None:
    from tests.django_adapter.async_stack import harness

    assert all(callable(route) for route in harness.ROUTES.values())
    resp: Any = World("django_adapter.async_stack").get("/incr")
    assert resp.body == {"n": 1}
