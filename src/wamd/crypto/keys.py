"""Curve25519 key pairs: X25519 agreement and XEdDSA signatures compatible with libsignal.

Signing follows Signal's XEdDSA specification: the Montgomery private key ``k`` is used as an
Edwards scalar, negated when needed so that the Edwards public key has sign bit 0, and the nonce
is ``SHA-512(0xFE | 0xFF*31 | a | M | Z) mod q`` with 64 random bytes ``Z``. Such signatures
verify with libsignal (whose verifier takes the sign bit from ``sig[63]``, here always 0).

Verification accepts both XEdDSA signatures and the older "curve25519 signatures" that
libsignal-node (curve25519-js) produces, which carry the Edwards sign bit in ``sig[63]``.

The group operations run in libsodium (PyNaCl); scalar arithmetic modulo the group order is
plain Python integers.
"""

from __future__ import annotations

import hashlib
import hmac
import os

from nacl.bindings import crypto_scalarmult, crypto_scalarmult_base, crypto_sign_open
from nacl.bindings import crypto_scalarmult_ed25519_base_noclamp as _ed_base_noclamp
from nacl.exceptions import BadSignatureError
from nacl.exceptions import RuntimeError as NaclRuntimeError

from wamd.errors import CryptoError

DJB_TYPE = 0x05
"""Type byte of the 33-byte "DJB" public key form used on the Signal wire."""

KEY_SIZE = 32
SIGNATURE_SIZE = 64

_P = 2**255 - 19
_Q = 2**252 + 27742317777372353535851937790883648493  # order of the Ed25519 base point
_U_MASK = (1 << 255) - 1
_HASH1_PREFIX = b"\xfe" + b"\xff" * 31
_EDWARDS_CACHE_LIMIT = 4096
_edwards_cache: dict[bytes, bytes] = {}


def clamp(private: bytes) -> bytes:
    """Return ``private`` clamped as X25519 requires (RFC 7748)."""
    if len(private) != KEY_SIZE:
        raise CryptoError(f"a Curve25519 private key is {KEY_SIZE} bytes, got {len(private)}")
    return bytes((private[0] & 248,)) + private[1:31] + bytes(((private[31] & 127) | 64,))


def djb_encode(public: bytes) -> bytes:
    """Return the 33-byte wire form ``0x05 | public``."""
    if len(public) != KEY_SIZE:
        raise CryptoError(f"a Curve25519 public key is {KEY_SIZE} bytes, got {len(public)}")
    return b"\x05" + public


def djb_decode(data: bytes) -> bytes:
    """Return the 32 raw bytes of a 33-byte ``0x05``-prefixed public key.

    Raises :class:`CryptoError` on any other length or type byte.
    """
    if len(data) != KEY_SIZE + 1 or data[0] != DJB_TYPE:
        raise CryptoError("public key is not a 33-byte 0x05-prefixed Curve25519 key")
    return bytes(data[1:])


