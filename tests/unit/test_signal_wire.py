"""The hand-written Signal wire readers against the general reader and protobuf's own.

``parse_signal_message`` has a short path for the layout every libsignal writes and a general
reader for the rest: for any input both give the same values or both raise
:class:`InvalidMessage`, and what they accept protobuf reads the same (the general reader is
stricter than protobuf on counters beyond 32 bits and fields of the wrong wire type).
``parse_prekey_message`` reads the protobuf by hand and must give what the generated
``signal_pb2`` class gives for any input, or raise :class:`InvalidMessage` where that fails.
"""

from __future__ import annotations

import random

import pytest
from google.protobuf.message import DecodeError

from tests.unit.signal_helpers import Party
from wamd.errors import InvalidMessage
from wamd.proto import signal_pb2
from wamd.signal import wire
from wamd.signal._pbwrite import bytes_field, varint, varint_field

KEY = bytes(range(1, 33))


def _signal_reference(data: bytes) -> wire.SignalMessageParts:
    """SignalMessage fields through the generated class (raising InvalidMessage like wire)."""
    if not data or data[0] != wire.VERSION_BYTE or len(data) < 11:
        raise InvalidMessage("bad")
    signed = data[:-8]
    try:
        msg = signal_pb2.SignalMessage.FromString(signed[1:])
    except DecodeError:
        raise InvalidMessage("bad") from None
    if not (msg.HasField("ratchet_key") and msg.HasField("counter") and msg.HasField("ciphertext")):
        raise InvalidMessage("bad")
    key = msg.ratchet_key
    if len(key) != 33 or key[0] != 5:
        raise InvalidMessage("bad")
    return wire.SignalMessageParts(
        key[1:], msg.counter, msg.previous_counter, msg.ciphertext, signed, data[-8:]
    )


def _prekey_reference(data: bytes) -> wire.PreKeyMessage:
    """PreKeySignalMessage fields through the generated class (raising InvalidMessage)."""
    if not data or data[0] != wire.VERSION_BYTE:
        raise InvalidMessage("bad")
    try:
        msg = signal_pb2.PreKeySignalMessage.FromString(data[1:])
    except DecodeError:
        raise InvalidMessage("bad") from None
    for name in ("registration_id", "signed_pre_key_id", "base_key", "identity_key", "message"):
        if not msg.HasField(name):
            raise InvalidMessage("bad")
    for key in (msg.base_key, msg.identity_key):
        if len(key) != 33 or key[0] != 5:
            raise InvalidMessage("bad")
    return wire.PreKeyMessage(
        msg.registration_id,
        msg.pre_key_id if msg.HasField("pre_key_id") else None,
        msg.signed_pre_key_id,
        msg.base_key[1:],
        msg.identity_key[1:],
        msg.message,
    )


def _signal_same(data: bytes) -> None:
    """Both SignalMessage paths agree, and with protobuf on what they accept."""
    _same(wire.parse_signal_message, wire._parse_general, data)
    try:
        parsed = wire.parse_signal_message(data)
    except InvalidMessage:
        return
    assert parsed == _signal_reference(data)


def _same(parse: object, reference: object, data: bytes) -> None:
    assert callable(parse)
    assert callable(reference)
    try:
        expected = reference(data)
    except InvalidMessage:
        with pytest.raises(InvalidMessage):
            parse(data)
        return
    assert parse(data) == expected


def _real_messages() -> list[tuple[str, bytes]]:
    alice, bob = Party(), Party()
    alice.local = type(alice.local)(alice.local.key_pair, 16000)  # a two-byte varint
    alice.start(bob, 0xFFFFFF)
    messages = [alice.send(bytes(n)) for n in (0, 15, 16, 200, 3000)]
    for _ in range(200):  # counters beyond one varint byte
        messages.append(alice.send(b"x"))
    return messages


