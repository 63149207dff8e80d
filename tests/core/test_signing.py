"""Signing: express-session's cookie value, byte for byte (behaviour §10), through itsdangerous."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coatcheck import SessionConfig
from coatcheck._cookies import cookie_values, encode_uri_component
from coatcheck._signing import ExpressSigner, sign_session_id, unsign_cookie_value

from .cycle import SECRET, express_sign

secrets_lists = st.lists(
    st.one_of(st.text(min_size=1), st.binary(min_size=1)), min_size=1, max_size=4
)


@pytest.mark.parametrize(
    ("sid", "secret", "cookie_value"),
    [
        ("apple", SECRET, "s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU"),
        ("%", SECRET, "s%3A%25.kzQ6x52kKVdF35Qh62AWk4ZekS28K5XYCXKa%2FOTZ01g"),
        ("/foo", SECRET, "s%3A%2Ffoo.paEKBtAHbV5s1IB8B2zPnzAgYmmnRPIqObW4VRYj%2FMQ"),
        ("sid2", "new secret", "s%3Asid2.f%2F%2F%2FRIGV%2BX00S9boONmN1FGXd42KQ6851xjNr%2F3BF60"),
    ],
)
def test_express_test_vectors(sid: str, secret: str, cookie_value: str) -> None:
    signer = ExpressSigner([secret])
    assert encode_uri_component(sign_session_id(sid, signer)) == cookie_value
    (raw,) = cookie_values(f"connect.sid={cookie_value}", "connect.sid")
    assert unsign_cookie_value(raw, signer) == sid


def test_signature_is_standard_base64_without_padding() -> None:
    value = sign_session_id("apple", ExpressSigner([SECRET]))
    signature = value.rsplit(".", 1)[1]
    assert len(signature) == 43
    assert "=" not in signature
    assert value == "s:" + express_sign("apple", SECRET)


def test_bytes_and_str_secrets_sign_alike() -> None:
    assert sign_session_id("x", ExpressSigner([b"keyboard cat"])) == sign_session_id(
        "x", ExpressSigner([SECRET])
    )


def test_rotation_signs_with_the_first_secret_and_verifies_with_any() -> None:
    signer = ExpressSigner(["new", "older", "oldest"])
    assert sign_session_id("sid", signer) == "s:" + express_sign("sid", "new")
    for secret in ("new", "older", "oldest"):
        assert unsign_cookie_value("s:" + express_sign("sid", secret), signer) == "sid"
    assert unsign_cookie_value("s:" + express_sign("sid", "retired"), signer) is None


@pytest.mark.parametrize(
    "raw",
    [
        "sid",  # a bare id: never adopted
        express_sign("sid", SECRET),  # correctly signed but without the "s:" prefix
        "s:sid",  # no signature at all
        "s:sid.",  # empty signature
        "s:" + express_sign("sid", SECRET) + "x",
        "s:" + express_sign("sid", SECRET)[:-1],
        "",
    ],
)
def test_unsigned_or_forged_values_are_never_adopted(raw: str) -> None:
    assert unsign_cookie_value(raw, ExpressSigner([SECRET])) is None


def test_ids_containing_dots_split_at_the_last_dot() -> None:
    signer = ExpressSigner([SECRET])
    value = sign_session_id("a.b.c", signer)
    assert value == "s:" + express_sign("a.b.c", SECRET)
    assert unsign_cookie_value(value, signer) == "a.b.c"


@given(sid=st.text(), secrets=secrets_lists, signing_position=st.integers(min_value=0))
def test_sign_then_unsign_round_trips(
    sid: str, secrets: list[str | bytes], signing_position: int
) -> None:
    signer = ExpressSigner(secrets)
    assert unsign_cookie_value(sign_session_id(sid, signer), signer) == sid
    # a cookie signed with any one of the secrets verifies (rotation)
    one = secrets[signing_position % len(secrets)]
    assert unsign_cookie_value(sign_session_id(sid, ExpressSigner([one])), signer) == sid


@given(sid=st.text(), secrets=secrets_lists)
def test_round_trip_through_the_cookie_header(sid: str, secrets: list[str | bytes]) -> None:
    signer = ExpressSigner(secrets)
    header = "a=1; connect.sid=" + encode_uri_component(sign_session_id(sid, signer))
    (raw,) = cookie_values(header, "connect.sid")
    assert unsign_cookie_value(raw, signer) == sid


@given(sid=st.text(), secrets=secrets_lists, data=st.data())
def test_any_single_character_change_never_verifies(
    sid: str, secrets: list[str | bytes], data: st.DataObject
) -> None:
    signer = ExpressSigner(secrets)
    value = sign_session_id(sid, signer)
    position = data.draw(st.integers(min_value=0, max_value=len(value) - 1), label="position")
    replacement = data.draw(st.characters().filter(lambda c: c != value[position]), label="char")
    tampered = value[:position] + replacement + value[position + 1 :]
    assert unsign_cookie_value(tampered, signer) is None


def test_config_cookie_value_and_session_id_from() -> None:
    """The public pair adapters use (Django's ``session_key`` is the cookie value)."""
    config = SessionConfig.from_options(
        secret=[SECRET, "old"], resave=False, save_uninitialized=False
    )
    vector = "s%3Aapple.D8Y%2BpkTAmeR0PobOhY4G97PRW%2Bj7bUnP%2F5m6%2FOn1MCU"
    assert config.cookie_value("apple") == vector
    assert config.session_id_from(vector) == "apple"
    assert config.session_id_from("s:" + express_sign("apple", SECRET)) == "apple"
    assert config.session_id_from("s:" + express_sign("apple", "old")) == "apple"
    assert config.session_id_from("apple") is None
    assert config.session_id_from("s:" + express_sign("apple", "unknown")) is None
    assert config.session_id_from("%") is None


@given(value=st.text(), secrets=secrets_lists)
def test_fast_unsign_agrees_with_itsdangerous(value: str, secrets: list[str | bytes]) -> None:
    """``unsign_id`` (the hot path) and itsdangerous's own ``unsign`` accept the same values."""
    from itsdangerous import BadSignature

    signer = ExpressSigner(secrets)
    for text in (value, "s:" + value, sign_session_id(value, signer)):
        try:
            expected: str | None = None
            if text.startswith("s:"):
                expected = signer.unsign(text[2:].encode("utf-8")).decode("utf-8")
        except (BadSignature, UnicodeError):
            expected = None
        assert unsign_cookie_value(text, signer) == expected


@given(sid=st.text(), secrets=secrets_lists)
def test_fast_sign_agrees_with_itsdangerous_sign(sid: str, secrets: list[str | bytes]) -> None:
    signer = ExpressSigner(secrets)
    assert sign_session_id(sid, signer) == "s:" + signer.sign(sid).decode("utf-8")
