"""bytes -> Node (the binary node format, without the frame's flag byte).

The decoder never trusts the input: every length is checked against the bytes that remain,
nesting is bounded, and anything malformed or truncated raises
:class:`~wamd.errors.DecodeError` with the offset where it went wrong. Work and memory are
linear in the input size.
"""

from __future__ import annotations

import re

from wamd.binary.node import AttrValue, Content, Node
from wamd.binary.tokens import (
    AD_JID,
    BINARY_8,
    BINARY_20,
    BINARY_32,
    DICTIONARY_0,
    DICTIONARY_3,
    DOUBLE_BYTE_TOKENS,
    FB_JID,
    HEX_8,
    INTEROP_JID,
    JID_PAIR,
    LIST_8,
    LIST_16,
    LIST_EMPTY,
    NIBBLE_8,
    SINGLE_BYTE_TOKENS,
)
from wamd.errors import DecodeError
from wamd.types.jid import (
    INTEROP_SERVER,
    JID,
    MESSENGER_SERVER,
    SERVER_OF_DOMAIN,
    USER_SERVER,
)

DEFAULT_MAX_DEPTH = 64
"""Default bound on node nesting (real stanzas nest fewer than ten levels)."""
MAX_DEPTH_LIMIT = 500
"""Largest ``max_depth`` accepted (the decoder recurses once per level)."""

_SINGLE = SINGLE_BYTE_TOKENS
_DOUBLE = DOUBLE_BYTE_TOKENS
_BAD_NIBBLE = re.compile(r"[cde]")
_NIBBLE_FROM_HEX = str.maketrans("abf", "-.\x00")
_MIN_NODE_SIZE = 3  # LIST_8, size, tag token


class _Truncated(Exception):
    """Internal: a declared length runs past the end of the input."""


def decode_node(
    data: bytes | bytearray | memoryview,
    *,
    max_depth: int = DEFAULT_MAX_DEPTH,
) -> Node:
    """Decode one node occupying all of ``data`` (no flag byte).

    Raises :class:`~wamd.errors.DecodeError` (with ``offset``) on malformed, truncated or
    trailing input and when nodes nest deeper than ``max_depth``.
    """
    if not 1 <= max_depth <= MAX_DEPTH_LIMIT:
        raise ValueError(f"max_depth must be in 1..{MAX_DEPTH_LIMIT}")
    buf = data if data.__class__ is bytes else bytes(data)
    assert isinstance(buf, bytes)
    try:
        node, pos = _read_node(buf, 0, 0, max_depth)
    except (IndexError, _Truncated):
        raise DecodeError("unexpected end of input", len(buf)) from None
    if pos != len(buf):
        raise DecodeError(f"{len(buf) - pos} bytes left over after the node", pos)
    return node


def _read_node(data: bytes, pos: int, depth: int, max_depth: int) -> tuple[Node, int]:
    start = pos
    b = data[pos]
    if b == LIST_8:
        size = data[pos + 1]
        pos += 2
    elif b == LIST_16:
        size = (data[pos + 1] << 8) | data[pos + 2]
        pos += 3
    else:
        raise DecodeError(f"expected a node list, found byte {b}", pos)
    if not size:
        raise DecodeError("empty node", start)
    if size > len(data) - pos:
        raise _Truncated

    t = data[pos]
    if 0 < t < DICTIONARY_0:
        tag: object = _SINGLE[t]
        pos += 1
    else:
        tag_pos = pos
        tag, pos = _read_string(data, pos + 1, t)
        if tag.__class__ is not str or not tag:
            raise DecodeError("node tag must be a non-empty string", tag_pos)
    assert isinstance(tag, str)

    attrs: dict[str, AttrValue] = {}
    for _ in range((size - 1) >> 1):
        t = data[pos]
        if 0 < t < DICTIONARY_0:
            key: object = _SINGLE[t]
            pos += 1
        else:
            key_pos = pos
            key, pos = _read_string(data, pos + 1, t)
            if key.__class__ is not str:
                raise DecodeError("attribute name must be a string", key_pos)
        assert isinstance(key, str)
        t = data[pos]
        if 0 < t < DICTIONARY_0:
            attrs[key] = _SINGLE[t]
            pos += 1
        else:
            attrs[key], pos = _read_string(data, pos + 1, t)

    if size & 1:
        return Node(tag, attrs), pos

    content: Content
    t = data[pos]
    pos += 1
    if t in (LIST_8, LIST_16):
        if t == LIST_8:
            count = data[pos]
            pos += 1
        else:
            count = (data[pos] << 8) | data[pos + 1]
            pos += 2
        if count:
            if depth + 1 >= max_depth:
                raise DecodeError(f"nodes nested deeper than {max_depth}", pos)
            if count * _MIN_NODE_SIZE > len(data) - pos:
                raise _Truncated
        children: list[Node] = []
        append = children.append
        for _ in range(count):
            child, pos = _read_node(data, pos, depth + 1, max_depth)
            append(child)
        content = children
    elif t == BINARY_8:
        end = pos + 1 + data[pos]
        if end > len(data):
            raise _Truncated
        content = data[pos + 1 : end]
        pos = end
    elif t == BINARY_20:
        end = pos + 3 + (((data[pos] & 15) << 16) | (data[pos + 1] << 8) | data[pos + 2])
        if end > len(data):
            raise _Truncated
        content = data[pos + 3 : end]
        pos = end
    elif t == BINARY_32:
        if pos + 4 > len(data):
            raise _Truncated
        end = pos + 4 + int.from_bytes(data[pos : pos + 4], "big")
        if end > len(data):
            raise _Truncated
        content = data[pos + 4 : end]
        pos = end
    elif t == LIST_EMPTY:
        content = []
    else:
        content, pos = _read_string(data, pos, t)
    return Node(tag, attrs, content), pos


