"""Readable renderings of nodes for logs and debugging.

:func:`pretty` gives an indented XML-like text; binary content is shown as text when it is
printable UTF-8 and as hex otherwise, cut after ``max_binary`` bytes with its length.
:func:`short_repr` is the compact ``repr`` of a node (binaries never dumped in full).
Neither shows credentials: :data:`SECRET_ATTRIBUTES` values and the content of
:data:`SECRET_CONTENT_TAGS` elements are rendered as ``<redacted>``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wamd.types.jid import JID

if TYPE_CHECKING:
    from wamd.binary.node import AttrValue, Node

SECRET_ATTRIBUTES = frozenset({"auth"})
"""Attributes whose values are credentials (the media_conn ``auth`` token): never rendered."""
SECRET_CONTENT_TAGS = frozenset({"tctoken"})
"""Elements whose content is a credential (privacy tokens): never rendered."""
_HIDDEN = "<redacted>"

_REPR_BYTES = 24
_REPR_CHILDREN = 8
_REPR_STR = 80
_XML_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})


def _escape(text: str) -> str:
    return text.translate(_XML_ESCAPES)


def _printable_text(data: bytes) -> str | None:
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return None
    if all(ch.isprintable() or ch in "\n\t" for ch in text):
        return text
    return None


def _binary(data: bytes, max_binary: int) -> str:
    text = _printable_text(data[:max_binary]) if len(data) <= max_binary else None
    if text is not None:
        return _escape(text)
    shown = data[:max_binary].hex()
    more = "..." if len(data) > max_binary else ""
    return f"<!-- {len(data)} bytes: {shown}{more} -->"


def _attrs(attrs: dict[str, AttrValue]) -> str:
    return "".join(
        f' {key}="{_HIDDEN if key in SECRET_ATTRIBUTES else _escape(str(value))}"'
        for key, value in attrs.items()
    )


def pretty(node: Node, *, indent: str = "  ", max_binary: int = 64) -> str:
    """An indented XML-like rendering of ``node`` (for humans: not a wire format)."""
    lines: list[str] = []
    _pretty(node, 0, indent, max_binary, lines)
    return "\n".join(lines)


def _pretty(node: Node, level: int, indent: str, max_binary: int, lines: list[str]) -> None:
    pad = indent * level
    head = f"{pad}<{node.tag}{_attrs(node.attrs)}"
    content = node.content
    if node.tag in SECRET_CONTENT_TAGS and content is not None:
        lines.append(f"{head}>{_HIDDEN}</{node.tag}>")
    elif content is None or (isinstance(content, list) and not content):
        lines.append(head + "/>")
    elif isinstance(content, list):
        lines.append(head + ">")
        for child in content:
            _pretty(child, level + 1, indent, max_binary, lines)
        lines.append(f"{pad}</{node.tag}>")
    elif isinstance(content, (bytes, bytearray, memoryview)):
        lines.append(f"{head}>{_binary(bytes(content), max_binary)}</{node.tag}>")
    else:
        lines.append(f"{head}>{_escape(str(content))}</{node.tag}>")


def _short_value(value: object) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if len(data) <= _REPR_BYTES:
            return repr(data)
        return f"<{len(data)} bytes {data[:_REPR_BYTES].hex()}...>"
    if isinstance(value, str) and len(value) > _REPR_STR:
        return repr(value[:_REPR_STR]) + f"...<{len(value)} chars>"
    if isinstance(value, JID):
        return repr(str(value))
    return repr(value)


def short_repr(node: Node) -> str:
    """``Node('tag', {attrs}, content)`` with long binaries, strings and child lists cut."""
    attrs = ", ".join(
        f"{key!r}: {_HIDDEN if key in SECRET_ATTRIBUTES else _short_value(value)}"
        for key, value in node.attrs.items()
    )
    content = node.content
    if content is None:
        body = ""
    elif node.tag in SECRET_CONTENT_TAGS:
        body = ", " + _HIDDEN
    elif isinstance(content, list):
        items = [short_repr(child) for child in content[:_REPR_CHILDREN]]
        if len(content) > _REPR_CHILDREN:
            items.append(f"...{len(content) - _REPR_CHILDREN} more")
        body = ", [" + ", ".join(items) + "]"
    else:
        body = ", " + _short_value(content)
    return f"Node({node.tag!r}, {{{attrs}}}{body})"
