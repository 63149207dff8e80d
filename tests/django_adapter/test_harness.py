"""The scenario harnesses themselves: routes under a narrower cookie path, and ``/outside``."""

from __future__ import annotations

import pytest

from tests.scenarios.test_scenarios import World


@pytest.mark.parametrize("adapter", ["django_adapter", "django_adapter.async_stack"])
def test_routes_follow_a_narrow_cookie_path(adapter: str) -> None:
    world = World(adapter, cookie={"path": "/app"})
    outside = world.get("/outside")
    assert outside.body == {"has_session": False}
    assert outside.set_cookies == []
    inside = world.get("/app/incr")
    assert inside.body == {"n": 1}
    assert "; Path=/app;" in inside.set_cookies[0]
    assert world.store.methods() == ["set"]
