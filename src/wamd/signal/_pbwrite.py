"""Direct protobuf encoding of the record messages in ``signal.proto`` (the hot write path).

Records are written once per committed change; building nested ``signal_pb2`` objects for that
costs more than the cryptography of a message. These helpers emit the same bytes protobuf
does (fields in number order, proto2 presence); reading stays with the generated classes, and
the tests check that both agree byte for byte.
"""

from __future__ import annotations

__all__ = ["bytes_field", "varint", "varint_field"]

_SMALL = [bytes((i,)) for i in range(128)]


def varint(value: int) -> bytes:
    """Base-128 varint of a non-negative integer."""
    if value < 128:
        return _SMALL[value]
    out = bytearray()
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def varint_field(tag: bytes, value: int) -> bytes:
    """A varint field: ``tag`` is the encoded key byte(s)."""
    return tag + varint(value)


def bytes_field(tag: bytes, value: bytes) -> bytes:
    """A length-delimited field: ``tag`` is the encoded key byte(s)."""
    return tag + varint(len(value)) + value
