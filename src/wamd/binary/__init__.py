"""WhatsApp's binary node format ("binary XML"): nodes, encoder, decoder, frame payloads.

>>> from wamd.binary import Node, encode_node, decode_node
>>> node = Node("iq", {"id": "1", "type": "get", "xmlns": "w:p"}, [Node("ping")])
>>> decode_node(encode_node(node)) == node
True

See docs/binary.md for the format, the helpers and the measured speed.
"""

from __future__ import annotations

from wamd.binary.decoder import DEFAULT_MAX_DEPTH, decode_node
from wamd.binary.encoder import encode_node
from wamd.binary.frame import (
    DEFAULT_MAX_INFLATED,
    FLAG_COMPRESSED,
    decode_frame,
    encode_frame,
    pack_frame,
    unpack_frame,
)
from wamd.binary.node import AttrValue, Content, Node
from wamd.binary.pretty import pretty

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_MAX_INFLATED",
    "FLAG_COMPRESSED",
    "AttrValue",
    "Content",
    "Node",
    "decode_frame",
    "decode_node",
    "encode_frame",
    "encode_node",
    "pack_frame",
    "pretty",
    "unpack_frame",
]
