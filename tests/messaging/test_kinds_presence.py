"""Presence, chat presence and read-receipt stanzas (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from wamd.binary import Node, decode_node, encode_node
from wamd.errors import MalformedNode
from wamd.messaging import presence as pr
from wamd.types import JID

BOB = JID.parse("15550002222@s.whatsapp.net")
BOB_DEV = JID.parse("15550002222:3@s.whatsapp.net")
GROUP = JID.parse("120363000000000001@g.us")


def wire(node: Node) -> Node:
    return decode_node(encode_node(node))


def test_presence_nodes() -> None:
    assert pr.presence_node(True, "Al@ice") == Node(
        "presence", {"type": "available", "name": "Alice"}
    )
    assert pr.presence_node(False, "Alice").attrs["type"] == "unavailable"
    with pytest.raises(ValueError, match="push name"):
        pr.presence_node(True, "")
    sub = wire(pr.subscribe_node(BOB_DEV))
    assert sub.attrs == {"type": "subscribe", "to": BOB}
    assert sub.content is None
    with_token = pr.subscribe_node(BOB, b"tok")
    assert with_token.content == [Node("tctoken", {}, b"tok")]


def test_chat_presence_nodes() -> None:
    assert pr.chat_presence_node(BOB_DEV, "composing") == Node(
        "chatstate", {"to": BOB}, [Node("composing", {})]
    )
    assert pr.chat_presence_node(GROUP, pr.ChatState.RECORDING) == Node(
        "chatstate", {"to": GROUP}, [Node("composing", {"media": "audio"})]
    )
    assert pr.chat_presence_node(BOB, "paused").content == [Node("paused", {})]
    with pytest.raises(ValueError, match="dancing"):
        pr.chat_presence_node(BOB, "dancing")


def test_read_receipts() -> None:
    one = pr.read_receipt_node(BOB, ["A"], sender=BOB_DEV, timestamp=1700000000)
    assert one == Node("receipt", {"id": "A", "type": "read", "to": BOB, "t": "1700000000"})
    many = wire(
        pr.read_receipt_node(GROUP, ["A", "B", "C"], sender=BOB_DEV, timestamp=5, self_only=True)
    )
    assert many.attrs == {"id": "A", "type": "read-self", "to": GROUP, "t": "5", "participant": BOB}
    assert many.content == [
        Node("list", {}, [Node("item", {"id": "B"}), Node("item", {"id": "C"})])
    ]
    played = pr.read_receipt_node(BOB, ["V"], timestamp=1, played=True)
    assert played.attrs["type"] == "played"
    with pytest.raises(ValueError, match="no message ids"):
        pr.read_receipt_node(BOB, [], timestamp=1)


def test_parse_presence() -> None:
    online = pr.parse_presence(Node("presence", {"from": BOB}))
    assert (online.jid, online.available, online.last_seen) == (BOB, True, None)
    away = pr.parse_presence(
        Node("presence", {"from": BOB, "type": "unavailable", "last": "1700000000"})
    )
    assert not away.available
    assert away.last_seen == datetime.fromtimestamp(1700000000, UTC)
    hidden = pr.parse_presence(
        Node("presence", {"from": BOB, "type": "unavailable", "last": "deny"})
    )
    assert hidden.last_seen is None
    huge = pr.parse_presence(Node("presence", {"from": BOB, "last": "9" * 40}))
    assert huge.last_seen is None
    for bad in (
        Node("presence", {}),
        Node("presence", {"from": "not a jid"}),
        Node("iq", {"from": BOB}),
    ):
        with pytest.raises(MalformedNode):
            pr.parse_presence(bad)


def test_parse_chatstate() -> None:
    typing = pr.parse_chatstate(Node("chatstate", {"from": BOB}, [Node("composing", {})]))
    assert (typing.chat, typing.sender, typing.state) == (BOB, BOB, pr.ChatState.COMPOSING)
    assert not typing.is_group
    rec = pr.parse_chatstate(
        Node(
            "chatstate",
            {"from": GROUP, "participant": BOB_DEV},
            [Node("composing", {"media": "audio"})],
        )
    )
    assert (rec.chat, rec.sender, rec.state, rec.is_group) == (
        GROUP,
        BOB_DEV,
        pr.ChatState.RECORDING,
        True,
    )
    paused = pr.parse_chatstate(Node("chatstate", {"from": BOB}, [Node("paused", {})]))
    assert paused.state is pr.ChatState.PAUSED
    odd = pr.parse_chatstate(Node("chatstate", {"from": BOB}, [Node("dancing", {})]))
    assert odd.state == "dancing"
    for bad in (
        Node("chatstate", {"from": BOB}),
        Node("chatstate", {"from": BOB}, b"bytes"),
        Node("chatstate", {"from": BOB}, [Node("paused", {}), Node("paused", {})]),
        Node("chatstate", {}, [Node("paused", {})]),
        Node("chatstate", {"from": BOB, "participant": "x@@y"}, [Node("paused", {})]),
        Node("presence", {"from": BOB}, [Node("paused", {})]),
    ):
        with pytest.raises(MalformedNode):
            pr.parse_chatstate(bad)
