"""Session ids at rest: what key a session is stored under (option ``id_at_rest``).

``"plain"`` (default): the key is the id itself, as connect-redis and connect-pg-simple store it,
so a Node app can share the store. ``"hmac"``: the key is ``base64url(HMAC-SHA256(k, id))`` with
``k`` derived from a secret, so a leaked dump, backup or replica of the store holds no usable
session id (Rack stores private ids for the same reason, CVE-2019-16782). Each secret has its own
key (derived once, here, at start-up); lookups try the current secret's first, and a session
found under an older one is moved to the current key on its next write.

The cycle asks this object for every key it hands the store; nothing else maps ids.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from typing import Literal

from itsdangerous.encoding import want_bytes

IdAtRest = Literal["plain", "hmac"]

#: Domain separation: the key that maps ids is never the key that signs cookies.
_DERIVATION_LABEL = b"coatcheck id-at-rest v1"


class IdsAtRest:
    """Maps a session id to its store key(s); immutable, so any number of middlewares share it."""

    __slots__ = ("_macs", "mode")

    def __init__(self, mode: IdAtRest, secrets: Sequence[str | bytes]) -> None:
        self.mode = mode
        macs: list[hmac.HMAC] = []
        if mode == "hmac":
            seen: set[bytes] = set()
            for secret in secrets:
                derived = hmac.digest(want_bytes(secret), _DERIVATION_LABEL, hashlib.sha256)
                if derived not in seen:  # a repeated secret would only repeat a lookup
                    seen.add(derived)
                    macs.append(hmac.new(derived, digestmod=hashlib.sha256))
        self._macs = tuple(macs)

    @property
    def plain(self) -> bool:
        return not self._macs

    def _mapped(self, mac: hmac.HMAC, sid: str) -> str:
        copy = mac.copy()
        copy.update(sid.encode("utf-8", "surrogatepass"))
        return base64.urlsafe_b64encode(copy.digest()).rstrip(b"=").decode("ascii")

    def key(self, sid: str) -> str:
        """The key a session is written under (the current secret's)."""
        return sid if not self._macs else self._mapped(self._macs[0], sid)

    @property
    def key_count(self) -> int:
        """How many keys a session may be stored under (one per distinct secret)."""
        return max(1, len(self._macs))

    def key_for(self, sid: str, index: int) -> str:
        """``sid``'s key under the ``index``-th secret (0: the current one)."""
        return sid if not self._macs else self._mapped(self._macs[index], sid)

    def lookup_keys(self, sid: str) -> tuple[str, ...]:
        """Every key ``sid`` may be stored under, the current one first."""
        if not self._macs:
            return (sid,)
        return tuple(self._mapped(mac, sid) for mac in self._macs)
