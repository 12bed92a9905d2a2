"""The media-retry request and answer: both sides, hostile input, and Baileys' own code."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from tests.media.peers import run_baileys_sync
from wamd.binary import Node, decode_node, encode_node
from wamd.errors import MediaRetryError, NotConnected, WamdError
from wamd.media.retry import (
    NOT_ON_PHONE,
    MediaRetryNotice,
    RetryResult,
    RetryTarget,
    build_retry_notification,
    build_retry_receipt,
    decrypt_retry_notification,
    parse_retry_notification,
    parse_retry_receipt,
    retry_key,
)
from wamd.media.reupload import MediaReuploader
from wamd.types import JID

KEY = bytes(range(32))
ME = JID.parse("15550001111:7@s.whatsapp.net")
CHAT = JID.parse("15550002222@s.whatsapp.net")
GROUP = JID.parse("120363000000000001@g.us")
SENDER = JID.parse("15550003333@s.whatsapp.net")


def wire(node: Node) -> Node:
    return decode_node(encode_node(node))


@pytest.mark.parametrize(
    "target",
    [
        RetryTarget("3EB0AAAA", CHAT, from_me=False),
        RetryTarget("3EB0BBBB", CHAT, from_me=True),
        RetryTarget("3EB0CCCC", GROUP, from_me=False, participant=SENDER),
    ],
)
def test_request_and_answer_round_trip(target: RetryTarget) -> None:
    receipt = wire(build_retry_receipt(target, KEY, ME))
    assert receipt.tag == "receipt"
    assert receipt.attrs["id"] == target.message_id
    assert receipt.attrs["type"] == "server-error"
    assert receipt.attr_jid("to") == ME.to_non_ad()
    assert parse_retry_receipt(receipt, KEY) == target
    notification = wire(
        build_retry_notification(target, KEY, direct_path="/v/t62/new.enc?oh=x", timestamp=1700)
    )
    notice = parse_retry_notification(notification)
    assert notice.target == target
    assert notice.timestamp == 1700
    answer = decrypt_retry_notification(notice, KEY)
    assert answer.result is RetryResult.SUCCESS
    assert answer.direct_path == "/v/t62/new.enc?oh=x"
    assert answer.stanza_id == target.message_id


def test_error_answers() -> None:
    target = RetryTarget("ID1", CHAT, from_me=False)
    notice = parse_retry_notification(
        wire(build_retry_notification(target, None, error_code=NOT_ON_PHONE))
    )
    assert notice.error_code == NOT_ON_PHONE
    with pytest.raises(MediaRetryError, match="no longer") as info:
        decrypt_retry_notification(notice, KEY)
    assert info.value.code == NOT_ON_PHONE
    failed = parse_retry_notification(
        wire(build_retry_notification(target, KEY, result=RetryResult.NOT_FOUND))
    )
    answer = decrypt_retry_notification(failed, KEY)
    assert (answer.result, answer.direct_path) == (RetryResult.NOT_FOUND, None)


def test_wrong_key_or_tampering() -> None:
    target = RetryTarget("ID2", CHAT, from_me=False)
    notice = parse_retry_notification(wire(build_retry_notification(target, KEY, direct_path="/p")))
    with pytest.raises(MediaRetryError):
        decrypt_retry_notification(notice, bytes(32))
    assert notice.ciphertext is not None
    bad = MediaRetryNotice(
        notice.target,
        None,
        ciphertext=bytes([notice.ciphertext[0] ^ 1]) + notice.ciphertext[1:],
        iv=notice.iv,
    )
    with pytest.raises(MediaRetryError):
        decrypt_retry_notification(bad, KEY)
    # the message id is the associated data: another id does not decrypt
    moved = MediaRetryNotice(
        RetryTarget("OTHER", CHAT, False), None, ciphertext=notice.ciphertext, iv=notice.iv
    )
    with pytest.raises(MediaRetryError):
        decrypt_retry_notification(moved, KEY)
    receipt = build_retry_receipt(target, KEY, ME)
    with pytest.raises(MediaRetryError):
        parse_retry_receipt(receipt, bytes(32))


def _valid_notification() -> Node:
    return build_retry_notification(RetryTarget("ID3", CHAT, False), KEY, direct_path="/p")


@pytest.mark.parametrize(
    "node",
    [
        Node("notification", {"type": "picture", "id": "x"}),
        Node("iq", {"type": "mediaretry"}),
        Node("notification", {"type": "mediaretry", "id": "x"}),
        Node("notification", {"type": "mediaretry", "id": "x"}, [Node("rmr", {})]),
        Node("notification", {"type": "mediaretry"}, [Node("rmr", {"jid": str(CHAT)})]),
        Node("notification", {"type": "mediaretry", "id": "x"}, [Node("rmr", {"jid": "@@"})]),
        Node("notification", {"type": "mediaretry", "id": "x"}, [Node("rmr", {"jid": str(CHAT)})]),
        Node(
            "notification",
            {"type": "mediaretry", "id": "x"},
            [Node("rmr", {"jid": str(CHAT)}), Node("encrypt", {}, [Node("enc_p", {}, b"x")])],
        ),
        Node(
            "notification",
            {"type": "mediaretry", "id": "x"},
            [
                Node("rmr", {"jid": str(CHAT)}),
                Node("encrypt", {}, [Node("enc_p", {}, b"x"), Node("enc_iv", {}, b"short")]),
            ],
        ),
        Node(
            "notification",
            {"type": "mediaretry", "id": "x", "t": "soon"},
            _valid_notification().children,
        ),
    ],
)
def test_malformed_notifications_are_typed(node: Node) -> None:
    with pytest.raises(WamdError):
        parse_retry_notification(node)


def test_retry_key_length_checked() -> None:
    with pytest.raises(WamdError):
        retry_key(b"short")
    assert len(retry_key(KEY)) == 32


def from_baileys(obj: dict[str, Any]) -> Node:
    """A Baileys node from its JSON form; attribute strings holding '@' become JIDs, as
    Baileys' encoder writes them."""
    attrs: dict[str, str | JID] = {
        k: JID.parse(v) if "@" in v else v for k, v in obj["attrs"].items()
    }
    content = obj.get("content")
    if isinstance(content, list):
        return Node(obj["tag"], attrs, [from_baileys(c) for c in content])
    if isinstance(content, dict):
        return Node(obj["tag"], attrs, bytes.fromhex(content["hex"]))
    return Node(obj["tag"], attrs, content)


