"""Encryption at rest of the store's secrets (AES-256-GCM under an application key).

The application supplies a secret (``key=`` of ``SQLiteStore.open`` / ``PostgresStore.connect``):
bytes, or a callable returning bytes (sync or async), e.g. :func:`key_from_env`. The sealing
key is derived from it with PBKDF2-HMAC-SHA256 over a random per-store salt, so a passphrase
works as well as a random key. Each sealed value is ``0x01 | nonce(12) | ciphertext | tag(16)``
with associated data naming the table, account and row key, so a sealed value moved to another
row (or account) fails to open instead of being accepted.

A store created with a key records a sealed check value; opening it with another key raises
:class:`~wamd.errors.WrongStoreKey` at once. A store created without a key refuses one, and
vice versa.
"""

from __future__ import annotations

import hashlib
import inspect
import os
from collections.abc import Awaitable, Callable

from wamd.crypto import aes_gcm_decrypt, aes_gcm_encrypt
from wamd.errors import CryptoError, StoreError, WrongStoreKey

__all__ = [
    "AESGCMSealer",
    "KeySource",
    "Sealer",
    "SealingSetup",
    "aad",
    "key_from_env",
]

KeySource = bytes | Callable[[], bytes | Awaitable[bytes]]
"""What an application passes as the store key: the secret, or a callable producing it."""

SCHEME = b"aes-256-gcm+pbkdf2-sha256"
_ITERATIONS = 131_072
_VERSION = 0x01
_NONCE = 12
_CHECK_PLAINTEXT = b"wamd store key check"
_CHECK_AAD = b"wamd\x1fkey-check"
_MIN_SECRET = 16


def key_from_env(name: str) -> Callable[[], bytes]:
    """A key source reading the secret from environment variable ``name`` (UTF-8) when the
    store opens; a missing or short variable raises :class:`WrongStoreKey`."""

    def read() -> bytes:
        value = os.environ.get(name)
        if value is None:
            raise WrongStoreKey(f"environment variable {name} (the store key) is not set")
        return value.encode()

    return read


def aad(table: str, account_id: int, *key: str | bytes | int) -> bytes:
    """Associated data binding a sealed value to its table, account and row key."""
    parts = [table.encode(), str(account_id).encode()]
    parts.extend(k if isinstance(k, bytes) else str(k).encode() for k in key)
    return b"\x1f".join(parts)


class Sealer:
    """The sealer of a plaintext store (values pass through unchanged); base of the others."""

    encrypted = False

    def __repr__(self) -> str:
        return "<Sealer plaintext>"

    def seal(self, data: bytes, aad: bytes) -> bytes:
        """Return ``data`` as is."""
        return bytes(data)

    def open(self, data: bytes, aad: bytes) -> bytes:
        """Return ``data`` as is."""
        return bytes(data)


class AESGCMSealer(Sealer):
    """Seals values with AES-256-GCM under a derived key (the key never in a repr)."""

    encrypted = True

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("the sealing key is 32 bytes")
        self._key = key

    def __repr__(self) -> str:
        return "<Sealer aes-256-gcm>"

    def seal(self, data: bytes, aad: bytes) -> bytes:
        """Encrypt ``data`` bound to ``aad``."""
        nonce = os.urandom(_NONCE)
        return bytes([_VERSION]) + nonce + aes_gcm_encrypt(self._key, nonce, bytes(data), aad)

    def open(self, data: bytes, aad: bytes) -> bytes:
        """Decrypt a sealed value; :class:`StoreError` when it was altered or moved."""
        data = bytes(data)
        if len(data) < 1 + _NONCE + 16 or data[0] != _VERSION:
            raise StoreError("a sealed value in the store is malformed (corrupted or plaintext)")
        try:
            return aes_gcm_decrypt(self._key, data[1 : 1 + _NONCE], data[1 + _NONCE :], aad)
        except CryptoError:
            raise StoreError(
                "a sealed value in the store failed to open (altered or moved)"
            ) from None


async def _resolve(source: KeySource) -> bytes:
    secret = source() if callable(source) else source
    if inspect.isawaitable(secret):
        secret = await secret
    if not isinstance(secret, bytes | bytearray):
        raise TypeError("the store key must be bytes (or a callable returning bytes)")
    if len(secret) < _MIN_SECRET:
        raise WrongStoreKey(f"the store key must be at least {_MIN_SECRET} bytes")
    return bytes(secret)


class SealingSetup:
    """Decides a store's sealer from its recorded settings and the key the application gave.

    The backends call :meth:`sealer` with the values stored in ``wamd_meta`` (``None`` when the
    database is new) and persist what :meth:`new_settings` returns for a new database.
    """

    def __init__(self, source: KeySource | None) -> None:
        self._source = source

    async def new_settings(self) -> tuple[dict[str, bytes], Sealer]:
        """Settings to record for a new store, and its sealer."""
        if self._source is None:
            return {"seal_scheme": b"none"}, Sealer()
        salt = os.urandom(16)
        sealer = AESGCMSealer(_derive(await _resolve(self._source), salt))
        check = sealer.seal(_CHECK_PLAINTEXT, _CHECK_AAD)
        return {"seal_scheme": SCHEME, "seal_salt": salt, "seal_check": check}, sealer

    async def sealer(self, settings: dict[str, bytes]) -> Sealer:
        """The sealer of an existing store; :class:`WrongStoreKey` when the key does not fit."""
        scheme = settings.get("seal_scheme")
        if scheme == b"none":
            if self._source is not None:
                raise WrongStoreKey("this store is not encrypted: open it without a key")
            return Sealer()
        if scheme != SCHEME:
            raise StoreError(f"unknown store encryption scheme {scheme!r}")
        if self._source is None:
            raise WrongStoreKey("this store is encrypted: open it with its key")
        salt, check = settings.get("seal_salt"), settings.get("seal_check")
        if salt is None or check is None:
            raise StoreError("the store's encryption settings are incomplete")
        sealer = AESGCMSealer(_derive(await _resolve(self._source), salt))
        try:
            ok = sealer.open(check, _CHECK_AAD) == _CHECK_PLAINTEXT
        except StoreError:
            ok = False
        if not ok:
            raise WrongStoreKey("the store key is wrong")
        return sealer


def _derive(secret: bytes, salt: bytes) -> bytes:
    return hashlib.pbkdf2_hmac("sha256", secret, salt, _ITERATIONS, 32)
