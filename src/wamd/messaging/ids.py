"""Message ids in WhatsApp Web's current form.

``3EB0`` followed by the first 9 bytes, upper-case hex, of SHA-256 over the current Unix time
(8 bytes big-endian), the sender's user part with ``@c.us`` appended, and 16 random bytes: the
form WhatsApp Web, whatsmeow (``GenerateMessageID``) and Baileys (``generateMessageIDV2``)
produce. Without a known sender the user part is left out.
"""

from __future__ import annotations

import hashlib
import os
import struct
import time

__all__ = ["MESSAGE_ID_PREFIX", "generate_message_id"]

MESSAGE_ID_PREFIX = "3EB0"


def generate_message_id(own_user: str | None = None, *, now: float | None = None) -> str:
    """A fresh message id (22 characters: ``3EB0`` + 18 upper-case hex digits)."""
    seconds = int(time.time() if now is None else now)
    data = struct.pack(">Q", seconds)
    if own_user:
        data += own_user.encode() + b"@c.us"
    data += os.urandom(16)
    return MESSAGE_ID_PREFIX + hashlib.sha256(data).digest()[:9].hex().upper()
