"""Hashes, HMAC and HKDF-SHA256 (RFC 5869), on the standard library.

OpenSSL 3's one-shot HMAC (behind ``hmac.digest``) sets up a MAC context on every call, which
for the small inputs of the Signal ratchet costs several times the hashing itself. HMAC-SHA256
here is built from two SHA-256 calls (RFC 2104), and :class:`HmacSha256` keeps the padded-key
states of a key that is used several times (HKDF's expand step), which halves the cost of
deriving message keys. Results are checked against ``hmac.digest`` in the tests.

For short inputs (the HMAC keys, key derivation, message MACs) the SHA-256 is CPython's own
(``_sha2`` / ``_sha256``, the one ``hashlib`` falls back to without OpenSSL): its hash objects
are plain structures, where each OpenSSL context made, copied and freed costs several times
the hashing of a block. Long inputs go to OpenSSL (``hashlib.sha256``), whose block function is
the faster one.
"""

from __future__ import annotations

import hashlib
import hmac
import importlib
from collections.abc import Callable
from typing import Protocol

_HASH_LEN = 32
_BLOCK = 64
_ZERO_SALT = bytes(_HASH_LEN)
_MAX_HKDF_LENGTH = 255 * _HASH_LEN
_IPAD = bytes(x ^ 0x36 for x in range(256))
_OPAD = bytes(x ^ 0x5C for x in range(256))
_sha256 = hashlib.sha256
_SHORT = 1024
"""Inputs up to this size are hashed with :data:`_short_sha256`."""


class _Hash(Protocol):
    def copy(self) -> _Hash: ...
    def update(self, data: bytes, /) -> None: ...
    def digest(self) -> bytes: ...


def _builtin_sha256() -> Callable[[bytes], _Hash]:
    """CPython's own SHA-256 constructor (``hashlib.sha256`` where the build has none)."""
    for module in ("_sha2", "_sha256"):  # Python 3.12+, 3.11
        try:
            constructor: Callable[[bytes], _Hash] = importlib.import_module(module).sha256
        except (ImportError, AttributeError):  # pragma: no cover - depends on the build
            continue
        return constructor
    return _sha256  # pragma: no cover - depends on the build


_short_sha256 = _builtin_sha256()
_COUNTERS = [bytes((i,)) for i in range(256)]

__all__ = ["HmacSha256", "hkdf_sha256", "hmac_sha256", "hmac_sha512", "sha256"]


def sha256(data: bytes) -> bytes:
    """Return the SHA-256 digest of ``data``."""
    return _sha256(data).digest()


def hmac_sha256(key: bytes, data: bytes) -> bytes:
    """Return HMAC-SHA256(key, data) (32 bytes)."""
    if len(key) > _BLOCK:
        key = _sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = (_short_sha256 if len(data) <= _SHORT else _sha256)(key.translate(_IPAD) + data)
    return _short_sha256(key.translate(_OPAD) + inner.digest()).digest()


class HmacSha256:
    """HMAC-SHA256 with one key and several short messages (the padded-key states are kept;
    meant for key derivation: messages are hashed with CPython's own SHA-256)."""

    __slots__ = ("_inner", "_outer")

    def __init__(self, key: bytes) -> None:
        if len(key) > _BLOCK:
            key = _sha256(key).digest()
        key = key.ljust(_BLOCK, b"\0")
        self._inner = _short_sha256(key.translate(_IPAD))
        self._outer = _short_sha256(key.translate(_OPAD))

    def __repr__(self) -> str:
        return "HmacSha256(...)"

    def digest(self, data: bytes) -> bytes:
        """HMAC-SHA256 of ``data`` under this key."""
        inner = self._inner.copy()
        inner.update(data)
        outer = self._outer.copy()
        outer.update(inner.digest())
        return outer.digest()

    def digests(self, first: bytes, second: bytes) -> tuple[bytes, bytes]:
        """The HMAC-SHA256 of two messages under this key (one call for both)."""
        inner, outer = self._inner, self._outer
        inner_first, inner_second = inner.copy(), inner.copy()
        inner_first.update(first)
        inner_second.update(second)
        outer_first, outer_second = outer.copy(), outer.copy()
        outer_first.update(inner_first.digest())
        outer_second.update(inner_second.digest())
        return outer_first.digest(), outer_second.digest()

    def expand(self, info: bytes, length: int) -> bytes:
        """HKDF-Expand (RFC 5869): ``length`` bytes (at most 8160) with this key as the PRK."""
        if not 0 <= length <= _MAX_HKDF_LENGTH:
            raise ValueError(f"HKDF-SHA256 output length must be in 0..{_MAX_HKDF_LENGTH}")
        inner, outer = self._inner, self._outer
        blocks: list[bytes] = []
        block = b""
        for counter in range(1, -(-length // _HASH_LEN) + 1):
            step = inner.copy()
            step.update(block + info + _COUNTERS[counter])
            final = outer.copy()
            final.update(step.digest())
            block = final.digest()
            blocks.append(block)
        return b"".join(blocks)[:length]


def hmac_sha512(key: bytes, data: bytes) -> bytes:
    """Return HMAC-SHA512(key, data) (64 bytes)."""
    return hmac.digest(key, data, "sha512")


def hkdf_sha256(ikm: bytes, length: int, *, salt: bytes | None = None, info: bytes = b"") -> bytes:
    """Derive ``length`` bytes with HKDF-SHA256 (RFC 5869).

    A missing ``salt`` means 32 zero bytes, as the RFC specifies. ``length`` must be between
    0 and 8160 (255 blocks).
    """
    prk = hmac_sha256(_ZERO_SALT if salt is None else salt, ikm)
    return HmacSha256(prk).expand(info, length)
