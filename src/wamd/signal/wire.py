"""Parse and build the Signal wire messages exactly as libsignal does.

Every message starts with the version byte ``0x33`` (message version 3, current version 3).
``SignalMessage`` ("msg"): version | protobuf | 8-byte MAC. ``PreKeySignalMessage`` ("pkmsg"):
version | protobuf holding a whole SignalMessage. ``SenderKeyMessage`` ("skmsg"): version |
protobuf | 64-byte XEdDSA signature. ``SenderKeyDistributionMessage``: version | protobuf.

Parsing raises :class:`~wamd.errors.InvalidMessage` for anything malformed. Public keys on the
wire are 33 bytes (``0x05`` | key); parsed objects hold the 32 raw bytes.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import NamedTuple

from google.protobuf.message import DecodeError as ProtoDecodeError

from wamd.errors import InvalidMessage
from wamd.proto import signal_pb2
from wamd.signal._pbread import read_bytes, read_varint, skip_field
from wamd.signal._pbwrite import varint

VERSION_BYTE = 0x33
VERSION_PREFIX = b"\x33"
MAC_SIZE = 8
SIGNATURE_SIZE = 64
KEY_SIZE = 32

__all__ = [
    "MAC_SIZE",
    "SIGNATURE_SIZE",
    "VERSION_BYTE",
    "PreKeyMessage",
    "SenderKeyDistribution",
    "SenderKeyMessageParts",
    "SignalMessageParts",
    "build_prekey_message",
    "build_sender_key_distribution",
    "parse_prekey_message",
    "parse_sender_key_distribution",
    "parse_sender_key_message",
    "parse_signal_message",
]


def _key(data: bytes, what: str) -> bytes:
    if len(data) != KEY_SIZE + 1 or data[0] != 0x05:
        raise InvalidMessage(f"{what} is not a 33-byte 0x05-prefixed key")
    return data[1:]


def _check_version(data: bytes, what: str) -> None:
    if not data:
        raise InvalidMessage(f"empty {what}")
    if data[0] != VERSION_BYTE:
        raise InvalidMessage(f"{what} has unsupported version byte 0x{data[0]:02x}")


class SignalMessageParts(NamedTuple):
    """A parsed ``SignalMessage``: ``signed`` is version | protobuf (the MAC'd bytes)."""

    ratchet_key: bytes
    counter: int
    previous_counter: int
    ciphertext: bytes
    signed: bytes
    mac: bytes


_UINT32_MAX = 0xFFFFFFFF
_MAX_FIELD_NUMBER = (1 << 29) - 1


def parse_signal_message(data: bytes) -> SignalMessageParts:
    """Parse a serialized SignalMessage (no MAC check here).

    A hand-written reader (this runs once per message received); it follows protobuf's rules
    and raises :class:`InvalidMessage` for anything malformed or missing. Messages laid out as
    every libsignal writes them (fields 1 to 4 once each, in order) take a shorter path with
    the same result; anything else goes through the general reader.
    """
    if data[:4] == _CANONICAL_HEAD:
        parts = _parse_canonical(data)
        if parts is not None:
            return parts
    return _parse_general(data)


_CANONICAL_HEAD = b"\x33\x0a\x21\x05"
"""Version byte, then field 1 (length-delimited, 33 bytes) holding a 0x05-prefixed key."""


def _parse_canonical(data: bytes) -> SignalMessageParts | None:
    """``data`` parsed when it is exactly ``version | 1: key | 2: counter | 3: previous
    counter | 4: ciphertext | MAC``, else ``None`` (the general reader decides then)."""
    end = len(data) - MAC_SIZE
    if end < 39 or data[36] != 0x10:  # 4 + 32-byte key, then field 2 as a varint
        return None
    try:
        counter, pos = read_varint(data, 37)
        if pos >= end or data[pos] != 0x18:
            return None
        previous_counter, pos = read_varint(data, pos + 1)
        if pos >= end or data[pos] != 0x22:
            return None
        length, pos = read_varint(data, pos + 1)
    except InvalidMessage:
        return None
    if pos + length != end or counter > _UINT32_MAX or previous_counter > _UINT32_MAX:
        return None
    return SignalMessageParts(
        data[4:36], counter, previous_counter, data[pos:end], data[:end], data[end:]
    )


def _parse_general(data: bytes) -> SignalMessageParts:
    """The general SignalMessage reader (any field order, unknown fields, repeated fields)."""
    _check_version(data, "SignalMessage")
    if len(data) < 1 + MAC_SIZE + 2:
        raise InvalidMessage("SignalMessage too short")
    signed = data[:-MAC_SIZE]
    end = len(signed)
    pos = 1
    ratchet_key = ciphertext = None
    counter = None
    previous_counter = 0
    while pos < end:
        key, pos = read_varint(signed, pos)
        field, wire_type = key >> 3, key & 7
        if field in (1, 4):
            if wire_type != 2:
                raise InvalidMessage("SignalMessage field has the wrong wire type")
            value, pos = read_bytes(signed, pos, end)
            if field == 1:
                ratchet_key = value
            else:
                ciphertext = value
        elif field in (2, 3):
            if wire_type != 0:
                raise InvalidMessage("SignalMessage field has the wrong wire type")
            number, pos = read_varint(signed, pos)
            if number > _UINT32_MAX:
                raise InvalidMessage("SignalMessage counter out of range")
            if field == 2:
                counter = number
            else:
                previous_counter = number
        elif field == 0 or field > _MAX_FIELD_NUMBER:
            raise InvalidMessage("SignalMessage has an invalid field number")
        else:
            pos = skip_field(signed, pos, wire_type)
    if ratchet_key is None or counter is None or ciphertext is None:
        raise InvalidMessage("SignalMessage lacks a required field")
    return SignalMessageParts(
        _key(ratchet_key, "ratchet key"),
        counter,
        previous_counter,
        ciphertext,
        signed,
        data[-MAC_SIZE:],
    )


def build_signal_body(
    ratchet_key: bytes, counter: int, previous_counter: int, ciphertext: bytes
) -> bytes:
    """Version byte | SignalMessage protobuf (the part the MAC covers), written directly."""
    return b"".join(
        (
            b"\x33\x0a\x21\x05",
            ratchet_key,
            b"\x10",
            varint(counter),
            b"\x18",
            varint(previous_counter),
            b"\x22",
            varint(len(ciphertext)),
            ciphertext,
        )
    )


class PreKeyMessage(NamedTuple):
    """A parsed ``PreKeySignalMessage`` (keys as 32 raw bytes; ``message`` still serialized)."""

    registration_id: int
    pre_key_id: int | None
    signed_pre_key_id: int
    base_key: bytes
    identity_key: bytes
    message: bytes


def parse_prekey_message(data: bytes) -> PreKeyMessage:
    """Parse a serialized PreKeySignalMessage (the inner SignalMessage is parsed later).

    A hand-written reader with protobuf's rules for this message: fields in any order, the
    last occurrence wins, unknown fields (and known fields with another wire type) skipped,
    integers read as uint32 (their low 32 bits). Raises :class:`InvalidMessage` for anything
    malformed (truncated, over-long varints, group wire types, field number 0) or missing.
    Messages laid out as protobuf writes them (each field once, in field-number order) take
    a shorter path with the same result.
    """
    _check_version(data, "PreKeySignalMessage")
    return _parse_prekey_canonical(data) or _parse_prekey_general(data)


def _parse_prekey_canonical(data: bytes) -> PreKeyMessage | None:
    """``data`` (version byte checked) parsed when it is exactly ``version | [1: prekey id] |
    2: base key | 3: identity key | 4: message | 5: registration id | 6: signed prekey id``
    with 33-byte 0x05-prefixed keys and 32-bit ids, else ``None``."""
    try:
        pre_key_id = None
        pos = 1
        if data[1] == 0x08:
            pre_key_id, pos = read_varint(data, 2)
        if (
            data[pos : pos + 3] != b"\x12\x21\x05"
            or data[pos + 35 : pos + 38] != b"\x1a\x21\x05"
            or data[pos + 70] != 0x22
        ):
            return None
        keys = pos + 3
        length, pos = read_varint(data, pos + 71)
        stop = pos + length
        if data[stop] != 0x28:
            return None
        registration_id, after = read_varint(data, stop + 1)
        if data[after] != 0x30:
            return None
        signed_pre_key_id, after = read_varint(data, after + 1)
    except (IndexError, InvalidMessage):
        return None
    if (
        after != len(data)
        or registration_id > _UINT32_MAX
        or signed_pre_key_id > _UINT32_MAX
        or (pre_key_id is not None and pre_key_id > _UINT32_MAX)
    ):
        return None
    return PreKeyMessage(
        registration_id,
        pre_key_id,
        signed_pre_key_id,
        data[keys : keys + 32],
        data[keys + 35 : keys + 67],
        data[pos:stop],
    )


def _parse_prekey_general(data: bytes) -> PreKeyMessage:
    """The general PreKeySignalMessage reader (after the version byte is checked)."""
    end = len(data)
    pos = 1
    registration_id: int | None = None
    pre_key_id: int | None = None
    signed_pre_key_id: int | None = None
    base_key: bytes | None = None
    identity_key: bytes | None = None
    message: bytes | None = None
    while pos < end:
        key = data[pos]
        if key < 0x80:
            pos += 1
        else:
            key, pos = read_varint(data, pos)
        field, wire_type = key >> 3, key & 7
        if wire_type == 2 and 2 <= field <= 4:
            value, pos = read_bytes(data, pos, end)
            if field == 2:
                base_key = value
            elif field == 3:
                identity_key = value
            else:
                message = value
        elif wire_type == 0 and (field == 5 or field == 1 or field == 6):
            number, pos = read_varint(data, pos)
            number &= _UINT32_MAX
            if field == 5:
                registration_id = number
            elif field == 1:
                pre_key_id = number
            else:
                signed_pre_key_id = number
        elif field == 0 or field > _MAX_FIELD_NUMBER:
            raise InvalidMessage("PreKeySignalMessage has an invalid field number")
        else:
            pos = skip_field(data, pos, wire_type)
    if registration_id is None:
        raise InvalidMessage("PreKeySignalMessage lacks registration_id")
    if signed_pre_key_id is None:
        raise InvalidMessage("PreKeySignalMessage lacks signed_pre_key_id")
    if base_key is None:
        raise InvalidMessage("PreKeySignalMessage lacks base_key")
    if identity_key is None:
        raise InvalidMessage("PreKeySignalMessage lacks identity_key")
    if message is None:
        raise InvalidMessage("PreKeySignalMessage lacks message")
    return PreKeyMessage(
        registration_id,
        pre_key_id,
        signed_pre_key_id,
        _key(base_key, "base key"),
        _key(identity_key, "identity key"),
        message,
    )


def build_prekey_message(
    *,
    registration_id: int,
    pre_key_id: int | None,
    signed_pre_key_id: int,
    base_key: bytes,
    identity_key: bytes,
    message: bytes,
) -> bytes:
    """Serialize a PreKeySignalMessage around an already serialized SignalMessage."""
    msg = signal_pb2.PreKeySignalMessage(
        registration_id=registration_id,
        signed_pre_key_id=signed_pre_key_id,
        base_key=b"\x05" + base_key,
        identity_key=b"\x05" + identity_key,
        message=message,
    )
    if pre_key_id is not None:
        msg.pre_key_id = pre_key_id
    return VERSION_PREFIX + msg.SerializeToString()


@dataclass(frozen=True, slots=True)
class SenderKeyMessageParts:
    """A parsed ``SenderKeyMessage``: ``signed`` is version | protobuf."""

    key_id: int
    iteration: int
    ciphertext: bytes
    signed: bytes
    signature: bytes


def parse_sender_key_message(data: bytes) -> SenderKeyMessageParts:
    """Parse a serialized SenderKeyMessage (no signature check here)."""
    _check_version(data, "SenderKeyMessage")
    if len(data) < 1 + SIGNATURE_SIZE + 2:
        raise InvalidMessage("SenderKeyMessage too short")
    signed = data[:-SIGNATURE_SIZE]
    try:
        msg = signal_pb2.SenderKeyMessage.FromString(signed[1:])
    except ProtoDecodeError:
        raise InvalidMessage("SenderKeyMessage protobuf is malformed") from None
    if not (msg.HasField("id") and msg.HasField("iteration") and msg.HasField("ciphertext")):
        raise InvalidMessage("SenderKeyMessage lacks a required field")
    return SenderKeyMessageParts(
        msg.id, msg.iteration, msg.ciphertext, signed, data[-SIGNATURE_SIZE:]
    )


def build_sender_key_body(key_id: int, iteration: int, ciphertext: bytes) -> bytes:
    """Version byte | SenderKeyMessage protobuf (the part the signature covers)."""
    return (
        VERSION_PREFIX
        + signal_pb2.SenderKeyMessage(
            id=key_id, iteration=iteration, ciphertext=ciphertext
        ).SerializeToString()
    )


@dataclass(frozen=True, slots=True)
class SenderKeyDistribution:
    """A parsed ``SenderKeyDistributionMessage`` (signing key as 32 raw bytes)."""

    key_id: int
    iteration: int
    chain_key: bytes = dataclasses.field(repr=False)  # secret: it reads the group's messages
    signing_key: bytes


def parse_sender_key_distribution(data: bytes) -> SenderKeyDistribution:
    """Parse a serialized SenderKeyDistributionMessage."""
    _check_version(data, "SenderKeyDistributionMessage")
    try:
        msg = signal_pb2.SenderKeyDistributionMessage.FromString(data[1:])
    except ProtoDecodeError:
        raise InvalidMessage("SenderKeyDistributionMessage protobuf is malformed") from None
    for field in ("id", "iteration", "chain_key", "signing_key"):
        if not msg.HasField(field):
            raise InvalidMessage(f"SenderKeyDistributionMessage lacks {field}")
    if len(msg.chain_key) != KEY_SIZE:
        raise InvalidMessage("sender chain key is not 32 bytes")
    return SenderKeyDistribution(
        msg.id, msg.iteration, msg.chain_key, _key(msg.signing_key, "signing key")
    )


def build_sender_key_distribution(dist: SenderKeyDistribution) -> bytes:
    """Serialize a SenderKeyDistributionMessage."""
    return (
        VERSION_PREFIX
        + signal_pb2.SenderKeyDistributionMessage(
            id=dist.key_id,
            iteration=dist.iteration,
            chain_key=dist.chain_key,
            signing_key=b"\x05" + dist.signing_key,
        ).SerializeToString()
    )
