"""AES in the modes WhatsApp uses: GCM (Noise, app state keys), CBC with PKCS#7 (Signal, media,
app state values) and CTR (pairing codes), on ``cryptography`` (OpenSSL)."""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wamd.errors import CryptoError

_BLOCK = 16
_GCM_TAG = 16


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
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return encryptor.update(plaintext + bytes((pad,)) * pad) + encryptor.finalize()


def aes_cbc_decrypt(key: bytes, iv: bytes, ciphertext: bytes) -> bytes:
    """Decrypt AES-CBC and strip PKCS#7 padding.

    Raises :class:`CryptoError` on a length that is not a positive multiple of 16, a bad IV or
    key size, or bad padding.
    """
    size = len(ciphertext)
    if size == 0 or size % _BLOCK:
        raise CryptoError("AES-CBC ciphertext length is not a positive multiple of 16")
    try:
        decryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).decryptor()
    except ValueError as exc:
        raise CryptoError(f"AES-CBC: {exc}") from None
    padded = decryptor.update(ciphertext) + decryptor.finalize()
    pad = padded[-1]
    if not 1 <= pad <= _BLOCK or padded[-pad:] != bytes((pad,)) * pad:
        raise CryptoError("AES-CBC: bad PKCS#7 padding")
    return padded[:-pad]


def aes_ctr(key: bytes, iv: bytes, data: bytes) -> bytes:
    """Encrypt or decrypt with AES-CTR (16-byte initial counter block ``iv``)."""
    try:
        encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    except ValueError as exc:
        raise CryptoError(f"AES-CTR: {exc}") from None
    return encryptor.update(data) + encryptor.finalize()
