"""Cryptographic primitives used across wamd.

Everything here works on raw ``bytes``. Curve25519 keys are 32 raw bytes; the 33-byte
``0x05``-prefixed "DJB" form exists only at wire edges (:func:`djb_encode` / :func:`djb_decode`).
Decryption failures (bad tag, bad padding) raise :class:`wamd.errors.CryptoError`.
"""

from __future__ import annotations

from wamd.crypto.aes import (
    aes_cbc_decrypt,
    aes_cbc_encrypt,
    aes_ctr,
    aes_gcm_decrypt,
    aes_gcm_encrypt,
)
from wamd.crypto.hashes import hkdf_sha256, hmac_sha256, hmac_sha512, sha256
from wamd.crypto.keys import (
    DJB_TYPE,
    KeyPair,
    djb_decode,
    djb_encode,
    verify_signature,
)

__all__ = [
    "DJB_TYPE",
    "KeyPair",
    "aes_cbc_decrypt",
    "aes_cbc_encrypt",
    "aes_ctr",
    "aes_gcm_decrypt",
    "aes_gcm_encrypt",
    "djb_decode",
    "djb_encode",
    "hkdf_sha256",
    "hmac_sha256",
    "hmac_sha512",
    "sha256",
    "verify_signature",
]
