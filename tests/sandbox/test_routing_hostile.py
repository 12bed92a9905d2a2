"""Hostile or broken stanzas sent to the message router: error acks, no crash, the session
keeps working."""

from __future__ import annotations

from tests.sandbox.raw import Companion, login, pair_by_qr
from wamd.binary import Node
from wamd.sandbox import Sandbox
from wamd.types import JID

PHONE = "15550077"


async def test_bad_message_stanzas_get_error_acks(sandbox: Sandbox) -> None:
    companion = Companion()
    await pair_by_qr(sandbox, companion, PHONE)
    client = await login(sandbox, companion, passive=False)
    try:
        await client.expect("ib")
        cases = [
            (Node("message", {"id": "m1"}), "400"),  # no recipient
            (Node("message", {"id": "m2", "to": "not a jid@@"}), "400"),
            (Node("message", {"id": "m3", "to": JID("19999", "s.whatsapp.net")}), "404"),
            (
                Node(
                    "message",
                    {"id": "m4", "to": JID(PHONE, "s.whatsapp.net")},
                    [Node("participants", {}, [Node("to", {"jid": "??"}, [])])],
                ),
                "400",
            ),
            (
                Node(
                    "message",
                    {"id": "m5", "to": JID(PHONE, "s.whatsapp.net")},
                    [Node("enc", {"v": "2", "type": "msg"}, b"x")],
                ),
                "400",
            ),  # no device named
        ]
        for stanza, error in cases:
            await client.send(stanza)
            answer = await client.expect("ack")
            assert answer.attrs["id"] == stanza.attrs["id"]
            assert answer.attrs.get("error") == error, (stanza, answer)
        # receipts and acks that name nothing are ignored; the session still answers
        await client.send(Node("receipt", {"id": "r1", "to": "@@"}))
        await client.send(Node("receipt", {}))
        await client.send(Node("ack", {"class": "message"}))
        ping = await client.query(Node("iq", {"xmlns": "w:p", "type": "get"}))
        assert ping.attrs["type"] == "result"
        # a message to oneself with participants for unknown devices only: acked, no error
        own = Node(
            "message",
            {"id": "m6", "to": JID(PHONE, "s.whatsapp.net")},
            [
                Node(
                    "participants",
                    {},
                    [
                        Node(
                            "to",
                            {"jid": JID(PHONE, "s.whatsapp.net", device=42)},
                            [Node("enc", {"v": "2", "type": "msg"}, b"x")],
                        )
                    ],
                )
            ],
        )
        await client.send(own)
        answer = await client.expect("ack")
        assert "error" not in answer.attrs
    finally:
        await client.close()
