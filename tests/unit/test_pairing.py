"""Pairing cores without sockets: QR text, phone-number code crypto, pair-success verification."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.unit.pairing_primary import PrimaryLinkCode, device_identity
from wamd.crypto import KeyPair, verify_signature
from wamd.errors import (
    PairHMACMismatch,
    PairingError,
    PairSignatureMismatch,
    PairVerificationError,
)
from wamd.events import QR
from wamd.pairing.adv import verify_pair_success
from wamd.pairing.code import (
    CODE_ALPHABET,
    CompanionLinkCode,
    encode_code,
    format_code,
    normalize_phone,
    unwrap_ephemeral,
    wrap_ephemeral,
)
from wamd.pairing.credentials import new_credentials, to_key_pair
from wamd.pairing.qr import qr_events, qr_text, render_terminal
from wamd.proto import adv_pb2

# --- QR ----------------------------------------------------------------------------------------


def test_qr_text_has_the_current_form() -> None:
    noise, ident, adv = bytes(range(32)), bytes(range(1, 33)), bytes(32)
    text = qr_text(b"2@abc+/=", noise, ident, adv, "1")
    prefix, _, rest = text.partition("#")
    assert prefix == "https://wa.me/settings/linked_devices"
    ref, n, i, a, client_type = rest.split(",")
    assert ref == "2@abc+/="
    assert base64.b64decode(n) == noise
    assert base64.b64decode(i) == ident
    assert base64.b64decode(a) == adv
    assert client_type == "1"


@pytest.mark.parametrize("ref", [b"", b"a,b", b"\xff\xfe"])
def test_qr_text_rejects_bad_refs(ref: bytes) -> None:
    with pytest.raises(PairingError):
        qr_text(ref, bytes(32), bytes(32), bytes(32), "1")


def test_qr_rotation_is_60_then_20_seconds() -> None:
    events = qr_events(["a", "b", "c"])
    assert [e.timeout for e in events] == [60.0, 20.0, 20.0]
    assert [e.remaining for e in events] == [2, 1, 0]
    assert [e.index for e in events] == [0, 1, 2]


def test_terminal_rendering_is_a_scannable_block() -> None:
    text = qr_text(b"ref", bytes(32), bytes(32), bytes(32), "1")
    drawing = render_terminal(text)
    lines = drawing.splitlines()
    assert len(lines) > 10
    assert len({len(line) for line in lines if line}) == 1  # a square block
    assert set(drawing) <= set("█▀▄ \n")
    assert QR(text, 60.0).render() == drawing


# --- phone-number code ----------------------------------------------------------------------


def test_code_alphabet_and_format() -> None:
    assert encode_code(bytes(5)) == "11111111"
    assert encode_code(b"\xff" * 5) == "ZZZZZZZZ"
    assert encode_code(bytes.fromhex("0123456789")) == "15JMBSWA"
    assert format_code("ABCDEFGH") == "ABCD-EFGH"
    assert len(set(CODE_ALPHABET)) == 32
    assert not set("0IOU") & set(CODE_ALPHABET)


@given(st.binary(min_size=5, max_size=5))
def test_code_encoding_is_injective(raw: bytes) -> None:
    code = encode_code(raw)
    value = 0
    for char in code:
        value = value * 32 + CODE_ALPHABET.index(char)
    assert value.to_bytes(5, "big") == raw


@pytest.mark.parametrize(
    ("phone", "digits"), [("+49 170 1234567", "491701234567"), ("1 (555) 010-0000", "15550100000")]
)
def test_phone_normalization(phone: str, digits: str) -> None:
    assert normalize_phone(phone) == digits


@pytest.mark.parametrize("phone", ["12345", "0170 1234567", ""])
def test_phone_rejects_short_or_national(phone: str) -> None:
    with pytest.raises(PairingError):
        normalize_phone(phone)


def test_wrap_unwrap_round_trip_and_wrong_code() -> None:
    pub = KeyPair.generate().public
    wrapped = wrap_ephemeral("ABCDEFGH", pub, salt=bytes(32), iv=bytes(16))
    assert len(wrapped) == 80
    assert unwrap_ephemeral("ABCDEFGH", wrapped) == pub
    assert unwrap_ephemeral("ABCDEFGJ", wrapped) != pub
    with pytest.raises(PairingError):
        unwrap_ephemeral("ABCDEFGH", wrapped[:79])


def test_companion_and_primary_agree_on_the_adv_secret() -> None:
    identity = KeyPair.generate()
    primary_identity = KeyPair.generate()
    link = CompanionLinkCode.start("+1 555 0100 000")
    assert link.phone == "15550100000"
    assert len(link.display_code) == 9
    assert link.display_code[4] == "-"
    primary = PrimaryLinkCode(link.code, link.wrapped_ephemeral, primary_identity)
    finish = link.finish(primary.wrapped, primary_identity.public, identity)
    assert primary.adv_secret(finish.wrapped_key_bundle, identity.public) == finish.adv_secret
    assert finish.adv_secret.hex() not in repr(finish)


def test_wrong_code_on_the_phone_breaks_the_bundle() -> None:
    from wamd.errors import CryptoError

    identity, primary_identity = KeyPair.generate(), KeyPair.generate()
    link = CompanionLinkCode.start("15550100000", code="ABCDEFGH")
    primary = PrimaryLinkCode("ABCDEFGJ", link.wrapped_ephemeral, primary_identity)
    finish = link.finish(primary.wrapped, primary_identity.public, identity)
    with pytest.raises(CryptoError):
        primary.adv_secret(finish.wrapped_key_bundle, identity.public)


def test_finish_rejects_malformed_primary_data() -> None:
    link = CompanionLinkCode.start("15550100000")
    with pytest.raises(PairingError):
        link.finish(bytes(80), bytes(31), KeyPair.generate())
    with pytest.raises(PairingError):
        link.finish(bytes(40), bytes(32), KeyPair.generate())
    with pytest.raises(ValueError, match="8 characters"):
        CompanionLinkCode.start("15550100000", code="abc")


# --- pair-success ---------------------------------------------------------------------------


def test_verify_pair_success_countersigns() -> None:
    account, identity, adv = KeyPair.generate(), KeyPair.generate(), bytes(range(32))
    data = device_identity(account, identity.public, adv, key_index=3)
    verified = verify_pair_success(data, adv, identity)
    assert verified.key_index == 3
    assert verified.primary_identity == account.public
    assert not verified.hosted
    stored = adv_pb2.ADVSignedDeviceIdentity.FromString(verified.account)
    reply = adv_pb2.ADVSignedDeviceIdentity.FromString(verified.reply)
    assert stored.account_signature_key == account.public
    assert not reply.HasField("account_signature_key")
    assert reply.device_signature == stored.device_signature
    assert verify_signature(
        identity.public,
        b"\x06\x01" + stored.details + identity.public + account.public,
        stored.device_signature,
    )
    assert account.public.hex() not in repr(verified)


def test_verify_pair_success_hosted_prefixes() -> None:
    account, identity, adv = KeyPair.generate(), KeyPair.generate(), bytes(32)
    verified = verify_pair_success(
        device_identity(account, identity.public, adv, hosted=True), adv, identity
    )
    assert verified.hosted


def test_verify_pair_success_hmac_mismatch() -> None:
    account, identity = KeyPair.generate(), KeyPair.generate()
    data = device_identity(account, identity.public, bytes(32))
    with pytest.raises(PairHMACMismatch) as info:
        verify_pair_success(data, bytes([1]) * 32, identity)
    assert (info.value.code, info.value.text) == (401, "hmac-mismatch")


def test_verify_pair_success_signature_mismatch() -> None:
    account, identity, adv = KeyPair.generate(), KeyPair.generate(), bytes(32)
    with pytest.raises(PairSignatureMismatch) as info:
        verify_pair_success(
            device_identity(account, identity.public, adv, bad_signature=True), adv, identity
        )
    assert (info.value.code, info.value.text) == (401, "signature-mismatch")
    # Signed for another companion identity: also a signature mismatch.
    other = device_identity(account, KeyPair.generate().public, adv)
    with pytest.raises(PairSignatureMismatch):
        verify_pair_success(other, adv, identity)


@given(st.binary(max_size=200))
def test_verify_pair_success_garbage_raises_typed_errors(data: bytes) -> None:
    with pytest.raises(PairVerificationError):
        verify_pair_success(data, bytes(32), KeyPair.generate())


def test_new_credentials_are_consistent_and_secret_free_in_repr() -> None:
    creds = new_credentials()
    identity = to_key_pair(creds.identity_key)
    assert identity.public == creds.identity_key.public
    spk = creds.signed_prekey
    assert verify_signature(identity.public, b"\x05" + spk.key_pair.public, spk.signature)
    assert 1 <= creds.registration_id <= 16380
    assert not creds.paired
    text = repr(creds)
    for secret in (creds.adv_secret_key, creds.identity_key.private, creds.noise_key.private):
        assert secret.hex() not in text
