"""Verifying ``<pair-success>``: the ADV device identity the primary device signed (sans-I/O).

1. ``ADVSignedDeviceIdentityHMAC``: HMAC-SHA256(adv secret, [06 05 if hosted] | details) must
   match, else :class:`~wamd.errors.PairHMACMismatch`;
2. ``ADVSignedDeviceIdentity``: the account signature over ``06 00 | details | identity pub``
   (``06 05`` for hosted devices) must verify with the account signature key, else
   :class:`~wamd.errors.PairSignatureMismatch`;
3. this device signs ``06 01 | details | identity pub | account signature key`` with its
   identity key; the reply (``pair-device-sign``) carries the identity without the account
   signature key.
"""

from __future__ import annotations

import hmac as _hmac
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError as ProtoDecodeError

from wamd.crypto import KeyPair, hmac_sha256, verify_signature
from wamd.errors import PairHMACMismatch, PairSignatureMismatch, PairVerificationError
from wamd.proto import adv_pb2

__all__ = [
    "ACCOUNT_SIGNATURE_PREFIX",
    "DEVICE_SIGNATURE_PREFIX",
    "HOSTED_ACCOUNT_SIGNATURE_PREFIX",
    "VerifiedIdentity",
    "verify_pair_success",
]

ACCOUNT_SIGNATURE_PREFIX = b"\x06\x00"
DEVICE_SIGNATURE_PREFIX = b"\x06\x01"
HOSTED_ACCOUNT_SIGNATURE_PREFIX = b"\x06\x05"


@dataclass(frozen=True, slots=True)
class VerifiedIdentity:
    """The result of a verified ``pair-success``.

    ``account`` is the serialized ``ADVSignedDeviceIdentity`` to store (with the account
    signature key and this device's signature); ``reply`` the same without the account
    signature key, for ``<pair-device-sign><device-identity key-index=..>``;
    ``primary_identity`` the 32-byte identity key of the account's primary device.
    """

    account: bytes = field(repr=False)
    reply: bytes = field(repr=False)
    key_index: int
    primary_identity: bytes = field(repr=False)
    hosted: bool


def verify_pair_success(
    device_identity: bytes, adv_secret: bytes, identity: KeyPair
) -> VerifiedIdentity:
    """Verify the ``<device-identity>`` bytes of a ``pair-success`` and countersign them.

    Raises :class:`PairHMACMismatch`, :class:`PairSignatureMismatch`, or
    :class:`PairVerificationError` (code 500) for malformed data.
    """
    container = adv_pb2.ADVSignedDeviceIdentityHMAC()
    signed = adv_pb2.ADVSignedDeviceIdentity()
    details = adv_pb2.ADVDeviceIdentity()
    try:
        container.ParseFromString(device_identity)
    except ProtoDecodeError as exc:
        raise PairVerificationError(f"malformed device identity container: {exc}") from None
    if not container.HasField("details") or not container.HasField("hmac"):
        raise PairVerificationError("device identity container lacks details or hmac")

    hosted_account = container.account_type == adv_pb2.HOSTED
    mac_input = (HOSTED_ACCOUNT_SIGNATURE_PREFIX if hosted_account else b"") + container.details
    if not _hmac.compare_digest(hmac_sha256(adv_secret, mac_input), container.hmac):
        raise PairHMACMismatch("device identity HMAC does not match the adv secret")

    try:
        signed.ParseFromString(container.details)
        details.ParseFromString(signed.details)
    except ProtoDecodeError as exc:
        raise PairVerificationError(f"malformed signed device identity: {exc}") from None

    account_key = signed.account_signature_key
    account_signature = signed.account_signature
    if len(account_key) != 32 or len(account_signature) != 64:
        raise PairSignatureMismatch("account signature key or signature has the wrong length")
    hosted_device = details.device_type == adv_pb2.HOSTED
    prefix = HOSTED_ACCOUNT_SIGNATURE_PREFIX if hosted_device else ACCOUNT_SIGNATURE_PREFIX
    message = prefix + signed.details + identity.public
    if not verify_signature(account_key, message, account_signature):
        raise PairSignatureMismatch("account signature on the device identity is invalid")

    signed.device_signature = identity.sign(
        DEVICE_SIGNATURE_PREFIX + signed.details + identity.public + account_key
    )
    account = signed.SerializeToString()
    signed.ClearField("account_signature_key")
    reply = signed.SerializeToString()
    return VerifiedIdentity(
        account=account,
        reply=reply,
        key_index=details.key_index,
        primary_identity=bytes(account_key),
        hosted=hosted_device,
    )