def test_interop_with_baileys(node_peers: Path) -> None:
    media_key = os.urandom(32)
    group_target = RetryTarget("3EB0DDDD", GROUP, from_me=False, participant=SENDER)
    ours_receipt = build_retry_receipt(group_target, media_key, ME)
    enc = ours_receipt.require_child("encrypt")
    ours_answer = build_retry_notification(
        group_target, media_key, direct_path="/v/t62/again.enc?oh=1"
    )
    answer_enc = ours_answer.require_child("encrypt")
    results = run_baileys_sync(
        node_peers,
        [
            {
                "op": "retry-request",
                "mediaKey": media_key.hex(),
                "id": group_target.message_id,
                "remoteJid": str(GROUP),
                "fromMe": False,
                "participant": str(SENDER),
                "meId": str(ME),
            },
            # Baileys decodes our receipt payload (ServerErrorReceipt and
            # MediaRetryNotification share field 1, stanza_id) with its own key and AES-GCM.
            {
                "op": "retry-decrypt",
                "mediaKey": media_key.hex(),
                "id": group_target.message_id,
                "ciphertext": enc.child_bytes("enc_p").hex(),
                "iv": enc.child_bytes("enc_iv").hex(),
            },
            {
                "op": "retry-decrypt",
                "mediaKey": media_key.hex(),
                "id": group_target.message_id,
                "ciphertext": answer_enc.child_bytes("enc_p").hex(),
                "iv": answer_enc.child_bytes("enc_iv").hex(),
            },
        ],
    )
    their_receipt = from_baileys(results[0])
    # our phone side accepts Baileys' request...
    assert parse_retry_receipt(wire(their_receipt), media_key) == group_target
    # ...which is ours byte for byte once the random IV is the same
    their_iv = their_receipt.require_child("encrypt").child_bytes("enc_iv")
    ours_same_iv = build_retry_receipt(group_target, media_key, ME, iv=their_iv)
    assert encode_node(ours_same_iv) == encode_node(their_receipt)
    assert results[1]["stanzaId"] == group_target.message_id
    assert results[2] == {
        "stanzaId": group_target.message_id,
        "directPath": "/v/t62/again.enc?oh=1",
        "result": RetryResult.SUCCESS.value,
    }


