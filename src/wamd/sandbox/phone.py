"""The simulated primary phone of sandbox accounts (sans-I/O).

Every sandbox account has a phone that never runs anywhere: it is a set of keys in the state
database. Its identity key is also the account's ADV signature key, so it can:

* "scan" a QR code (:func:`parse_qr`) and sign the companion's identity
  (:func:`sign_companion`), then check the companion's countersignature
  (:func:`check_countersignature`);
* run the primary side of phone-number pairing (:class:`PrimaryLinkCode`): unwrap the
  companion's ephemeral key with the code the user "typed", answer with its own wrapped
  ephemeral key, and derive the adv secret from the companion's encrypted key bundle.

This module never decrypts user traffic; :mod:`wamd.sandbox.phone_reader` reads the media
messages addressed to the phone (device 0), as a real phone would, to answer media retries.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import os
import secrets
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError as ProtobufDecodeError

from wamd.crypto import (
    KeyPair,
    aes_gcm_decrypt,
    hkdf_sha256,
    hmac_sha256,
    verify_signature,
)
from wamd.errors import CryptoError, PairingError
from wamd.pairing.adv import ACCOUNT_SIGNATURE_PREFIX, DEVICE_SIGNATURE_PREFIX
from wamd.pairing.code import (
    ADV_SECRET_INFO,
    CODE_ALPHABET,
    KEY_BUNDLE_INFO,
    unwrap_ephemeral,
    wrap_ephemeral,
)
from wamd.proto import adv_pb2
from wamd.sandbox.state import Account

QR_PREFIX = "https://wa.me/settings/linked_devices#"
KEY_BUNDLE_TYPE = b"\x05"


@dataclass(frozen=True, slots=True)
class ScannedQR:
    """The content of a companion's QR code."""

    ref: str
    noise_public: bytes
    identity_public: bytes
    adv_secret: bytes = field(repr=False)
    client_type: str | None


def _b64_key(text: str, what: str) -> bytes:
    try:
        value = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise PairingError(f"QR {what} is not base64") from exc
    if len(value) != 32:
        raise PairingError(f"QR {what} is not 32 bytes")
    return value


def parse_qr(text: str) -> ScannedQR:
    """Read a QR text: ``[https://wa.me/settings/linked_devices#]ref,noise,identity,adv[,type]``.

    Raises :class:`PairingError` when it is not a companion QR code.
    """
    body = text.strip()
    if body.startswith(QR_PREFIX):
        body = body[len(QR_PREFIX) :]
    parts = body.split(",")
    if len(parts) not in (4, 5) or not parts[0]:
        raise PairingError("not a WhatsApp companion QR code")
    return ScannedQR(
        ref=parts[0],
        noise_public=_b64_key(parts[1], "noise key"),
        identity_public=_b64_key(parts[2], "identity key"),
        adv_secret=_b64_key(parts[3], "adv secret"),
        client_type=parts[4] if len(parts) == 5 else None,
    )


def new_account(phone: str, lid: str, now: int) -> Account:
    """A new account with fresh phone keys: identity (= ADV key), registration id, signed prekey."""
    identity = KeyPair.generate()
    signed_prekey = KeyPair.generate()
    return Account(
        phone=phone,
        lid=lid,
        identity_private=identity.private,
        registration_id=secrets.randbelow(16380) + 1,
        signed_prekey_private=signed_prekey.private,
        signed_prekey_signature=identity.sign(KEY_BUNDLE_TYPE + signed_prekey.public),
        adv_raw_id=secrets.randbelow(2**31) + 1,
        next_device=1,
        next_key_index=1,
        push_name="",
        banned_until=0,
        ban_code=0,
        outdated=False,
        created=now,
    )


def new_lid() -> str:
    """A random LID user (15 digits, like WhatsApp's)."""
    return str(10**14 + secrets.randbelow(9 * 10**14))


@dataclass(frozen=True, slots=True)
class SignedCompanion:
    """The phone's signature over a companion's identity, ready for ``<pair-success>``."""

    details: bytes
    """Serialized ``ADVDeviceIdentity``."""
    account_signature: bytes
    account_public: bytes
    key_index: int
    device_identity: bytes = field(repr=False)
    """Serialized ``ADVSignedDeviceIdentityHMAC``: the ``<device-identity>`` content."""


def sign_companion(
    account: Account,
    companion_identity: bytes,
    *,
    key_index: int,
    adv_secret: bytes,
    timestamp: int,
) -> SignedCompanion:
    """Sign a companion's identity key with the account's ADV key and wrap it in the HMAC
    container keyed with the companion's adv secret."""
    identity = KeyPair.from_private(account.identity_private)
    details = adv_pb2.ADVDeviceIdentity(
        raw_id=account.adv_raw_id,
        timestamp=timestamp,
        key_index=key_index,
        account_type=adv_pb2.E2EE,
        device_type=adv_pb2.E2EE,
    ).SerializeToString()
    signature = identity.sign(ACCOUNT_SIGNATURE_PREFIX + details + companion_identity)
    signed = adv_pb2.ADVSignedDeviceIdentity(
        details=details,
        account_signature_key=identity.public,
        account_signature=signature,
    ).SerializeToString()
    container = adv_pb2.ADVSignedDeviceIdentityHMAC(
        details=signed,
        hmac=hmac_sha256(adv_secret, signed),
        account_type=adv_pb2.E2EE,
    ).SerializeToString()
    return SignedCompanion(details, signature, identity.public, key_index, container)


