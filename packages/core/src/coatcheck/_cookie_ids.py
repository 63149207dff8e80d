"""The verified session id a request's Cookie header carries, remembered per header.

Parsing the header and checking candidates' HMACs is a tenth of a request's session work, and a
returning browser sends the same header request after request. The answer is a pure function of
the header, the cookie's name and the secrets (all fixed for one config), so it is kept for the
most recent distinct headers: forged or unsigned values too (as "no id"), so repeating one bad
header costs one check. A flood of distinct headers only refills the table; headers longer than
any real session cookie plus its neighbours are never kept, which bounds its memory.
"""

from __future__ import annotations

from collections.abc import Iterable

from ._cookies import MAX_COOKIE_CANDIDATES, cookie_values
from ._signing import ExpressSigner

#: Distinct headers remembered (about 1 MiB at most); the table is emptied when full.
REMEMBERED = 2048
#: Longer headers are read every time (a session cookie is ~100 characters).
LONGEST_REMEMBERED = 512


class CookieIds:
    """``read(header)``: whether the request carried cookies of our name, and the first id
    among the first ``MAX_COOKIE_CANDIDATES`` of them whose signature verifies (express
    takes the first, #881)."""

    __slots__ = ("_name", "_seen", "_signer")

    def __init__(self, name: str, signer: ExpressSigner) -> None:
        self._name = name
        self._signer = signer
        self._seen: dict[str, tuple[bool, str | None]] = {}

    def read(self, headers: str | Iterable[str] | None) -> tuple[bool, str | None]:
        if headers is None:
            return False, None
        if not isinstance(headers, str):
            headers = "; ".join(headers)
        seen = self._seen.get(headers)
        if seen is not None:
            return seen
        answer = self._verify(cookie_values(headers, self._name))
        if len(headers) <= LONGEST_REMEMBERED:
            if len(self._seen) >= REMEMBERED:
                self._seen.clear()
            self._seen[headers] = answer
        return answer

    def _verify(self, values: list[str]) -> tuple[bool, str | None]:
        unsign = self._signer.unsign_id
        for value in values[:MAX_COOKIE_CANDIDATES]:
            sid = unsign(value)
            if sid:
                return True, sid
        return bool(values), None