class FakeClient:
    """The part of Client a MediaReuploader uses; the 'phone' answers from a callback."""

    def __init__(self, jid: JID | None, answer: Any = None) -> None:
        self.jid = jid
        self.sent: list[Node] = []
        self.handlers: list[Any] = []
        self.answer = answer

    def add_node_handler(self, tag: str, handler: Any, match: Any) -> None:
        self.handlers.append((tag, handler, match))

    async def send_node(self, node: Node) -> None:
        self.sent.append(node)
        if node.tag == "receipt" and self.answer is not None:
            reply = self.answer(node)
            if reply is not None:
                for tag, handler, match in self.handlers:
                    if reply.tag == tag and match(reply):
                        asyncio.get_running_loop().call_soon(
                            lambda h=handler: asyncio.ensure_future(h(reply))
                        )


async def test_reuploader_round_trip_and_ack() -> None:
    target = RetryTarget("MSG1", CHAT, from_me=True)

    def phone(receipt: Node) -> Node:
        assert parse_retry_receipt(receipt, KEY) == target
        note = build_retry_notification(target, KEY, direct_path="/new")
        note.attrs["from"] = ME.to_non_ad()
        return note

    client = FakeClient(ME, phone)
    reuploader = MediaReuploader(client)  # type: ignore[arg-type]
    answer = await reuploader.request(target, KEY, timeout=5)
    assert (answer.result, answer.direct_path) == (RetryResult.SUCCESS, "/new")
    acks = [n for n in client.sent if n.tag == "ack"]
    assert acks == [
        Node(
            "ack",
            {"class": "notification", "type": "mediaretry", "id": "MSG1", "to": ME.to_non_ad()},
        )
    ]
    assert "waiting=0" in repr(reuploader)


async def test_reuploader_errors() -> None:
    target = RetryTarget("MSG2", CHAT, from_me=False)
    with pytest.raises(NotConnected):
        await MediaReuploader(FakeClient(None)).request(target, KEY)  # type: ignore[arg-type]
    silent = MediaReuploader(FakeClient(ME))  # type: ignore[arg-type]
    with pytest.raises(MediaRetryError, match="did not answer"):
        await silent.request(target, KEY, timeout=0.05)
    refusing = MediaReuploader(
        FakeClient(ME, lambda _r: build_retry_notification(target, None, error_code=2))  # type: ignore[arg-type]
    )
    with pytest.raises(MediaRetryError) as info:
        await refusing.request(target, KEY, timeout=5)
    assert info.value.code == 2
    # a malformed notification is acked and ignored; the request then times out
    broken = FakeClient(ME, lambda _r: Node("notification", {"type": "mediaretry", "id": "MSG2"}))
    with pytest.raises(MediaRetryError, match="did not answer"):
        await MediaReuploader(broken).request(target, KEY, timeout=0.2)  # type: ignore[arg-type]
    assert [n.tag for n in broken.sent] == ["receipt", "ack"]