class KeyPair:
    """A Curve25519 key pair. The private key never appears in ``repr``."""

    __slots__ = ("_ed_public", "_ed_scalar", "_ed_scalar_bytes", "_private", "public")

    public: bytes
    """The 32-byte public key."""

    def __init__(self, private: bytes, public: bytes) -> None:
        """Pair a (clamped) private key with its public key; use the classmethods instead."""
        self._private = private
        self.public = public
        self._ed_scalar = -1
        self._ed_scalar_bytes = b""
        self._ed_public = b""

    @classmethod
    def generate(cls) -> KeyPair:
        """Create a fresh random key pair."""
        return cls.from_private(os.urandom(KEY_SIZE))

    @classmethod
    def from_private(cls, private: bytes) -> KeyPair:
        """Rebuild a key pair from a 32-byte private key (clamped on the way in)."""
        clamped = clamp(bytes(private))
        return cls(clamped, crypto_scalarmult_base(clamped))

    @property
    def private(self) -> bytes:
        """The 32-byte clamped private key. Treat as secret."""
        return self._private

    def dh(self, peer_public: bytes) -> bytes:
        """X25519 agreement with a 32-byte peer public key.

        Raises :class:`CryptoError` for a malformed or low-order peer key.
        """
        if len(peer_public) != KEY_SIZE:
            raise CryptoError(f"a public key is {KEY_SIZE} bytes, not {len(peer_public)}")
        try:
            return crypto_scalarmult(self._private, bytes(peer_public))
        except NaclRuntimeError:
            raise CryptoError("X25519 with a low-order public key") from None

    def sign(self, message: bytes) -> bytes:
        """Return a 64-byte XEdDSA signature of ``message`` (randomized)."""
        return self._xeddsa_sign(message, os.urandom(64))

    def _xeddsa_sign(self, message: bytes, nonce: bytes) -> bytes:
        """XEdDSA with an explicit 64-byte nonce ``Z`` (for known-answer tests)."""
        if self._ed_scalar < 0:
            self._prepare_signing()
        a = self._ed_scalar
        digest = hashlib.sha512(_HASH1_PREFIX + self._ed_scalar_bytes + message + nonce).digest()
        r = int.from_bytes(digest, "little") % _Q
        big_r = _ed_base_noclamp(r.to_bytes(32, "little"))
        h = int.from_bytes(hashlib.sha512(big_r + self._ed_public + message).digest(), "little")
        s = (r + (h % _Q) * a) % _Q
        return big_r + s.to_bytes(32, "little")

    def _prepare_signing(self) -> None:
        # The hashed scalar bytes follow the reference implementations: the clamped key as is,
        # or its negation modulo q when the Edwards sign bit has to be flipped to 0.
        edwards = _ed_base_noclamp(self._private)
        k = int.from_bytes(self._private, "little") % _Q
        if edwards[31] & 0x80:
            self._ed_scalar = (-k) % _Q
            self._ed_scalar_bytes = self._ed_scalar.to_bytes(32, "little")
            self._ed_public = edwards[:31] + bytes((edwards[31] & 0x7F,))
        else:
            self._ed_scalar = k
            self._ed_scalar_bytes = self._private
            self._ed_public = edwards

    def __repr__(self) -> str:
        return f"KeyPair(public={self.public.hex()})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KeyPair):
            return NotImplemented
        return hmac.compare_digest(self._private, other._private)

    def __hash__(self) -> int:
        return hash(self.public)

    def __reduce__(self) -> str | tuple[object, ...]:
        raise TypeError("KeyPair is not picklable; store .private explicitly")


def _edwards_public(public: bytes, sign_bit: int) -> bytes | None:
    """Edwards form of a Montgomery public key: y = (u - 1) / (u + 1), with ``sign_bit``."""
    cache_key = public + bytes((sign_bit,))
    cached = _edwards_cache.get(cache_key)
    if cached is not None:
        return cached
    u = int.from_bytes(public, "little") & _U_MASK
    if (u + 1) % _P == 0:
        return None
    y = (u - 1) * pow(u + 1, -1, _P) % _P
    edwards = (y | (sign_bit << 255)).to_bytes(32, "little")
    if len(_edwards_cache) >= _EDWARDS_CACHE_LIMIT:
        _edwards_cache.clear()
    _edwards_cache[cache_key] = edwards
    return edwards


def verify_signature(public: bytes, message: bytes, signature: bytes) -> bool:
    """Check a libsignal-style signature of ``message`` by the 32-byte Curve25519 ``public`` key.

    Accepts XEdDSA signatures and libsignal-node's signatures with the Edwards sign bit in
    ``signature[63]``. Returns ``False`` for any bad signature or malformed input.
    """
    if len(public) != KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    sign_bit = signature[63] >> 7
    edwards = _edwards_public(bytes(public), sign_bit)
    if edwards is None:
        return False
    unsigned = signature[:63] + bytes((signature[63] & 0x7F,))
    try:
        crypto_sign_open(unsigned + message, edwards)
    except (BadSignatureError, ValueError, TypeError):
        return False
    return True