def _mutations(data: bytes, rng: random.Random, count: int) -> list[bytes]:
    out = [data[:n] for n in range(min(len(data), 60))]
    for _ in range(count):
        buf = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            kind = rng.randrange(3)
            at = rng.randrange(len(buf) + 1)
            if kind == 0 and at < len(buf):
                buf[at] = rng.randrange(256)
            elif kind == 1:
                buf[at:at] = bytes([rng.randrange(256)])
            elif at < len(buf):
                del buf[at]
        out.append(bytes(buf))
    return out


def test_signal_message_readers_agree_with_protobuf() -> None:
    rng = random.Random(7)
    for enc_type, data in _real_messages()[:8]:
        inner = wire.parse_prekey_message(data).message if enc_type == "pkmsg" else data
        assert inner[:4] == b"\x33\x0a\x21\x05"
        assert wire._parse_canonical(inner) == wire._parse_general(inner)
        for variant in _mutations(inner, rng, 600):
            _signal_same(variant)


def test_signal_message_with_an_out_of_range_field_number() -> None:
    # an unknown field whose tag (10-byte varint) is beyond protobuf's 29-bit field numbers:
    # protobuf refuses the message, so must wire (found by the mutation test above)
    body = b"\x33\x0a\x21\x05" + KEY + b"\x10\x02\x18\x00\x22\x10" + bytes(16)
    data = body + bytes.fromhex("95f38982fe849bfbd741") + bytes(4) + bytes(8)
    _signal_same(data)
    with pytest.raises(InvalidMessage, match="invalid field number"):
        wire.parse_signal_message(data)


def _signal_body(*fields: bytes) -> bytes:
    return b"\x33" + b"".join(fields)


@pytest.mark.parametrize(
    "fields",
    [
        # libsignal's order, then others: every one must read the same on both paths
        (b"\x0a\x21\x05" + KEY, varint_field(b"\x10", 7), varint_field(b"\x18", 3), b"\x22\x10"),
        (varint_field(b"\x10", 7), b"\x0a\x21\x05" + KEY, b"\x22\x10"),  # no previous counter
        (b"\x0a\x21\x05" + KEY, varint_field(b"\x10", 300), b"\x22\x10"),
        (
            b"\x0a\x21\x05" + KEY,
            b"\x10\x01",
            b"\x18\x02",
            b"\x22\x00",
            b"\x28\x09",
        ),  # unknown field
        (b"\x0a\x21\x05" + KEY, varint_field(b"\x10", 1 << 32), b"\x18\x00", b"\x22\x10"),
        (b"\x0a\x21\x05" + KEY, varint_field(b"\x10", 1), b"\x18\x00", b"\x22\x11"),  # too long
        (b"\x0a\x21\x05" + KEY, varint_field(b"\x10", 1), b"\x18\x00", b"\x22\x0f"),  # short
        (b"\x0a\x21\x05" + KEY, b"\x10\x80\x80", b"\x18\x00", b"\x22\x10"),  # bad varint
    ],
)
def test_signal_message_layouts(fields: tuple[bytes, ...]) -> None:
    body = _signal_body(*fields)
    if body.endswith((b"\x22\x10", b"\x22\x11", b"\x22\x0f")):
        body += bytes(range(16))
    data = body + bytes(8)
    _signal_same(data)


def test_signal_message_layouts_that_read() -> None:
    """libsignal's layout takes the short path; other orders read the same on the general one."""
    for fields, short in (
        ((b"\x0a\x21\x05" + KEY, b"\x10\xac\x02", b"\x18\x03", b"\x22\x10"), True),
        ((b"\x10\x07", b"\x0a\x21\x05" + KEY, b"\x22\x10"), False),
        ((b"\x0a\x21\x05" + KEY, b"\x10\x01", b"\x22\x10", b"\x18\x02"), False),
    ):
        body = _signal_body(*fields).replace(b"\x22\x10", b"\x22\x10" + bytes(range(16)))
        data = body + bytes(8)
        parsed = wire.parse_signal_message(data)
        assert parsed == _signal_reference(data)
        assert parsed.ratchet_key == KEY
        assert parsed.ciphertext == bytes(range(16))
        assert (wire._parse_canonical(data) is not None) is short


