"""Signal key material: registration ids, one-time and signed prekeys, prekey bundles."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from wamd.crypto import KeyPair, djb_encode, verify_signature
from wamd.errors import CryptoError

MAX_PREKEY_ID = 0xFFFFFF
"""One-time and signed prekey ids are 24-bit numbers on the WhatsApp wire (1..0xFFFFFF)."""

__all__ = [
    "MAX_PREKEY_ID",
    "PreKey",
    "PreKeyBundle",
    "SignedPreKey",
    "generate_prekeys",
    "generate_registration_id",
    "generate_signed_prekey",
    "next_prekey_id",
]


def generate_registration_id() -> int:
    """A random registration id in 1..16380 (14 bits, as libsignal's key helpers make them)."""
    return secrets.randbelow(16380) + 1


def next_prekey_id(key_id: int, step: int = 1) -> int:
    """The prekey id ``step`` after ``key_id``, wrapping within 1..0xFFFFFF."""
    return (key_id - 1 + step) % MAX_PREKEY_ID + 1


@dataclass(frozen=True, slots=True)
class PreKey:
    """A one-time prekey: a 24-bit id and a key pair."""

    key_id: int
    key_pair: KeyPair

    def __post_init__(self) -> None:
        if not 0 <= self.key_id <= MAX_PREKEY_ID:
            raise ValueError(f"prekey id {self.key_id} does not fit in 24 bits")


@dataclass(frozen=True, slots=True)
class SignedPreKey:
    """A signed prekey: id, key pair and the XEdDSA signature over ``0x05 | public``."""

    key_id: int
    key_pair: KeyPair
    signature: bytes

    def __post_init__(self) -> None:
        if not 0 <= self.key_id <= MAX_PREKEY_ID:
            raise ValueError(f"signed prekey id {self.key_id} does not fit in 24 bits")


def generate_prekeys(start_id: int, count: int) -> list[PreKey]:
    """``count`` fresh one-time prekeys with consecutive ids from ``start_id`` (wrapping)."""
    return [PreKey(next_prekey_id(start_id, i), KeyPair.generate()) for i in range(count)]


def generate_signed_prekey(identity: KeyPair, key_id: int) -> SignedPreKey:
    """A fresh signed prekey, signed by ``identity`` over its 33-byte public key."""
    pair = KeyPair.generate()
    return SignedPreKey(key_id, pair, identity.sign(djb_encode(pair.public)))


@dataclass(frozen=True, slots=True)
class PreKeyBundle:
    """What a server hands out to start a session with a device (keys as 32 raw bytes)."""

    registration_id: int
    identity_key: bytes
    signed_prekey_id: int
    signed_prekey: bytes
    signed_prekey_signature: bytes
    prekey_id: int | None = None
    prekey: bytes | None = None

    def verify(self) -> None:
        """Check the signed prekey's signature; raises :class:`CryptoError` when it is bad."""
        if len(self.identity_key) != 32 or len(self.signed_prekey) != 32:
            raise CryptoError("prekey bundle keys must be 32 bytes")
        if (self.prekey is None) != (self.prekey_id is None):
            raise CryptoError("prekey bundle has a one-time prekey id without a key (or back)")
        if self.prekey is not None and len(self.prekey) != 32:
            raise CryptoError("prekey bundle one-time prekey must be 32 bytes")
        message = djb_encode(self.signed_prekey)
        if not verify_signature(self.identity_key, message, self.signed_prekey_signature):
            raise CryptoError("signed prekey signature does not verify")
