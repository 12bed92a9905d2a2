"""Sans-I/O parts of the message path: ids, envelopes, receipts, retries, prekeys, hashes."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wamd.binary import Node, decode_node, encode_node
from wamd.crypto import KeyPair
from wamd.errors import MalformedNode
from wamd.messaging.devices import DeviceCache, parse_devices_answer
from wamd.messaging.events import Message, ReceiptType
from wamd.messaging.ids import generate_message_id
from wamd.messaging.send import device_sent
from wamd.messaging.stanzas import (
    RetryKeys,
    ack,
    delivery_receipt,
    media_type,
    message_type,
    parse_envelope,
    parse_prekey_bundles,
    parse_receipt,
    parse_retry_request,
    participant_hash,
    prekey_fetch_request,
    prekey_upload_request,
    retry_receipt,
)
from wamd.proto import e2e_pb2
from wamd.signal import generate_signed_prekey
from wamd.types import JID, SERVER_JID

OWN = [JID("15550001", "s.whatsapp.net", device=2), JID("9001", "lid", device=2)]
PEER = JID("15550002", "s.whatsapp.net", device=3)


def test_message_id_format() -> None:
    ids = {generate_message_id("15550001") for _ in range(200)}
    assert len(ids) == 200
    for value in ids:
        assert re.fullmatch(r"3EB0[0-9A-F]{18}", value)


def test_message_id_is_whatsmeow_hash(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("os.urandom", lambda n: b"\x11" * n)
    data = (1_700_000_000).to_bytes(8, "big") + b"15550001@c.us" + b"\x11" * 16
    expected = "3EB0" + hashlib.sha256(data).digest()[:9].hex().upper()
    assert generate_message_id("15550001", now=1_700_000_000) == expected


def _message(**attrs: object) -> Node:
    base: dict[str, object] = {
        "id": "ABC",
        "from": PEER,
        "t": "1700000000",
        "notify": "Bob",
        "type": "text",
    }
    base.update(attrs)
    return Node("message", base, [Node("enc", {"v": "2", "type": "pkmsg"}, b"\x33data")])  # type: ignore[arg-type]


def test_envelope_from_contact_with_lid() -> None:
    node = _message(sender_lid=JID("7777", "lid"))
    env = parse_envelope(decode_node(encode_node(node)), OWN)
    assert env.id == "ABC"
    assert env.sender == PEER
    assert env.chat == PEER.to_non_ad()
    assert env.sender_alt == JID("7777", "lid", device=3)
    assert not env.from_me
    assert env.push_name == "Bob"
    assert env.time == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert [e.type for e in env.encs] == ["pkmsg"]


def test_envelope_from_own_device() -> None:
    node = _message(
        **{
            "from": JID("15550001", "s.whatsapp.net", device=5),
            "recipient": JID("15550002", "s.whatsapp.net"),
        }
    )
    env = parse_envelope(node, OWN)
    assert env.from_me
    assert env.chat == JID("15550002", "s.whatsapp.net")
    receipt = delivery_receipt(node, env, active=True)
    assert receipt.attrs["type"] == "sender"
    assert receipt.attrs["recipient"] == JID("15550002", "s.whatsapp.net")


def test_envelope_rejects_recipient_from_others() -> None:
    with pytest.raises(MalformedNode):
        parse_envelope(_message(recipient=JID("1", "s.whatsapp.net")), OWN)
    with pytest.raises(MalformedNode):
        parse_envelope(Node("message", {"from": PEER}), OWN)
    with pytest.raises(MalformedNode):
        parse_envelope(_message(**{"from": JID("123", "g.us")}), OWN)


def test_delivery_receipt_and_ack() -> None:
    node = _message()
    env = parse_envelope(node, OWN)
    assert delivery_receipt(node, env, active=True) == Node("receipt", {"id": "ABC", "to": PEER})
    assert delivery_receipt(node, env, active=False).attrs["type"] == "inactive"
    nack = ack(node, error=487, own=OWN[0])
    assert nack.attrs == {
        "id": "ABC",
        "to": PEER,
        "class": "message",
        "error": "487",
        "from": OWN[0],
    }
    receipt = Node("receipt", {"id": "X", "from": PEER, "type": "read"})
    assert ack(receipt).attrs == {"id": "X", "to": PEER, "class": "receipt", "type": "read"}


def _keys() -> tuple[RetryKeys, KeyPair]:
    identity = KeyPair.generate()
    signed = generate_signed_prekey(identity, 7)
    prekey = KeyPair.generate()
    keys = RetryKeys(
        identity.public,
        42,
        prekey.public,
        7,
        signed.key_pair.public,
        signed.signature,
        b"device-identity",
    )
    return keys, identity


def test_retry_receipt_round_trip() -> None:
    node = _message()
    env = parse_envelope(node, OWN)
    plain = retry_receipt(node, env, count=1, registration_id=1234)
    assert plain.attrs["type"] == "retry"
    assert plain.require_child("retry").attrs == {
        "count": "1",
        "id": "ABC",
        "t": "1700000000",
        "v": "1",
    }
    keys, identity = _keys()
    with_keys = decode_node(
        encode_node(retry_receipt(node, env, count=2, registration_id=1234, keys=keys))
    )
    with_keys.attrs["from"] = PEER
    request = parse_retry_request(with_keys)
    assert (request.message_id, request.count, request.registration_id) == ("ABC", 2, 1234)
    assert request.bundle is not None
    request.bundle.verify()
    assert request.bundle.identity_key == identity.public
    assert (request.bundle.prekey_id, request.bundle.signed_prekey_id) == (42, 7)
    assert parse_retry_request(plain).bundle is None


def test_receipt_parsing() -> None:
    node = Node(
        "receipt",
        {"id": "A", "from": PEER, "type": "read", "t": "5"},
        [Node("list", {}, [Node("item", {"id": "B"}), Node("item", {"id": "C"})])],
    )
    receipt = parse_receipt(node, OWN)
    assert receipt.ids == ("A", "B", "C")
    assert receipt.type is ReceiptType.READ
    assert receipt.chat == PEER.to_non_ad()
    assert not receipt.from_me
    own = Node(
        "receipt",
        {
            "id": "A",
            "from": JID("15550001", "s.whatsapp.net", device=4),
            "recipient": PEER.to_non_ad(),
            "type": "weird",
        },
    )
    parsed = parse_receipt(own, OWN)
    assert parsed.from_me
    assert parsed.chat == PEER.to_non_ad()
    assert parsed.type == "weird"
    assert (
        parse_receipt(Node("receipt", {"id": "A", "from": PEER}), OWN).type is ReceiptType.DELIVERED
    )


def test_prekey_requests_and_bundles() -> None:
    request = prekey_fetch_request([PEER], reason="identity")
    assert request.attrs["xmlns"] == "encrypt"
    assert request.require_child("key").children[0].attrs == {"jid": PEER, "reason": "identity"}
    identity = KeyPair.generate()
    signed = generate_signed_prekey(identity, 3)
    one = KeyPair.generate()
    good = Node(
        "user",
        {"jid": PEER},
        [
            Node("registration", {}, (77).to_bytes(4, "big")),
            Node("type", {}, b"\x05"),
            Node("identity", {}, identity.public),
            Node(
                "skey",
                {},
                [
                    Node("id", {}, b"\x00\x00\x03"),
                    Node("value", {}, signed.key_pair.public),
                    Node("signature", {}, signed.signature),
                ],
            ),
            Node("key", {}, [Node("id", {}, b"\x00\x01\x00"), Node("value", {}, one.public)]),
        ],
    )
    other = JID("15550003", "s.whatsapp.net")
    bad = Node("user", {"jid": other}, [Node("error", {"code": "404", "text": "item-not-found"})])
    truncated = Node(
        "user", {"jid": JID("15550004", "s.whatsapp.net")}, [Node("registration", {}, b"\x01")]
    )
    answer = Node("iq", {"type": "result"}, [Node("list", {}, [good, bad, truncated])])
    bundles = parse_prekey_bundles(decode_node(encode_node(answer)))
    bundle = bundles[PEER]
    assert not isinstance(bundle, MalformedNode)
    bundle.verify()
    assert (bundle.registration_id, bundle.prekey_id, bundle.prekey) == (77, 256, one.public)
    assert isinstance(bundles[other], MalformedNode)
    assert isinstance(bundles[JID("15550004", "s.whatsapp.net")], MalformedNode)
    with pytest.raises(MalformedNode):
        parse_prekey_bundles(Node("iq", {}))


def test_prekey_upload_shape() -> None:
    node = prekey_upload_request(
        registration_id=5,
        identity=b"i" * 32,
        prekeys=[(1, b"a" * 32), (0x10203, b"b" * 32)],
        signed_prekey=(9, b"s" * 32, b"g" * 64),
    )
    assert node.attrs == {"xmlns": "encrypt", "type": "set", "to": SERVER_JID}
    assert [c.tag for c in node.children] == ["registration", "type", "identity", "list", "skey"]
    keys = node.require_child("list").children
    assert keys[1].child_bytes("id") == b"\x01\x02\x03"


def test_participant_hash_matches_whatsmeow_form() -> None:
    jids = [JID("2", "s.whatsapp.net", device=1), JID("1", "s.whatsapp.net")]
    forms = "1.0:0@s.whatsapp.net" + "2.0:1@s.whatsapp.net"
    expected = "2:" + base64.b64encode(hashlib.sha256(forms.encode()).digest()[:6]).decode()
    assert participant_hash(jids) == expected
    assert participant_hash(reversed(jids)) == expected


def test_message_and_media_types() -> None:
    text = e2e_pb2.Message(conversation="hi")
    assert (message_type(text), media_type(text)) == ("text", "")
    reaction = e2e_pb2.Message()
    reaction.reaction_message.text = "+"
    assert message_type(reaction) == "reaction"
    image = e2e_pb2.Message()
    image.image_message.mimetype = "image/jpeg"
    assert (message_type(image), media_type(image)) == ("media", "image")
    voice = e2e_pb2.Message()
    voice.ephemeral_message.message.audio_message.ptt = True
    assert media_type(voice) == "ptt"


def test_device_sent_wrapper() -> None:
    inner = e2e_pb2.Message(conversation="hello")
    inner.message_context_info.message_secret = b"s" * 32
    wrapper = device_sent(JID("1", "s.whatsapp.net"), inner)
    assert wrapper.device_sent_message.destination_jid == "1@s.whatsapp.net"
    assert wrapper.device_sent_message.message == inner
    assert wrapper.message_context_info.message_secret == b"s" * 32


def test_message_payload_round_trip() -> None:
    msg = e2e_pb2.Message()
    msg.protocol_message.type = e2e_pb2.ProtocolMessage.REVOKE
    msg.protocol_message.key.id = "OLD"
    event = Message(
        id="X",
        chat=PEER.to_non_ad(),
        sender=PEER,
        from_me=False,
        timestamp=datetime(2024, 1, 1, tzinfo=UTC),
        message=msg,
        sender_alt=JID("7", "lid", device=3),
        push_name="Bob",
        seq=4,
    )
    back = Message.from_payload(event.to_payload(), seq=4)
    assert back.redelivered
    assert back == Message(
        **{**{f: getattr(event, f) for f in event.__slots__ if f != "raw"}, "redelivered": True}
    )
    assert back.is_revoke
    assert back.target_id == "OLD"
    assert back.text is None
    for bad in (
        b"",
        b"{}",
        b'{"v":1}',
        b"\xff",
        b'{"v":1,"id":"x","chat":"@@","sender":"a","from_me":false,"t":0,"message":""}',
    ):
        with pytest.raises(MalformedNode):
            Message.from_payload(bad)


@given(st.binary(max_size=200))
def test_payload_reader_never_crashes(data: bytes) -> None:
    with contextlib.suppress(MalformedNode):
        Message.from_payload(data)


def _usync_answer(users: list[Node]) -> Node:
    return Node("iq", {"type": "result"}, [Node("usync", {}, [Node("list", {}, users)])])


def test_devices_answer() -> None:
    user = Node(
        "user",
        {"jid": JID("15550002", "s.whatsapp.net")},
        [
            Node(
                "devices",
                {},
                [
                    Node(
                        "device-list",
                        {},
                        [
                            Node("device", {"id": "0"}),
                            Node("device", {"id": "3", "key-index": "1"}),
                            Node("device", {"id": "4"}),  # no key index: not signed in, skipped
                            Node("device", {"id": "99", "key-index": "2"}),  # hosted
                        ],
                    )
                ],
            ),
            Node("lid", {"val": JID("7777", "lid")}),
        ],
    )
    lists = parse_devices_answer(_usync_answer([user]))
    listing = lists[JID("15550002", "s.whatsapp.net")]
    assert [d.device for d in listing.devices] == [0, 3]
    assert listing.lid == JID("7777", "lid")


class _Book:
    def __init__(self) -> None:
        self.pairs: list[tuple[JID, JID]] = []

    async def remember(self, pairs: object) -> None:
        self.pairs += list(pairs)  # type: ignore[call-overload]


async def test_device_cache_fetches_once_and_applies_notifications() -> None:
    calls: list[Node] = []
    pn = JID("15550002", "s.whatsapp.net")

    async def request(node: Node) -> Node:
        calls.append(node)
        user = Node(
            "user",
            {"jid": pn},
            [
                Node(
                    "devices",
                    {},
                    [
                        Node(
                            "device-list",
                            {},
                            [
                                Node("device", {"id": "0"}),
                                Node("device", {"id": "3", "key-index": "1"}),
                            ],
                        )
                    ],
                ),
                Node("lid", {"val": JID("7777", "lid")}),
            ],
        )
        return _usync_answer([user])

    book = _Book()
    cache = DeviceCache(request, book)  # type: ignore[arg-type]
    first = await cache.get([pn.with_device(5)])
    again = await cache.get([pn])
    assert len(calls) == 1
    assert first == again
    assert book.pairs == [(JID("7777", "lid"), pn)]
    lid_list = cache.cached(JID("7777", "lid"))
    assert lid_list is not None
    assert [d.device for d in lid_list.devices] == [0, 3]
    added = [pn, pn.with_device(3), pn.with_device(6)]
    notification = Node(
        "notification",
        {"from": pn, "type": "devices"},
        [
            Node(
                "add",
                {"device_hash": participant_hash(added)},
                [Node("device", {"jid": pn.with_device(6)})],
            )
        ],
    )
    cache.apply_notification(notification)
    cached = cache.cached(pn)
    assert cached is not None
    assert [d.device for d in cached.devices] == [0, 3, 6]
    wrong = Node(
        "notification",
        {"from": pn, "type": "devices"},
        [Node("remove", {"device_hash": "2:nope"}, [Node("device", {"jid": pn.with_device(3)})])],
    )
    cache.apply_notification(wrong)
    assert cache.cached(pn) is None
