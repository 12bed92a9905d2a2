"""Node -> bytes (the binary node format, without the frame's flag byte).

Strings are written, in this order of preference, as a token (one or two bytes), a packed
nibble string (digits, ``-``, ``.``), a packed hex string (``0-9A-F``) or raw UTF-8 with a
BINARY_8/20/32 length; JID values use JID_PAIR, AD_JID, FB_JID or INTEROP_JID. The choices
are those of Baileys, so both encoders produce the same bytes for the same tree.
"""

from __future__ import annotations

import re

from wamd.binary.node import Node
from wamd.binary.tokens import (
    AD_JID,
    BINARY_8,
    BINARY_20,
    BINARY_32,
    FB_JID,
    HEX_8,
    INTEROP_JID,
    JID_PAIR,
    LIST_8,
    LIST_16,
    LIST_EMPTY,
    NIBBLE_8,
    TOKEN_INDEX,
)
from wamd.errors import EncodeError
from wamd.types.jid import (
    DOMAIN_OF_SERVER,
    HOSTED_LID_SERVER,
    HOSTED_SERVER,
    INTEROP_SERVER,
    JID,
    MESSENGER_SERVER,
)

MAX_ENCODE_DEPTH = 256
"""Deepest nesting the encoder accepts (guards against cyclic node graphs)."""

_NIBBLE = re.compile(r"[0-9.\-]{1,127}").fullmatch
_HEX = re.compile(r"[0-9A-F]{1,127}").fullmatch
_NIBBLE_TO_HEX = str.maketrans("-.", "ab")
_EMPTY_STRING = bytes((BINARY_8, 0))
_ALWAYS_AD = (HOSTED_SERVER, HOSTED_LID_SERVER)
_MAX_LENGTH = 1 << 32
_TOKEN = TOKEN_INDEX.get
_fromhex = bytes.fromhex
_set = object.__setattr__
# Precomputed two-byte headers, indexed by size/length.
_LIST8_HEAD = tuple(bytes((LIST_8, n)) for n in range(256))
_BINARY8_HEAD = tuple(bytes((BINARY_8, n)) for n in range(256))
_NIBBLE_HEAD = tuple(bytes((NIBBLE_8, ((n + 1) >> 1) | ((n & 1) << 7))) for n in range(128))
_HEX_HEAD = tuple(bytes((HEX_8, ((n + 1) >> 1) | ((n & 1) << 7))) for n in range(128))


def encode_node(node: Node) -> bytes:
    """Encode ``node`` (no flag byte). Raises :class:`~wamd.errors.EncodeError` for values
    the format cannot carry (wrong types, empty tags, oversized lists or binaries)."""
    out = bytearray()
    _write_node(out, node, 0)
    return bytes(out)


def write_value(out: bytearray, value: object, where: str = "attribute") -> None:
    """Append the encoding of one attribute value (a ``str`` or a :class:`JID`) to ``out``,
    exactly as :func:`encode_node` writes it; for stanza builders that splice values into
    precomputed bytes. Raises :class:`~wamd.errors.EncodeError` for other types."""
    if type(value) is JID:
        out += value._wire or _jid_wire(value)
    elif isinstance(value, str):
        _write_string(out, value)
    else:
        raise EncodeError(f"{where} must be str or JID, not {type(value).__name__}")


def _list_start(out: bytearray, size: int) -> None:
    if size == 0:
        out.append(LIST_EMPTY)
    elif size < 256:
        out += _LIST8_HEAD[size]
    elif size < 65536:
        out += bytes((LIST_16, size >> 8, size & 0xFF))
    else:
        raise EncodeError(f"list of {size} items is too long (max 65535)")


def _byte_length(out: bytearray, length: int) -> None:
    if length < 256:
        out += _BINARY8_HEAD[length]
    elif length < 1 << 20:
        out += bytes((BINARY_20, length >> 16, (length >> 8) & 0xFF, length & 0xFF))
    elif length < _MAX_LENGTH:
        out.append(BINARY_32)
        out += length.to_bytes(4, "big")
    else:
        raise EncodeError(f"binary of {length} bytes is too long")


