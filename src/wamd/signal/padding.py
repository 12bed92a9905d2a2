"""WhatsApp's plaintext padding inside Signal messages.

Before encryption a serialized message gets ``n`` bytes of value ``n``, with ``n`` the low four
bits of a random byte, or 15 when those are zero (so 1..15). Unpadding checks the padding.
"""

from __future__ import annotations

import os

from wamd.errors import InvalidMessage

__all__ = ["pad", "unpad"]


def pad(data: bytes) -> bytes:
    """``data`` followed by 1..15 random-length padding bytes."""
    n = os.urandom(1)[0] & 0x0F or 0x0F
    return data + bytes((n,)) * n


def unpad(data: bytes) -> bytes:
    """Strip the padding; raises :class:`InvalidMessage` when it is malformed."""
    if not data:
        raise InvalidMessage("padded plaintext is empty")
    n = data[-1]
    if n == 0 or n > len(data) or data[-n:] != bytes((n,)) * n:
        raise InvalidMessage("plaintext padding is malformed")
    return data[:-n]