def test_prekey_message_reader_agrees_with_protobuf() -> None:
    rng = random.Random(11)
    for enc_type, data in _real_messages()[:3]:
        assert enc_type == "pkmsg"
        assert wire.parse_prekey_message(data) == _prekey_reference(data)
        assert wire._parse_prekey_canonical(data) is not None  # what we write takes it
        assert wire._parse_prekey_canonical(data) == wire._parse_prekey_general(data)
        for variant in _mutations(data, rng, 1500):
            _same(wire.parse_prekey_message, _prekey_reference, variant)
            _short_path_agrees(variant)


def _short_path_agrees(data: bytes) -> None:
    """Where the short pkmsg path reads a message, the general reader reads the same."""
    if not data or data[0] != wire.VERSION_BYTE:
        return
    short = wire._parse_prekey_canonical(data)
    if short is not None:
        assert short == wire._parse_prekey_general(data)


KEY_FIELD = b"\x05" + KEY
PREKEY_FIELDS = {
    "pre": varint_field(b"\x08", 1),
    "base": bytes_field(b"\x12", KEY_FIELD),
    "identity": bytes_field(b"\x1a", KEY_FIELD),
    "message": bytes_field(b"\x22", b"inner"),
    "registration": varint_field(b"\x28", 2),
    "signed": varint_field(b"\x30", 3),
    # other values and fields
    "signed 4": varint_field(b"\x30", 4),
    "message 2": bytes_field(b"\x22", b"second"),
    "empty message": bytes_field(b"\x22", b""),
    "registration 2^40+9": varint_field(b"\x28", (1 << 40) + 9),  # read as its low 32 bits
    "pre as bytes": bytes_field(b"\x0a", b"not a varint"),  # a known field of another type
    "short base": bytes_field(b"\x12", KEY_FIELD[:-1]),
    "unknown varint": varint_field(b"\x38", 1),
    "unknown bytes": bytes_field(b"\x42", b"x"),
    "unknown fixed64": b"\x49" + bytes(8),
    "unknown fixed32": b"\x55" + bytes(4),
    "field 16": varint_field(b"\x80\x01", 5),  # a two-byte key
    "field 0": b"\x00\x01",
    "group": b"\x0b",
    "truncated": b"\x22\x05abc",
    "over-long varint": b"\x28" + b"\xff" * 11,
    "cut varint": b"\x28",
}


@pytest.mark.parametrize(
    "names",
    [
        # every field, in field-number order (as protobuf writes: the short path) and others
        "pre base identity message registration signed",
        "base identity message registration signed",
        "registration pre signed base identity message",
        # no one-time prekey; repeated fields (the last wins); unknown fields of each type
        "registration signed signed_4 base identity message message_2 unknown_varint"
        " unknown_bytes unknown_fixed64 unknown_fixed32 field_16",
        "registration_2^40+9 signed pre_as_bytes base identity empty_message",
        # malformed or incomplete: each must raise InvalidMessage
        "registration signed base",
        "field_0",
        "group",
        "truncated",
        "over-long_varint",
        "cut_varint",
        "registration signed short_base identity message",
    ],
)
def test_prekey_message_layouts(names: str) -> None:
    data = b"\x33" + b"".join(PREKEY_FIELDS[name.replace("_", " ")] for name in names.split())
    _same(wire.parse_prekey_message, _prekey_reference, data)
    _short_path_agrees(data)
    in_order = names in (
        "pre base identity message registration signed",
        "base identity message registration signed",
    )
    assert (wire._parse_prekey_canonical(data) is not None) is in_order


@pytest.mark.parametrize("data", [b"\x33" + varint(5), b"", b"\x32" + bytes(10), b"\x33"])
def test_prekey_message_bad_envelopes(data: bytes) -> None:
    _same(wire.parse_prekey_message, _prekey_reference, data)