def check_countersignature(
    reply: bytes, signed: SignedCompanion, companion_identity: bytes
) -> bytes:
    """Check the companion's ``<pair-device-sign>`` answer; return the complete
    ``ADVSignedDeviceIdentity`` (details, account key and signature, device signature) to store.

    Raises :class:`PairingError` when the answer is malformed, is about other details, or its
    device signature does not verify with the companion's identity key.
    """
    message = adv_pb2.ADVSignedDeviceIdentity()
    try:
        message.ParseFromString(reply)
    except ProtobufDecodeError as exc:
        raise PairingError("malformed device identity in pair-device-sign") from exc
    if message.details != signed.details:
        raise PairingError("pair-device-sign is about other device details")
    if not hmac.compare_digest(message.account_signature, signed.account_signature):
        raise PairingError("pair-device-sign carries another account signature")
    signed_data = (
        DEVICE_SIGNATURE_PREFIX + signed.details + companion_identity + signed.account_public
    )
    if not verify_signature(companion_identity, signed_data, message.device_signature):
        raise PairingError("companion's device signature does not verify")
    return adv_pb2.ADVSignedDeviceIdentity(
        details=signed.details,
        account_signature_key=signed.account_public,
        account_signature=signed.account_signature,
        device_signature=message.device_signature,
    ).SerializeToString()


def normalize_code(code: str) -> str:
    """``abcd-efgh`` -> ``ABCDEFGH``; :class:`PairingError` unless 8 pairing-alphabet chars."""
    cleaned = code.replace("-", "").replace(" ", "").upper()
    if len(cleaned) != 8 or any(c not in CODE_ALPHABET for c in cleaned):
        raise PairingError("a pairing code is 8 characters like ABCD-EFGH")
    return cleaned


class PrimaryLinkCode:
    """The phone's side of one phone-number pairing, once the user typed ``code``.

    Deriving the code key (PBKDF2, 131,072 rounds) takes tens of milliseconds: build this
    object in a worker thread.
    """

    __slots__ = ("_account", "_companion_ephemeral", "_ephemeral", "wrapped_primary_ephemeral")

    def __init__(self, account: Account, code: str, wrapped_companion_ephemeral: bytes) -> None:
        code = normalize_code(code)
        self._account = KeyPair.from_private(account.identity_private)
        self._companion_ephemeral = unwrap_ephemeral(code, wrapped_companion_ephemeral)
        self._ephemeral = KeyPair.generate()
        self.wrapped_primary_ephemeral = wrap_ephemeral(
            code, self._ephemeral.public, salt=os.urandom(32), iv=os.urandom(16)
        )
        """``link_code_pairing_wrapped_primary_ephemeral_pub`` for the companion."""

    def __repr__(self) -> str:
        return "PrimaryLinkCode()"

    @property
    def primary_identity_public(self) -> bytes:
        """``primary_identity_pub`` for the companion."""
        return self._account.public

    def finish(self, wrapped_key_bundle: bytes, companion_identity: bytes) -> bytes:
        """Open the companion's key bundle and return the adv secret.

        Raises :class:`PairingError` when the bundle does not decrypt (the code typed on the
        phone is not the one the companion shows) or names other keys.
        """
        if len(wrapped_key_bundle) < 32 + 12 + 16 or len(companion_identity) != 32:
            raise PairingError("malformed companion key bundle")
        salt, iv, ciphertext = (
            wrapped_key_bundle[:32],
            wrapped_key_bundle[32:44],
            wrapped_key_bundle[44:],
        )
        try:
            shared = self._ephemeral.dh(self._companion_ephemeral)
            key = hkdf_sha256(shared, 32, salt=salt, info=KEY_BUNDLE_INFO)
            bundle = aes_gcm_decrypt(key, iv, ciphertext)
        except (CryptoError, ValueError) as exc:
            raise PairingError("companion key bundle does not decrypt (wrong code?)") from exc
        if len(bundle) != 96:
            raise PairingError("companion key bundle has the wrong size")
        if not hmac.compare_digest(bundle[:32], companion_identity):
            raise PairingError("companion key bundle names another identity key")
        if not hmac.compare_digest(bundle[32:64], self._account.public):
            raise PairingError("companion key bundle names another primary identity")
        try:
            identity_shared = self._account.dh(companion_identity)
        except (CryptoError, ValueError) as exc:
            raise PairingError("invalid companion identity key") from exc
        return hkdf_sha256(shared + identity_shared + bundle[64:], 32, info=ADV_SECRET_INFO)
