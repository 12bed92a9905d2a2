"""The binary node: WhatsApp's XML-like stanza (tag, attributes, content)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import TypeAlias, TypeVar, overload

from wamd.errors import AttributeInvalid, AttributeMissing, MalformedNode
from wamd.types.jid import JID

AttrValue: TypeAlias = str | JID
"""An attribute value: a string, or a JID (written in the compact JID encodings)."""

Content: TypeAlias = "list[Node] | bytes | str | JID | None"
"""Node content: child nodes, raw bytes, a string, a JID, or nothing."""

_T = TypeVar("_T")


class _Missing(enum.Enum):
    MISSING = enum.auto()


_MISSING = _Missing.MISSING
_MAX_INT_DIGITS = 20
_TRUE = frozenset({"true", "1"})
_FALSE = frozenset({"false", "0"})


class Node:
    """One stanza or element: ``Node("iq", {"id": "1", "type": "get"}, [Node("ping")])``.

    ``attrs`` maps names to :data:`AttrValue`; ``content`` is a list of child nodes, bytes,
    a string, a JID or ``None``. Nodes compare by value and are mutable (not hashable).

    Decoding gives ``bytes`` for binary content and ``str`` for content written as a token,
    a packed string or (in attributes) any string; a string you put in ``content`` therefore
    comes back as bytes unless it is a token or a packable digit/hex string.

    Attribute readers (:meth:`attr_str`, :meth:`attr_int`, :meth:`attr_bool`,
    :meth:`attr_jid`) raise :class:`~wamd.errors.AttributeMissing` when the attribute is absent
    and no default is given, and :class:`~wamd.errors.AttributeInvalid` when it cannot be read
    as the requested type. Child helpers never raise except :meth:`require_child` and
    :meth:`child_bytes` (:class:`~wamd.errors.MalformedNode`).
    """

    __slots__ = ("attrs", "content", "tag")

    tag: str
    attrs: dict[str, AttrValue]
    content: Content

    def __init__(
        self,
        tag: str,
        attrs: dict[str, AttrValue] | None = None,
        content: Content = None,
    ) -> None:
        self.tag = tag
        self.attrs = {} if attrs is None else attrs
        self.content = content

    # --- value semantics --------------------------------------------------------------------

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Node):
            return NotImplemented
        return self.tag == other.tag and self.attrs == other.attrs and self.content == other.content

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        from wamd.binary.pretty import short_repr

        return short_repr(self)

    def __str__(self) -> str:
        from wamd.binary.pretty import pretty

        return pretty(self)

    # --- children ---------------------------------------------------------------------------

    @property
    def children(self) -> list[Node]:
        """The child nodes (an empty list when the content is not a list)."""
        content = self.content
        return content if isinstance(content, list) else []

    def child(self, tag: str) -> Node | None:
        """The first child with this tag, or ``None``."""
        content = self.content
        if isinstance(content, list):
            for node in content:
                if node.tag == tag:
                    return node
        return None

    def require_child(self, tag: str) -> Node:
        """The first child with this tag; :class:`~wamd.errors.MalformedNode` if there is none."""
        node = self.child(tag)
        if node is None:
            raise MalformedNode(f"<{self.tag}> has no <{tag}> child")
        return node

    def children_by_tag(self, tag: str) -> list[Node]:
        """All children with this tag, in order."""
        content = self.content
        if isinstance(content, list):
            return [node for node in content if node.tag == tag]
        return []

    def find(self, *path: str) -> Node | None:
        """Follow first children along ``path``: ``iq.find("usync", "list")``; ``None`` if any
        step is missing (no path returns the node itself)."""
        node: Node | None = self
        for tag in path:
            if node is None:
                return None
            node = node.child(tag)
        return node

    def content_bytes(self) -> bytes:
        """The content as bytes (a string content is UTF-8 encoded);
        :class:`~wamd.errors.MalformedNode` for child lists, JIDs or no content."""
        content = self.content
        if isinstance(content, bytes):
            return content
        if isinstance(content, str):
            return content.encode()
        raise MalformedNode(f"<{self.tag}> has no binary content")

    def child_bytes(self, tag: str) -> bytes:
        """The binary content of the first ``tag`` child (required)."""
        return self.require_child(tag).content_bytes()

    # --- attributes -------------------------------------------------------------------------

    def get(self, key: str, default: _T | None = None) -> AttrValue | _T | None:
        """The raw attribute value (str or JID), or ``default``."""
        return self.attrs.get(key, default)

    def _read(
        self,
        key: str,
        default: object,
        convert: Callable[[AttrValue], object],
        kind: str,
    ) -> object:
        value = self.attrs.get(key)
        if value is None:
            if default is _MISSING:
                raise AttributeMissing(f"<{self.tag}> lacks required attribute {key!r}")
            return default
        result = convert(value)
        if result is _MISSING:
            text = str(value)
            shown = repr(text if len(text) <= 64 else text[:64] + "...")
            raise AttributeInvalid(f"<{self.tag}> attribute {key!r}={shown} is not {kind}")
        return result

    @overload
    def attr_str(self, key: str) -> str: ...
    @overload
    def attr_str(self, key: str, default: _T) -> str | _T: ...
    def attr_str(self, key: str, default: object = _MISSING) -> object:
        """The attribute as a string (a JID value gives its string form: peers such as
        Baileys write any string containing ``@`` as a JID)."""
        return self._read(key, default, str, "a string")

    @overload
    def attr_int(self, key: str) -> int: ...
    @overload
    def attr_int(self, key: str, default: _T) -> int | _T: ...
    def attr_int(self, key: str, default: object = _MISSING) -> object:
        """The attribute as a decimal integer (ASCII digits, optional leading ``-``)."""
        return self._read(key, default, _to_int, "an integer")

    @overload
    def attr_bool(self, key: str) -> bool: ...
    @overload
    def attr_bool(self, key: str, default: _T) -> bool | _T: ...
    def attr_bool(self, key: str, default: object = _MISSING) -> object:
        """The attribute as a boolean: ``true``/``1`` or ``false``/``0`` (case-insensitive)."""
        return self._read(key, default, _to_bool, "a boolean")

    @overload
    def attr_jid(self, key: str) -> JID: ...
    @overload
    def attr_jid(self, key: str, default: _T) -> JID | _T: ...
    def attr_jid(self, key: str, default: object = _MISSING) -> object:
        """The attribute as a JID (a string value is parsed)."""
        return self._read(key, default, _to_jid, "a JID")


def _to_int(value: AttrValue) -> object:
    if isinstance(value, str):
        digits = value[1:] if value.startswith("-") else value
        if digits.isascii() and digits.isdigit() and len(digits) <= _MAX_INT_DIGITS:
            return int(value)
    return _MISSING


def _to_bool(value: AttrValue) -> object:
    if isinstance(value, str):
        lowered = value.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
    return _MISSING


def _to_jid(value: AttrValue) -> object:
    if isinstance(value, JID):
        return value
    try:
        return JID.parse(value)
    except ValueError:
        return _MISSING
