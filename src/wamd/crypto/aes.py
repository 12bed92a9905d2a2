"""AES in the modes WhatsApp uses: GCM (Noise, app state keys), CBC with PKCS#7 (Signal, media,
app state values) and CTR (pairing codes), on ``cryptography`` (OpenSSL)."""

from __future__ import annotations

from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wamd.errors import CryptoError

_BLOCK = 16
_GCM_TAG = 16
_AES_KEY_SIZES = (16, 24, 32)
_PADDINGS = [bytes((n,)) * n for n in range(_BLOCK + 1)]
"""PKCS#7 padding of ``n`` bytes at index ``n``."""

# The Signal ratchet runs one AES-CBC operation per message with a fresh key, so building the
# ``Cipher`` wrapper (its isinstance checks cost as much as the encryption) is a large share of
# the work. With the arguments validated here, the context comes straight from cryptography's
# OpenSSL binding; the public ``Cipher`` path is the fallback if that binding ever moves.
try:
    from cryptography.hazmat.bindings._rust import openssl as _rust_openssl

    _create_encryption_ctx: Any = _rust_openssl.ciphers.create_encryption_ctx
    _create_decryption_ctx: Any = _rust_openssl.ciphers.create_decryption_ctx
except (ImportError, AttributeError):  # pragma: no cover - depends on the cryptography build
    _create_encryption_ctx = _create_decryption_ctx = None


def _cbc(key: bytes, iv: bytes, *, encrypt: bool) -> Any:
    """An AES-CBC context (``update`` / ``finalize``) after checking key and IV sizes."""
    if len(key) not in _AES_KEY_SIZES or len(iv) != _BLOCK:
        raise CryptoError("AES-CBC needs a 16/24/32-byte key and a 16-byte IV")
    algorithm, mode = algorithms.AES(key), modes.CBC(iv)
    create = _create_encryption_ctx if encrypt else _create_decryption_ctx
    if create is not None:
        return create(algorithm, mode)
    cipher = Cipher(algorithm, mode)
    return cipher.encryptor() if encrypt else cipher.decryptor()


def aes_gcm_encrypt(key: bytes, iv: bytes, plaintext: bytes, aad: bytes = b"") -> bytes:
    """Encrypt with AES-GCM; returns ciphertext followed by the 16-byte tag."""
    return AESGCM(key).encrypt(iv, plaintext, aad or None)


def aes_gcm_decrypt(key: bytes, iv: bytes, data: bytes, aad: bytes = b"") -> bytes:
    """Decrypt ``ciphertext | tag`` with AES-GCM.

    Raises :class:`CryptoError` when the tag does not verify or the input is malformed.
    """
    if len(data) < _GCM_TAG:
        raise CryptoError("AES-GCM input shorter than its tag")
    try:
        return AESGCM(key).decrypt(iv, data, aad or None)
    except InvalidTag:
        raise CryptoError("AES-GCM authentication tag mismatch") from None
    except ValueError as exc:
        raise CryptoError(f"AES-GCM: {exc}") from None


def aes_cbc_encrypt(key: bytes, iv: bytes, plaintext: bytes) -> bytes:
    """Encrypt with AES-CBC after PKCS#7 padding (always 1..16 bytes of padding)."""
    pad = _BLOCK - len(plaintext) % _BLOCK
    encryptor = _cbc(key, iv, encrypt=True)
    return encryptor.update(plaintext + bytes((pad,)) * pad) + encryptor.finalize()  # type: ignore[no-any-return]


def aes_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """Decrypt AES-CBC and strip PKCS#7 padding.

    Raises :class:`CryptoError` on a length that is not a positive multiple of 16, a bad IV or
    key size, or bad padding.
    """
    size = len(ciphertext)
    if size == 0 or size % _BLOCK:
        raise CryptoError("AES-CBC ciphertext length is not a positive multiple of 16")
    decryptor = _cbc(key, iv, encrypt=False)
    padded: bytes = decryptor.update(ciphertext) + decryptor.finalize()
    pad = padded[-1]
    if pad > _BLOCK or not pad or not padded.endswith(_PADDINGS[pad]):
        raise CryptoError("AES-CBC: bad PKCS#7 padding")
    return padded[:-pad]


def aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Encrypt or decrypt with AES-CTR (16-byte initial counter block ``iv``)."""
    try:
        encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    except ValueError as exc:
        raise CryptoError(f"AES-CTR: {exc}") from None
    return encryptor.update(data) + encryptor.finalize()
