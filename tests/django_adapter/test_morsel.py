"""``ExactMorsel``: the core's Set-Cookie string through Django's ``response.cookies``."""

from __future__ import annotations

import pickle
from http.cookies import SimpleCookie

from coatcheck_django._morsel import ExactMorsel

HEADER = (
    "sid=s%3Aid1.abc%2Fdef; Domain=example.com; Path=/; Expires=Fri, 27 Nov 2026 22:57:24 GMT; "
    "HttpOnly; Secure; Partitioned; Priority=High; SameSite=Lax"
)


def test_it_renders_the_exact_string_and_exposes_the_attributes() -> None:
    morsel = ExactMorsel(HEADER)
    assert morsel.output(header="").strip() == HEADER
    assert morsel.OutputString() == HEADER
    assert (morsel.key, morsel.value, morsel.coded_value) == ("sid", *["s%3Aid1.abc%2Fdef"] * 2)
    assert morsel["domain"] == "example.com"
    assert morsel["expires"] == "Fri, 27 Nov 2026 22:57:24 GMT"
    assert morsel["httponly"] is True
    assert morsel["samesite"] == "Lax"


def test_a_cookie_jar_sends_back_only_the_pair() -> None:
    jar = SimpleCookie()
    jar.update({"sid": ExactMorsel(HEADER)})
    assert "; ".join(f"{m.key}={m.coded_value}" for m in jar.values()) == "sid=s%3Aid1.abc%2Fdef"


def test_an_edit_falls_back_to_morsel_s_rendering() -> None:
    morsel = ExactMorsel(HEADER)
    morsel["max-age"] = 0  # what response.delete_cookie() would do
    rendered = morsel.OutputString()
    assert rendered != HEADER
    assert "Max-Age=0" in rendered


def test_it_survives_pickling_for_the_cache_middleware() -> None:
    copy = pickle.loads(pickle.dumps(ExactMorsel(HEADER)))
    assert copy.OutputString() == HEADER
    assert copy["domain"] == "example.com"
