"""The MACs and the value cipher of app-state mutations.

- value = ``iv (16) | AES-256-CBC(valueEncryptionKey, iv, SyncActionData) | valueMac (32)``
- valueMac = ``HMAC-SHA512(valueMacKey, [op + 1] | keyId | iv|ct | u64BE(len(keyId) + 1))[:32]``
- indexMac = ``HMAC-SHA256(indexKey, index JSON bytes)``
- snapshotMac = ``HMAC-SHA256(snapshotMacKey, ltHash | u64BE(version) | collection name)``
- patchMac = ``HMAC-SHA256(patchMacKey, snapshotMac | valueMac... | u64BE(version) | name)``

Every check compares in constant time and raises :class:`wamd.errors.AppStateMACMismatch`.
"""

from __future__ import annotations

import hmac
import os
from collections.abc import Iterable
from enum import IntEnum

from wamd.appstate.keys import ExpandedKeys
from wamd.crypto import aes_cbc_decrypt, aes_cbc_encrypt, hmac_sha256, hmac_sha512
from wamd.errors import AppStateMACMismatch, AppStateMalformed, CryptoError

VALUE_MAC_SIZE = 32
IV_SIZE = 16


class Operation(IntEnum):
    """``SyncdMutation.SyncdOperation``: what a mutation does to its index."""

    SET = 0
    REMOVE = 1


def _u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def value_mac(operation: Operation | int, encrypted: bytes, key_id: bytes, key: bytes) -> bytes:
    """The 32-byte MAC over a mutation's ``iv | ciphertext``."""
    data = b"".join((bytes((int(operation) + 1,)), key_id, encrypted, _u64(len(key_id) + 1)))
    return hmac_sha512(key, data)[:VALUE_MAC_SIZE]


def index_mac(index_key: bytes, index: bytes) -> bytes:
    """The 32-byte MAC naming a mutation's index (the JSON array bytes)."""
    return hmac_sha256(index_key, index)


def snapshot_mac(lthash: bytes, version: int, name: str, key: bytes) -> bytes:
    """The MAC over a collection's LTHash at ``version``."""
    return hmac_sha256(key, b"".join((lthash, _u64(version), name.encode())))


def patch_mac(
    snapshot: bytes, value_macs: Iterable[bytes], version: int, name: str, key: bytes
) -> bytes:
    """The MAC over a whole patch: its snapshot MAC and every mutation's value MAC."""
    return hmac_sha256(key, b"".join((snapshot, *value_macs, _u64(version), name.encode())))


def encrypt_value(
    keys: ExpandedKeys,
    key_id: bytes,
    operation: Operation | int,
    plaintext: bytes,
    *,
    iv: bytes | None = None,
) -> bytes:
    """Encrypt a serialized ``SyncActionData`` into a mutation value blob (``iv|ct|valueMac``)."""
    iv = os.urandom(IV_SIZE) if iv is None else iv
    encrypted = iv + aes_cbc_encrypt(keys.value_encryption, iv, plaintext)
    return encrypted + value_mac(operation, encrypted, key_id, keys.value_mac)


def split_value(blob: bytes) -> tuple[bytes, bytes]:
    """Split a value blob into ``(iv|ct, valueMac)``; :class:`AppStateMalformed` if too short."""
    if len(blob) < IV_SIZE + 16 + VALUE_MAC_SIZE:
        raise AppStateMalformed(f"mutation value of {len(blob)} bytes is too short")
    return blob[:-VALUE_MAC_SIZE], blob[-VALUE_MAC_SIZE:]


def decrypt_value(
    keys: ExpandedKeys,
    key_id: bytes,
    operation: Operation | int,
    blob: bytes,
    *,
    collection: str = "",
    version: int = 0,
) -> bytes:
    """Verify a value blob's MAC, then decrypt it to the serialized ``SyncActionData``."""
    encrypted, mac = split_value(blob)
    expected = value_mac(operation, encrypted, key_id, keys.value_mac)
    if not hmac.compare_digest(expected, mac):
        raise AppStateMACMismatch("value", collection, version)
    try:
        return aes_cbc_decrypt(keys.value_encryption, encrypted[:IV_SIZE], encrypted[IV_SIZE:])
    except CryptoError as exc:
        raise AppStateMalformed(f"mutation value does not decrypt: {exc}") from None
