"""Fresh device credentials for a device that has never been paired."""

from __future__ import annotations

import secrets

from wamd.crypto import KeyPair
from wamd.store import DeviceCredentials, SignedPreKey, StoredKeyPair

__all__ = ["new_credentials", "stored", "to_key_pair"]


def stored(pair: KeyPair) -> StoredKeyPair:
    """A :class:`KeyPair` in the store's form."""
    return StoredKeyPair(public=pair.public, private=pair.private)


def to_key_pair(pair: StoredKeyPair) -> KeyPair:
    """A stored key pair back as a usable :class:`KeyPair`."""
    return KeyPair.from_private(pair.private)


def new_credentials(*, signed_prekey_id: int = 1) -> DeviceCredentials:
    """New random keys for a device about to pair.

    Noise key, Signal identity key, a registration id (1..16380), a signed prekey signed by
    the identity key over ``05 | public`` (Signal's convention), and a 32-byte adv secret.
    """
    identity = KeyPair.generate()
    prekey = KeyPair.generate()
    signature = identity.sign(b"\x05" + prekey.public)
    return DeviceCredentials(
        noise_key=stored(KeyPair.generate()),
        identity_key=stored(identity),
        registration_id=1 + secrets.randbelow(16380),
        signed_prekey=SignedPreKey(signed_prekey_id, stored(prekey), signature),
        adv_secret_key=secrets.token_bytes(32),
    )
