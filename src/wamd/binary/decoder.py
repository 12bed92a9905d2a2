"""bytes -> Node (the binary node format, without the frame's flag byte).

The decoder never trusts the input: every length is checked against the bytes that remain,
nesting is bounded, and anything malformed or truncated raises
:class:`~wamd.errors.DecodeError` with the offset where it went wrong. Work and memory are
linear in the input size.

:func:`decode_node` runs the compiled twin of this module's loop (``_cdecoder.c``, same trees,
same errors and offsets) when it is built, else the pure-Python loop below; see
:data:`ACCELERATED` and :data:`IMPLEMENTATIONS`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from wamd._compiled import load_compiled
from wamd.binary.node import AttrValue, Node
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
MAX_DEPTH_LIMIT = 10_000
"""Largest ``max_depth`` accepted."""

_SINGLE = SINGLE_BYTE_TOKENS
_DOUBLE = DOUBLE_BYTE_TOKENS
# byte -> single-byte token, None for the bytes that are not one (0 and 236..255)
_TOKEN_AT: tuple[str | None, ...] = (None, *SINGLE_BYTE_TOKENS[1:], *(None,) * 20)
_BAD_NIBBLE_SEARCH = re.compile(r"[cde]").search
_BAD_NIBBLES = frozenset("cde")  # not "": an empty odd-flagged string is accepted
_NIBBLE_FROM_HEX = str.maketrans("abf", "-.\x00")
_MIN_NODE_SIZE = 3  # LIST_8, size, tag token
_new_node = object.__new__
_JID_CACHE: dict[bytes, JID] = {}
_JID_CACHE_SIZE = 4096
_JID_TAGS = frozenset({JID_PAIR, AD_JID, FB_JID, INTEROP_JID})


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
    return _decode(buf, max_depth)


def _decode_python(buf: bytes, max_depth: int) -> Node:
    """The pure-Python decoder: the node occupying all of ``buf``."""
    try:
        node, pos = _read_tree(buf, max_depth)
    except (IndexError, _Truncated):
        raise DecodeError("unexpected end of input", len(buf)) from None
    if pos != len(buf):
        raise DecodeError(f"{len(buf) - pos} bytes left over after the node", pos)
    return node


def _read_tree(data: bytes, max_depth: int) -> tuple[Node, int]:
    """Decode the node at offset 0; returns it and the offset just after it.

    Iterative (an explicit stack of unfinished child lists) with the common encodings
    inlined and module constants bound to locals: this loop is the decoder's hot path.
    Indexing past the end raises IndexError, which the caller turns into a DecodeError.
    """
    token_at = _TOKEN_AT
    double = _DOUBLE
    jid_cache = _JID_CACHE
    new_node = _new_node
    limit = len(data)
    pos = 0
    # The list the next node goes into and how many nodes it still expects; the stack
    # holds the same pair for every unfinished ancestor. The outermost list is the result.
    siblings: list[Node] = []
    remaining = 1
    top = siblings
    stack: list[tuple[list[Node], int]] = []
    while True:
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
            raise DecodeError("empty node", pos - 2)
        if size > limit - pos:
            raise _Truncated

        t = data[pos]
        token = token_at[t]
        tag: str
        if token is not None:
            tag = token
            pos += 1
        else:
            tag_pos = pos
            tag_value, pos = _read_string(data, pos + 1, t)
            if not isinstance(tag_value, str) or not tag_value:
                raise DecodeError("node tag must be a non-empty string", tag_pos)
            tag = tag_value

        attrs: dict[str, AttrValue] = {}
        key: str
        value: str | JID | None
        pairs = (size - 1) >> 1
        while pairs:  # (cheaper than a range() per node)
            pairs -= 1
            t = data[pos]
            pos += 1
            token = token_at[t]
            if token is not None:
                key = token
            elif DICTIONARY_0 <= t <= DICTIONARY_3:
                key = double[t - DICTIONARY_0][data[pos]]
                pos += 1
            else:
                key_pos = pos - 1
                key_value, pos = _read_string(data, pos, t)
                if not isinstance(key_value, str):
                    raise DecodeError("attribute name must be a string", key_pos)
                key = key_value

            t = data[pos]
            pos += 1
            token = token_at[t]
            if token is not None:
                attrs[key] = token
                continue
            if t == JID_PAIR or t == AD_JID:  # noqa: SIM109 - int compares beat a tuple scan
                # A JID's bytes fully determine it: recently seen encodings are looked up
                # whole (JIDs are immutable, so sharing them is safe).
                if t == AD_JID:
                    end = pos + 4 + (data[pos + 3] & 127) if data[pos + 2] == NIBBLE_8 else 0
                elif data[pos] == NIBBLE_8:
                    end = pos + 3 + (data[pos + 1] & 127)
                else:
                    end = pos + 2 if data[pos] == LIST_EMPTY else 0
                if end:
                    encoded = data[pos - 1 : end]
                    value = jid_cache.get(encoded)
                    if value is None:
                        value, pos = _read_jid(data, pos, t)
                        if pos == end:
                            if len(jid_cache) >= _JID_CACHE_SIZE:
                                jid_cache.clear()
                            jid_cache[encoded] = value
                    else:
                        pos = end
                else:
                    value, pos = _read_jid(data, pos, t)
            elif t == NIBBLE_8 or t == HEX_8:  # noqa: SIM109
                header = data[pos]
                end = pos + 1 + (header & 127)
                if end > limit:
                    raise _Truncated
                digits = data[pos + 1 : end].hex()
                if t == HEX_8:
                    value = digits.upper()
                    if header & 128:
                        value = value[:-1]
                else:
                    if header & 128:
                        if digits[-1:] in _BAD_NIBBLES:
                            raise DecodeError("invalid nibble in packed string", pos - 1)
                        digits = digits[:-1]
                    # hex() of decimal digits is the digits themselves: translate if needed
                    if not digits.isdigit():
                        if _BAD_NIBBLE_SEARCH(digits):
                            raise DecodeError("invalid nibble in packed string", pos - 1)
                        digits = digits.translate(_NIBBLE_FROM_HEX)
                    value = digits
                pos = end
            elif t == BINARY_8:
                end = pos + 1 + data[pos]
                if end > limit:
                    raise _Truncated
                try:
                    value = data[pos + 1 : end].decode()
                except UnicodeDecodeError:
                    value = data[pos + 1 : end].decode("utf-8", "replace")
                pos = end
            elif DICTIONARY_0 <= t <= DICTIONARY_3:
                value = double[t - DICTIONARY_0][data[pos]]
                pos += 1
            else:
                value, pos = _read_string(data, pos, t)
            attrs[key] = value

        node = new_node(Node)
        node.tag = tag
        node.attrs = attrs
        siblings.append(node)
        remaining -= 1
        if size & 1:
            node.content = None
        else:
            t = data[pos]
            pos += 1
            if t == BINARY_8:
                end = pos + 1 + data[pos]
                if end > limit:
                    raise _Truncated
                node.content = data[pos + 1 : end]
                pos = end
            elif t == LIST_8 or t == LIST_16:  # noqa: SIM109
                if t == LIST_8:
                    count = data[pos]
                    pos += 1
                else:
                    count = (data[pos] << 8) | data[pos + 1]
                    pos += 2
                children: list[Node] = []
                node.content = children
                if count:
                    if len(stack) + 1 >= max_depth:
                        raise DecodeError(f"nodes nested deeper than {max_depth}", pos)
                    if count * _MIN_NODE_SIZE > limit - pos:
                        raise _Truncated
                    stack.append((siblings, remaining))
                    siblings = children
                    remaining = count
                    continue  # read the first child
            elif t == BINARY_20:
                end = pos + 3 + (((data[pos] & 15) << 16) | (data[pos + 1] << 8) | data[pos + 2])
                if end > limit:
                    raise _Truncated
                node.content = data[pos + 3 : end]
                pos = end
            elif t == BINARY_32:
                if pos + 4 > limit:
                    raise _Truncated
                end = pos + 4 + int.from_bytes(data[pos : pos + 4], "big")
                if end > limit:
                    raise _Truncated
                node.content = data[pos + 4 : end]
                pos = end
            elif t == LIST_EMPTY:
                node.content = []
            else:
                node.content, pos = _read_string(data, pos, t)
        # The node is complete: close every parent whose children are all read.
        while not remaining:
            if not stack:
                return top[0], pos
            siblings, remaining = stack.pop()


def _read_jid(data: bytes, pos: int, t: int) -> tuple[JID, int]:
    return _read_ad_jid(data, pos) if t == AD_JID else _read_jid_pair(data, pos)


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
        if _BAD_NIBBLE_SEARCH(digits):
            raise DecodeError("invalid nibble in packed string", pos - 1)
        text = digits.translate(_NIBBLE_FROM_HEX)
    else:
        text = digits.upper()
    if header & 128:
        text = text[:-1]
    return text, end


def _read_jid_part(data: bytes, pos: int, what: str) -> tuple[str, int]:
    t = data[pos]
    if t in _JID_TAGS:  # checked before reading: JIDs nested in JIDs would recurse unboundedly
        raise DecodeError(f"JID {what} must be a plain string", pos)
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


def _load_accelerator() -> Callable[[bytes, int], Node] | None:
    """The compiled decoder (``_cdecoder.c``) set up with this module's tables, or ``None``
    when it is not built, is disabled (``WAMD_PURE_PYTHON=1``), or was built from another
    version of the C source than the one beside it (a stale in-place build)."""
    if load_compiled("wamd.binary._cdecoder", Path(__file__).with_name("_cdecoder.c")) is None:
        return None
    from wamd.binary import _cdecoder  # (imported by load_compiled: typed by _cdecoder.pyi)

    _cdecoder.setup(
        Node,
        JID,
        DecodeError,
        SINGLE_BYTE_TOKENS,
        DOUBLE_BYTE_TOKENS,
        SERVER_OF_DOMAIN,
        USER_SERVER,
        MESSENGER_SERVER,
        INTEROP_SERVER,
    )
    return _cdecoder.decode


_accelerated = _load_accelerator()
IMPLEMENTATIONS: dict[str, Callable[[bytes, int], Node]] = {"python": _decode_python}
"""The decoders available here by name: ``"python"`` always, ``"c"`` when compiled."""
if _accelerated is not None:
    IMPLEMENTATIONS["c"] = _accelerated
_decode: Callable[[bytes, int], Node] = _accelerated or _decode_python
ACCELERATED = _accelerated is not None
"""Whether :func:`decode_node` runs the compiled decoder."""

__all__ = ["ACCELERATED", "DEFAULT_MAX_DEPTH", "IMPLEMENTATIONS", "MAX_DEPTH_LIMIT", "decode_node"]
