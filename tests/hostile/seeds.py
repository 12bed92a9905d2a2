"""Well-formed stanzas of the shapes the client reads, as seeds for the mutation fuzzers:
the corpus recorded from a sandbox (:mod:`tests.hostile.make_corpus`) plus handwritten ones
for what a short sandbox run does not produce."""

from __future__ import annotations

from wamd.binary import Node
from wamd.types import JID, SERVER_JID

from .make_corpus import load_corpus

USER = JID("15550100002", "s.whatsapp.net")
DEVICE = JID("15550100002", "s.whatsapp.net", device=1)
LID = JID("8812", "lid", device=1)
GROUP = JID("120363000000000009", "g.us")
KEY = b"\x05" + b"\x07" * 32


def _bundle(jid: JID) -> Node:
    return Node(
        "user",
        {"jid": jid},
        [
            Node("registration", {}, b"\x00\x00\x01\x02"),
            Node("type", {}, b"\x05"),
            Node("identity", {}, KEY),
            Node("key", {}, [Node("id", {}, b"\x00\x00\x07"), Node("value", {}, KEY)]),
            Node(
                "skey",
                {},
                [
                    Node("id", {}, b"\x00\x00\x01"),
                    Node("value", {}, KEY),
                    Node("signature", {}, b"\x01" * 64),
                ],
            ),
        ],
    )


def handwritten() -> list[Node]:
    """Seeds the sandbox run does not produce."""
    s = SERVER_JID
    return [
        Node(
            "notification",
            {"id": "n1", "from": USER, "type": "devices", "t": "1"},
            [
                Node(
                    "add",
                    {"device_hash": "2:abc"},
                    [Node("device", {"jid": DEVICE, "key-index": "1"})],
                ),
                Node("key-index-list", {"ts": "1"}, b"\x01\x02"),
            ],
        ),
        Node(
            "notification",
            {"id": "n2", "from": s, "type": "encrypt", "t": "1"},
            [Node("count", {"value": "3"})],
        ),
        Node(
            "notification",
            {"id": "n3", "from": USER, "type": "encrypt", "t": "1"},
            [Node("identity")],
        ),
        Node(
            "notification",
            {"id": "n4", "from": GROUP, "type": "picture", "t": "1"},
            [Node("set", {"jid": GROUP, "id": "123", "author": DEVICE})],
        ),
        Node(
            "notification",
            {"id": "n5", "from": USER, "type": "mediaretry", "t": "1"},
            [
                Node("rmr", {"jid": USER, "from_me": "true", "participant": DEVICE}),
                Node(
                    "encrypt",
                    {},
                    [Node("enc_p", {}, b"\x01" * 40), Node("enc_iv", {}, b"\x02" * 12)],
                ),
            ],
        ),
        Node(
            "notification",
            {"id": "n6", "from": s, "type": "link_code_companion_reg"},
            [
                Node(
                    "link_code_companion_reg",
                    {"stage": "primary_hello"},
                    [
                        Node("link_code_pairing_ref", {}, b"ref"),
                        Node("primary_identity_pub", {}, b"\x03" * 32),
                        Node("link_code_pairing_wrapped_primary_ephemeral_pub", {}, b"\x04" * 80),
                    ],
                )
            ],
        ),
        Node(
            "notification",
            {"id": "n7", "from": s, "type": "server_sync"},
            [Node("collection", {"name": "regular_high", "version": "5"})],
        ),
        Node(
            "receipt",
            {"id": "r1", "from": DEVICE, "type": "retry", "t": "1"},
            [
                Node("retry", {"count": "2", "id": "MSG1", "t": "1", "v": "1"}),
                Node("registration", {}, b"\x00\x00\x01\x02"),
                Node(
                    "keys",
                    {},
                    [
                        Node("type", {}, b"\x05"),
                        Node("identity", {}, KEY),
                        Node("key", {}, [Node("id", {}, b"\x00\x00\x07"), Node("value", {}, KEY)]),
                        Node(
                            "skey",
                            {},
                            [
                                Node("id", {}, b"\x00\x00\x01"),
                                Node("value", {}, KEY),
                                Node("signature", {}, b"\x01" * 64),
                            ],
                        ),
                        Node("device-identity", {}, b"\x0a\x00"),
                    ],
                ),
            ],
        ),
        Node(
            "receipt",
            {"id": "r2", "from": GROUP, "participant": LID, "type": "read", "t": "1"},
            [Node("list", {}, [Node("item", {"id": "M2"})])],
        ),
        Node(
            "iq",
            {"id": "q1", "type": "result", "from": s},
            [Node("list", {}, [_bundle(DEVICE), _bundle(LID)])],
        ),
        Node(
            "iq",
            {"id": "q2", "type": "result", "from": s},
            [
                Node(
                    "sync",
                    {},
                    [
                        Node(
                            "collection",
                            {"name": "regular", "version": "3", "has_more_patches": "false"},
                            [
                                Node("patches", {}, [Node("patch", {}, b"\x0a\x02\x08\x03")]),
                                Node("snapshot", {}, b"\x0a\x00"),
                            ],
                        )
                    ],
                )
            ],
        ),
        Node(
            "iq",
            {"id": "q3", "type": "result", "from": s},
            [Node("list", {"dhash": "x"}, [Node("item", {"jid": DEVICE})])],
        ),
        Node(
            "iq",
            {"id": "q4", "type": "result", "from": s},
            [
                Node(
                    "picture",
                    {"id": "1", "url": "https://x/y", "direct_path": "/y", "type": "image"},
                )
            ],
        ),
        Node(
            "iq",
            {"id": "q5", "type": "result", "from": s},
            [
                Node(
                    "business_profile",
                    {},
                    [
                        Node(
                            "profile",
                            {"jid": USER},
                            [
                                Node("address", {}, b"street"),
                                Node("categories", {}, [Node("category", {"id": "1"}, b"shop")]),
                            ],
                        )
                    ],
                )
            ],
        ),
        Node("presence", {"from": USER, "type": "unavailable", "last": "123"}),
        Node("chatstate", {"from": USER}, [Node("composing", {"media": "audio"})]),
    ]


def seeds() -> list[Node]:
    """Every seed: the recorded corpus and the handwritten ones."""
    return load_corpus() + handwritten()