def _read_string(data: bytes, pos: int, t: int) -> tuple[str | JID, int]:
    """Read a string-valued item whose tag byte ``t`` was at ``pos - 1``."""
    if 0 < t < DICTIONARY_0:
        return _SINGLE[t], pos
    if t <= DICTIONARY_3:
        if t == LIST_EMPTY:
            return "", pos
        return _DOUBLE[t - DICTIONARY_0][data[pos]], pos + 1
    if t == BINARY_8:
        end = pos + 1 + data[pos]
        pos += 1
    elif t == BINARY_20:
        end = pos + 3 + (((data[pos] & 15) << 16) | (data[pos + 1] << 8) | data[pos + 2])
        pos += 3
    elif t == BINARY_32:
        if pos + 4 > len(data):
            raise _Truncated
        end = pos + 4 + int.from_bytes(data[pos : pos + 4], "big")
        pos += 4
    elif t in (NIBBLE_8, HEX_8):
        return _read_packed(data, pos, t)
    elif t == JID_PAIR:
        return _read_jid_pair(data, pos)
    elif t == AD_JID:
        return _read_ad_jid(data, pos)
    elif t == FB_JID:
        return _read_fb_jid(data, pos)
    elif t == INTEROP_JID:
        return _read_interop_jid(data, pos)
    else:
        raise DecodeError(f"invalid string tag {t}", pos - 1)
    if end > len(data):
        raise _Truncated
    return data[pos:end].decode("utf-8", "replace"), end


def _read_packed(data: bytes, pos: int, t: int) -> tuple[str, int]:
    header = data[pos]
    end = pos + 1 + (header & 127)
    if end > len(data):
        raise _Truncated
    digits = data[pos + 1 : end].hex()
    if t == NIBBLE_8:
        if _BAD_NIBBLE.search(digits):
            raise DecodeError("invalid nibble in packed string", pos - 1)
        text = digits.translate(_NIBBLE_FROM_HEX)
    else:
        text = digits.upper()
    if header & 128:
        text = text[:-1]
    return text, end


def _read_jid_part(data: bytes, pos: int, what: str) -> tuple[str, int]:
    t = data[pos]
    value, end = _read_string(data, pos + 1, t)
    if value.__class__ is not str:
        raise DecodeError(f"JID {what} must be a plain string", pos)
    assert isinstance(value, str)
    if "@" in value or ":" in value:
        raise DecodeError(f"invalid character in JID {what} {value[:40]!r}", pos)
    return value, end


def _read_jid_pair(data: bytes, pos: int) -> tuple[JID, int]:
    start = pos - 1
    user, pos = _read_jid_part(data, pos, "user")
    server, pos = _read_jid_part(data, pos, "server")
    if not server:
        raise DecodeError("JID pair without a server", start)
    if server == USER_SERVER and "." in user:
        raise DecodeError(f"invalid phone-number JID user {user[:40]!r}", start)
    return JID._make(user, server), pos


def _read_ad_jid(data: bytes, pos: int) -> tuple[JID, int]:
    start = pos - 1
    domain = data[pos]
    device = data[pos + 1]
    user, pos = _read_jid_part(data, pos + 2, "user")
    server = SERVER_OF_DOMAIN.get(domain, USER_SERVER)
    agent = domain if server == USER_SERVER else 0
    if not user and (device or agent):
        raise DecodeError("AD-JID without a user", start)
    if server == USER_SERVER and "." in user:
        raise DecodeError(f"invalid phone-number JID user {user[:40]!r}", start)
    return JID._make(user, server, agent, device), pos


def _read_fb_jid(data: bytes, pos: int) -> tuple[JID, int]:
    start = pos - 1
    user, pos = _read_jid_part(data, pos, "user")
    device = (data[pos] << 8) | data[pos + 1]
    server, pos = _read_jid_part(data, pos + 2, "server")
    if server != MESSENGER_SERVER:
        raise DecodeError(f"FB JID on server {server[:40]!r}, expected {MESSENGER_SERVER!r}", start)
    if not user and device:
        raise DecodeError("FB JID without a user", start)
    return JID._make(user, server, 0, device), pos


def _read_interop_jid(data: bytes, pos: int) -> tuple[JID, int]:
    start = pos - 1
    user, pos = _read_jid_part(data, pos, "user")
    device = (data[pos] << 8) | data[pos + 1]
    integrator = (data[pos + 2] << 8) | data[pos + 3]
    server, pos = _read_jid_part(data, pos + 4, "server")
    if server != INTEROP_SERVER:
        raise DecodeError(f"interop JID on server {server[:40]!r}", start)
    if not user and device:
        raise DecodeError("interop JID without a user", start)
    return JID._make(user, server, 0, device, integrator), pos


__all__ = ["DEFAULT_MAX_DEPTH", "MAX_DEPTH_LIMIT", "decode_node"]
