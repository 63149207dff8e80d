"""Cookie signing in express-session's format (cookie-signature 1.0.7), through itsdangerous.

Cookie value = ``"s:" + sid + "." + base64(HMAC-SHA256(secret, sid))`` with the standard base64
alphabet and no ``=`` padding. express signs with the *first* secret and verifies with every one in
order (rotation); itsdangerous signs with the *last* key, so the key list is handed over reversed.
Verification is an exact, constant-time comparison of the signature text, as cookie-signature's.

The keys are prepared once, when the signer is built (itsdangerous's ``key_derivation="none"``:
the secret *is* the HMAC key, as in cookie-signature); a request then costs one HMAC per secret
tried, computed by OpenSSL in one call.
"""

from __future__ import annotations

import hashlib
import hmac
from binascii import b2a_base64
from collections.abc import Sequence
from typing import Any

from itsdangerous import Signer
from itsdangerous.encoding import want_bytes

#: The prefix express puts before a signed id; an unprefixed value is never adopted.
SIGNED_PREFIX = "s:"
#: base64 of a SHA-256 digest is 44 characters, the last one "=" padding that express drops.
_SIGNATURE_LENGTH = 43


try:  # OpenSSL's HMAC object itself: keyed once, ``copy()`` is then a single C call
    from _hashlib import hmac_new as _keyed_hmac
except ImportError:  # pragma: no cover - Python built without OpenSSL
    _keyed_hmac = hmac.new  # type: ignore[assignment]


def _keyed(key: bytes) -> Any:
    """An HMAC-SHA256 already keyed with ``key`` (the key schedule is computed here, once)."""
    return _keyed_hmac(key, b"", "sha256")


def _signature(keyed: Any, value: bytes) -> bytes:
    """cookie-signature's signature: standard base64 of HMAC-SHA256, no padding."""
    mac = keyed.copy()
    mac.update(value)
    return b2a_base64(mac.digest(), newline=False)[:_SIGNATURE_LENGTH]


class ExpressSigner(Signer):
    """itsdangerous's ``Signer`` speaking cookie-signature's base64 dialect.

    ``sign_id`` / ``unsign_id`` are the hot path the core uses (str in, str out, no
    intermediate objects); ``sign`` / ``unsign`` of itsdangerous give the same results.
    """

    def __init__(self, secrets: Sequence[str | bytes]) -> None:
        super().__init__(
            list(reversed([want_bytes(s) for s in secrets])),
            sep=".",
            key_derivation="none",
            digest_method=hashlib.sha256,
        )
        #: the user's order: the first secret signs, all verify in this order (express)
        self._keys: tuple[Any, ...] = tuple(_keyed(key) for key in reversed(self.secret_keys))
        self._signing_key = self._keys[0]

    def get_signature(self, value: str | bytes) -> bytes:
        return _signature(self._signing_key, want_bytes(value))

    def verify_signature(self, value: str | bytes, sig: str | bytes) -> bool:
        value_b, sig_b = want_bytes(value), want_bytes(sig)
        return any(hmac.compare_digest(_signature(k, value_b), sig_b) for k in self._keys)

    def sign_id(self, sid: str) -> str:
        """``s:<sid>.<signature>`` (not yet URL-encoded)."""
        signature = _signature(self._signing_key, sid.encode("utf-8"))
        return f"{SIGNED_PREFIX}{sid}.{signature.decode('ascii')}"

    def unsign_id(self, value: str) -> str | None:
        """The id inside ``s:<sid>.<signature>``, or ``None`` if unsigned or forged.

        The same checks as itsdangerous's ``unsign``: split at the last ``.``, then a
        constant-time comparison against each secret's signature, first secret first.
        """
        if not value.startswith(SIGNED_PREFIX):
            return None
        try:
            raw = value.encode("utf-8")
        except UnicodeError:
            return None
        sid, dot, sig = raw[2:].rpartition(b".")
        if not dot:
            return None
        for key in self._keys:
            if hmac.compare_digest(_signature(key, sid), sig):
                return sid.decode("utf-8")
        return None


def sign_session_id(sid: str, signer: ExpressSigner) -> str:
    """The raw (not yet URL-encoded) cookie value for ``sid``: ``s:<sid>.<signature>``."""
    return signer.sign_id(sid)


def unsign_cookie_value(value: str, signer: ExpressSigner) -> str | None:
    """The session id inside a raw cookie value, or ``None`` if it is unsigned or forged."""
    return signer.unsign_id(value)
