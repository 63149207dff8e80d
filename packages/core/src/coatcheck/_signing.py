"""Cookie signing in express-session's format (cookie-signature 1.0.7), through itsdangerous.

Cookie value = ``"s:" + sid + "." + base64(HMAC-SHA256(secret, sid))`` with the standard base64
alphabet and no ``=`` padding. express signs with the *first* secret and verifies with every one in
order (rotation); itsdangerous signs with the *last* key, so the key list is handed over reversed.
Verification is an exact, constant-time comparison of the signature text, as cookie-signature's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence

from itsdangerous import BadSignature, Signer
from itsdangerous.encoding import want_bytes

#: The prefix express puts before a signed id; an unprefixed value is never adopted.
SIGNED_PREFIX = "s:"


class ExpressSigner(Signer):
    """itsdangerous's ``Signer`` speaking cookie-signature's base64 dialect."""

    def __init__(self, secrets: Sequence[str | bytes]) -> None:
        super().__init__(
            list(reversed([want_bytes(s) for s in secrets])),
            sep=".",
            key_derivation="none",
            digest_method=hashlib.sha256,
        )
        self._keyed: dict[bytes, hmac.HMAC] = {}

    def _signature_for(self, key: bytes, value: bytes) -> bytes:
        # One keyed HMAC per secret, copied per use: skips re-keying on every request.
        base = self._keyed.get(key)
        if base is None:
            base = self._keyed[key] = hmac.new(key, digestmod=hashlib.sha256)
        mac = base.copy()
        mac.update(value)
        return base64.b64encode(mac.digest()).rstrip(b"=")

    def get_signature(self, value: str | bytes) -> bytes:
        return self._signature_for(self.derive_key(), want_bytes(value))

    def verify_signature(self, value: str | bytes, sig: str | bytes) -> bool:
        # reversed(secret_keys) is the user's order: first secret first, as express tries them.
        value_b, sig_b = want_bytes(value), want_bytes(sig)
        return any(
            hmac.compare_digest(self._signature_for(self.derive_key(key), value_b), sig_b)
            for key in reversed(self.secret_keys)
        )


def sign_session_id(sid: str, signer: ExpressSigner) -> str:
    """The raw (not yet URL-encoded) cookie value for ``sid``: ``s:<sid>.<signature>``."""
    return SIGNED_PREFIX + signer.sign(sid).decode("utf-8")


def unsign_cookie_value(value: str, signer: ExpressSigner) -> str | None:
    """The session id inside a raw cookie value, or ``None`` if it is unsigned or forged."""
    if not value.startswith(SIGNED_PREFIX):
        return None
    try:
        return signer.unsign(value[len(SIGNED_PREFIX) :].encode("utf-8")).decode("utf-8")
    except (BadSignature, UnicodeError):
        return None
