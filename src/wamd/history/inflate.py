"""Bounded zlib inflation of history-sync blobs.

A history-sync blob is a zlib stream of a ``HistorySync`` protobuf. It comes from the
account's phone through the media servers, so its inflated size is bounded: a blob that
would inflate past ``limit`` bytes raises :class:`wamd.errors.HistorySyncTooLarge` after
inflating at most ``limit + 1`` bytes (no zip bomb can exhaust memory).
"""

from __future__ import annotations

import zlib

from wamd.errors import HistorySyncError, HistorySyncTooLarge

DEFAULT_LIMIT = 256 * 1024 * 1024
"""Default bound on an inflated history-sync blob (256 MiB)."""

_CHUNK = 1 << 20


def inflate(data: bytes, limit: int = DEFAULT_LIMIT, *, gzip: bool = False) -> bytes:
    """Inflate a zlib stream (``gzip``: a gzip stream), refusing output larger than ``limit``
    bytes.

    Raises :class:`HistorySyncTooLarge` past the limit and :class:`HistorySyncError` for a
    corrupt, truncated or trailing-garbage stream.
    """
    if limit < 0:
        raise ValueError("limit must be >= 0")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 16 if gzip else zlib.MAX_WBITS)
    out = bytearray()
    pending = data
    try:
        while True:
            room = limit + 1 - len(out)
            chunk = inflater.decompress(pending, min(room, _CHUNK))
            out += chunk
            if len(out) > limit:
                raise HistorySyncTooLarge(f"history sync blob inflates past {limit} bytes")
            pending = inflater.unconsumed_tail
            if inflater.eof:
                break
            if not pending and not chunk:
                # Input exhausted: flush what zlib buffered; an unfinished stream is truncated.
                out += inflater.flush(limit + 1 - len(out))
                if len(out) > limit:
                    raise HistorySyncTooLarge(f"history sync blob inflates past {limit} bytes")
                if not inflater.eof:
                    raise HistorySyncError("history sync blob is truncated")
                break
    except zlib.error as exc:
        raise HistorySyncError(f"history sync blob is not a valid zlib stream: {exc}") from None
    if inflater.unused_data:
        raise HistorySyncError("history sync blob has trailing data after the zlib stream")
    return bytes(out)
