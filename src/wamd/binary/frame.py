"""The frame payload: one flag byte, then a node (zlib-compressed when flag bit 0x02 is set).

Compressed payloads are inflated incrementally and refused as soon as they would exceed
``max_size``: a small hostile frame cannot make the decoder allocate more than that.
"""

from __future__ import annotations

import zlib

from wamd.binary.decoder import DEFAULT_MAX_DEPTH, decode_node
from wamd.binary.encoder import encode_node
from wamd.binary.node import Node
from wamd.errors import DecodeError

FLAG_COMPRESSED = 0x02
"""Flag bit: the rest of the payload is a zlib stream."""
DEFAULT_MAX_INFLATED = 16 * 1024 * 1024
"""Default bound on the inflated size of a compressed payload (the transport's frame limit)."""


def pack_frame(node_data: bytes, *, compress: bool = False) -> bytes:
    """Prefix encoded node bytes with the flag byte (compressing them if asked).

    Senders normally write flag 0 (uncompressed); ``compress=True`` exists for servers and
    tests.
    """
    if compress:
        return bytes((FLAG_COMPRESSED,)) + zlib.compress(node_data)
    return b"\x00" + node_data


def unpack_frame(
    payload: bytes | bytearray | memoryview,
    *,
    max_size: int = DEFAULT_MAX_INFLATED,
) -> bytes:
    """Strip the flag byte and inflate if needed; returns the encoded node bytes.

    Raises :class:`~wamd.errors.DecodeError` on an empty payload, a corrupt or truncated zlib
    stream, or one that would inflate past ``max_size`` bytes (refused without inflating
    the rest).
    """
    if payload.__class__ is bytes and payload and not payload[0] & FLAG_COMPRESSED:
        return payload[1:]  # the usual frame (bytes, not compressed): one slice, no view
    data = memoryview(payload).cast("B")  # no copy; one copy below for the result
    if not data:
        raise DecodeError("empty frame payload", 0)
    if not data[0] & FLAG_COMPRESSED:
        return bytes(data[1:])
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data[1:], max_size + 1)
    except zlib.error as exc:
        raise DecodeError(f"corrupt compressed frame: {exc}", 1) from None
    if len(out) > max_size:
        raise DecodeError(f"compressed frame inflates past the {max_size}-byte limit", 1)
    if not inflater.eof:
        raise DecodeError("truncated compressed frame", len(data))
    if inflater.unused_data:
        leftover = len(data) - len(inflater.unused_data)
        raise DecodeError("bytes left over after the compressed frame", leftover)
    return out


def decode_frame(
    payload: bytes | bytearray | memoryview,
    *,
    max_size: int = DEFAULT_MAX_INFLATED,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Node:
    """:func:`unpack_frame` then :func:`~wamd.binary.decode_node`.

    Offsets in a :class:`~wamd.errors.DecodeError` from the node are relative to the node
    bytes (after the flag byte, after inflating).
    """
    return decode_node(unpack_frame(payload, max_size=max_size), max_depth=max_depth)


def encode_frame(node: Node, *, compress: bool = False) -> bytes:
    """:func:`~wamd.binary.encode_node` then :func:`pack_frame`."""
    return pack_frame(encode_node(node), compress=compress)
