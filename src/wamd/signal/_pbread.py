"""Minimal protobuf reading for the hot wire message (``SignalMessage``).

Follows protobuf's rules: fields in any order, unknown fields of any valid wire type skipped,
the last occurrence of a scalar wins. Anything malformed (truncated data, over-long varints,
group wire types, a known field with the wrong wire type) raises :class:`InvalidMessage`.
"""

from __future__ import annotations

from wamd.errors import InvalidMessage

__all__ = ["read_bytes", "read_varint", "skip_field"]

_MAX_VARINT_BYTES = 10


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """(value, next position) of the varint at ``pos``."""
    try:
        byte = data[pos]
        if byte < 0x80:
            return byte, pos + 1
        value = byte & 0x7F
        shift = 7
        end = pos + _MAX_VARINT_BYTES
        pos += 1
        while pos < end:
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            if byte < 0x80:
                return value, pos
            shift += 7
    except IndexError:
        raise InvalidMessage("truncated protobuf varint") from None
    raise InvalidMessage("protobuf varint is too long")


def read_bytes(data: bytes, pos: int, end: int) -> tuple[bytes, int]:
    """(value, next position) of the length-delimited value at ``pos`` (ending by ``end``)."""
    length, pos = read_varint(data, pos)
    stop = pos + length
    if stop > end:
        raise InvalidMessage("truncated protobuf field")
    return data[pos:stop], stop


def skip_field(data: bytes, pos: int, wire_type: int) -> int:
    """Position after the value of an unknown field of ``wire_type`` starting at ``pos``."""
    if wire_type == 0:
        return read_varint(data, pos)[1]
    if wire_type == 2:
        length, pos = read_varint(data, pos)
        end = pos + length
    elif wire_type == 1:
        end = pos + 8
    elif wire_type == 5:
        end = pos + 4
    else:
        raise InvalidMessage(f"unsupported protobuf wire type {wire_type}")
    if end > len(data):
        raise InvalidMessage("truncated protobuf field")
    return end