def _write_string(out: bytearray, text: str) -> None:
    token = _TOKEN(text)
    if token is not None:
        out += token
        return
    length = len(text)
    if length <= 127 and text.isascii():
        if not length:
            out += _EMPTY_STRING
            return
        if text.isdigit():  # the common packed case: decimal digits are their own hex form
            out += _NIBBLE_HEAD[length]
            out += _fromhex(text + "f" if length & 1 else text)
            return
        if _NIBBLE(text):
            out += _NIBBLE_HEAD[length]
            packed = text.translate(_NIBBLE_TO_HEX)
            out += _fromhex(packed + "f" if length & 1 else packed)
            return
        if _HEX(text):
            out += _HEX_HEAD[length]
            out += _fromhex(text + "F" if length & 1 else text)
            return
    _write_bytes(out, text.encode())


def _write_bytes(out: bytearray, data: bytes) -> None:
    length = len(data)
    if length < 256:
        out += _BINARY8_HEAD[length]
    else:
        _byte_length(out, length)
    out += data


def _jid_wire(jid: JID) -> bytes:
    """The encoding of ``jid``, memoized on the (immutable) JID object."""
    wire = jid._wire
    if wire is not None:
        return wire
    out = bytearray()
    server = jid.server
    if server in DOMAIN_OF_SERVER and (jid.device or jid.agent or server in _ALWAYS_AD):
        if jid.device > 255:
            raise EncodeError(f"device {jid.device} of {jid} does not fit an AD-JID")
        out += bytes((AD_JID, jid.domain, jid.device))
        _write_string(out, jid.user)
    elif server == MESSENGER_SERVER:
        out.append(FB_JID)
        _write_string(out, jid.user)
        out += jid.device.to_bytes(2, "big")
        _write_string(out, server)
    elif server == INTEROP_SERVER:
        out.append(INTEROP_JID)
        _write_string(out, jid.user)
        out += jid.device.to_bytes(2, "big")
        out += jid.integrator.to_bytes(2, "big")
        _write_string(out, server)
    elif jid.device or jid.agent:
        raise EncodeError(f"{jid}: a device JID on {server!r} has no wire encoding")
    else:
        out.append(JID_PAIR)
        if jid.user:
            _write_string(out, jid.user)
        else:
            out.append(LIST_EMPTY)
        _write_string(out, server)
    wire = bytes(out)
    _set(jid, "_wire", wire)
    return wire


def _write_node(out: bytearray, node: Node, depth: int) -> None:
    if node.__class__ is not Node and not isinstance(node, Node):
        raise EncodeError(f"expected a Node, got {type(node).__name__}")
    tag = node.tag
    attrs = node.attrs
    content = node.content
    size = 2 * len(attrs) + (1 if content is None else 2)
    if size < 256:
        out += _LIST8_HEAD[size]
    else:
        _list_start(out, size)
    if tag.__class__ is not str and not isinstance(tag, str):
        raise EncodeError(f"invalid node tag {tag!r}")
    token = _TOKEN(tag)
    if token is not None:
        out += token
    elif tag:
        _write_string(out, tag)
    else:
        raise EncodeError("empty node tag")
    for key, value in attrs.items():
        token = _TOKEN(key)
        if token is not None:
            out += token
        elif isinstance(key, str):
            _write_string(out, key)
        else:
            raise EncodeError(f"<{tag}> attribute name {key!r} is not a string")
        if value.__class__ is str:
            token = _TOKEN(value)
            if token is not None:
                out += token
            else:
                _write_string(out, value)
        elif value.__class__ is JID:
            out += value._wire or _jid_wire(value)
        elif isinstance(value, str):  # str subclasses such as StrEnum members
            _write_string(out, value)
        else:
            raise EncodeError(
                f"<{tag}> attribute {key!r} must be str or JID, not {type(value).__name__}"
            )
    if content is None:
        return
    if isinstance(content, list):
        if depth >= MAX_ENCODE_DEPTH:
            raise EncodeError(f"nodes nested deeper than {MAX_ENCODE_DEPTH}")
        count = len(content)
        if 0 < count < 256:
            out += _LIST8_HEAD[count]
        else:
            _list_start(out, count)
        depth += 1
        for child in content:
            _write_node(out, child, depth)
    elif isinstance(content, bytes):
        _write_bytes(out, content)
    elif isinstance(content, str):
        _write_string(out, content)
    elif isinstance(content, JID):
        out += _jid_wire(content)
    elif isinstance(content, (bytearray, memoryview)):
        _write_bytes(out, bytes(content))
    else:
        raise EncodeError(f"<{tag}> content of type {type(content).__name__} is not encodable")
