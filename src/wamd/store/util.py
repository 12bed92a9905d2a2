"""Small rules every backend shares (id ranges, address prefixes, argument checks)."""

from __future__ import annotations

__all__ = ["MAX_PREKEY_ID", "check_identity_key", "prekey_ids", "user_prefix_bounds"]

MAX_PREKEY_ID = 0xFFFFFF
"""Prekey ids travel as 3 bytes on the wire: 1..0xFFFFFF."""


def prekey_ids(counter: int, count: int) -> list[int]:
    """The ``count`` prekey ids handed out from a counter at ``counter`` (ids wrap, skipping 0)."""
    if count < 0:
        raise ValueError("count must be >= 0")
    return [(n - 1) % MAX_PREKEY_ID + 1 for n in range(counter, counter + count)]


def user_prefix_bounds(name: str) -> tuple[str, str]:
    """The half-open string range ``[low, high)`` holding every address ``"<name>.<device>"``.

    ``"/"`` is the character after ``"."``, so the range is exactly the strings that start
    with ``name + "."`` (an index range scan in SQL, unlike ``LIKE`` with its wildcards).
    """
    return name + ".", name + "/"


def check_identity_key(key: bytes) -> None:
    """Raise ``ValueError`` unless ``key`` is a 32-byte raw public key."""
    if len(key) != 32:
        raise ValueError(f"identity keys are 32 raw bytes, got {len(key)}")
