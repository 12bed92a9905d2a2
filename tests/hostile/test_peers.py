"""Hostile peers: another WhatsApp user with a real Signal session sends a wamd client what
no honest client would (through the sandbox, as the server delivers it).

For each: the victim answers with a typed outcome (a retry receipt, an ack with an error, an
:class:`UndecryptableMessage`, or nothing stored), no untyped exception reaches a catch-all,
the connection stays, the stored state is not corrupted, what it keeps is bounded, and a
normal message from the same peer right afterwards still decrypts.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from tests.hostile.harness import Duo, duo, next_id
from tests.hostile.peer import (
    from_peer,
    peer_ciphertext,
    peer_group_ciphertext,
    prekey_bundle,
    stranger_pkmsg,
)
from wamd.binary import Node
from wamd.messaging.events import Message, UndecryptableMessage
from wamd.proto import e2e_pb2
from wamd.types import JID

pytestmark = pytest.mark.asyncio(loop_scope="module")

GROUP = JID("120363000000000077", "g.us")
OTHER_GROUP = JID("120363000000000078", "g.us")
NACK_INVALID_PROTOBUF = "491"


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def d() -> AsyncIterator[Duo]:
    async with duo() as pair_of_clients:
        # the victim answers once: the peer's session is confirmed, it sends ``msg`` now
        answered = asyncio.Event()
        pair_of_clients.sender.on(Message)(lambda _: answered.set())
        victim, sender = pair_of_clients.victim, pair_of_clients.sender
        assert sender.jid is not None
        await victim.send_message(sender.jid.to_non_ad(), e2e_pb2.Message(conversation="hi"))
        await asyncio.wait_for(answered.wait(), 20)
        yield pair_of_clients


@pytest.fixture(autouse=True)
def _fresh_problems(d: Duo) -> None:
    d.problems.clear()


def _text(text: str) -> bytes:
    return e2e_pb2.Message(conversation=text).SerializeToString()


def _answers(d: Duo, stanza_id: str) -> tuple[list[Node], list[Node], list[Node]]:
    """(acks, retry receipts, delivery receipts) the victim sent for ``stanza_id``."""
    answers = d.answers_to(stanza_id)
    acks = [n for n in answers if n.tag == "ack"]
    retries = [n for n in answers if n.tag == "receipt" and n.attrs.get("type") == "retry"]
    delivered = [n for n in answers if n.tag == "receipt" and n.attrs.get("type") != "retry"]
    return acks, retries, delivered


def _messages(d: Duo, stanza_id: str) -> list[Message]:
    return [m for m in d.received if m.id == stanza_id]


def _without_session(state: dict[str, dict[str, bytes]]) -> dict[str, dict[str, bytes]]:
    """The stored state but the session with the peer and the dedupe rows (which a message
    that decrypted moves on, as it must)."""
    return {k: v for k, v in state.items() if k not in ("sessions", "seen")}


def _flip(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


# --- ciphertexts that fail to decrypt --------------------------------------------------------


@pytest.mark.parametrize("variant", ["bad MAC", "bad version", "truncated", "bad padding"])
async def test_a_bad_ciphertext_on_a_live_session(d: Duo, variant: str) -> None:
    """The peer's real session, a damaged message: a retry receipt, nothing stored, and the
    session still works (the ratchet did not move on for the damaged message)."""
    before = d.stored()
    if variant == "bad padding":
        kind, data = await peer_ciphertext(d, _text("no padding") + b"\x00", padded=False)
    else:
        kind, data = await peer_ciphertext(d, _text(variant))
        assert kind == "msg"
        data = {
            "bad MAC": lambda b: _flip(b, len(b) - 1),
            "bad version": lambda b: bytes([0x23]) + b[1:],
            "truncated": lambda b: b[: len(b) - 12],
        }[variant](data)
    node = from_peer(d, (kind, data))
    await d.inject(node)
    await d.survived(before, label=variant)
    acks, retries, delivered = _answers(d, str(node.attrs["id"]))
    assert len(acks) == 1
    assert "error" not in acks[0].attrs
    assert len(retries) == 1
    assert not delivered
    assert not _messages(d, str(node.attrs["id"]))


async def test_a_replayed_pkmsg_is_a_duplicate(d: Duo) -> None:
    """The peer's first message (a pkmsg that built the session) again, under its own id and
    under a new one: no second Message, no retry, no state change."""
    first = d.received[0]
    before = d.stored()
    again = from_peer(
        d,
        *[(c.attrs["type"], c.content) for c in first.raw.children if c.tag == "enc"],
        stanza_id=first.id,
    )  # type: ignore[misc]
    renamed = from_peer(
        d, *[(c.attrs["type"], c.content) for c in first.raw.children if c.tag == "enc"]
    )  # type: ignore[misc]
    await d.inject(again, renamed)
    await d.survived(before, label="replay")
    assert len(_messages(d, first.id)) == 1
    assert not _messages(d, str(renamed.attrs["id"]))
    for node in (again, renamed):
        _, retries, _ = _answers(d, str(node.attrs["id"]))
        assert not retries


async def test_a_replayed_msg_is_a_duplicate(d: Duo) -> None:
    """A ciphertext delivered, then the same bytes again: the second copy is a duplicate."""
    kind, data = await peer_ciphertext(d, _text("only once"))
    node = from_peer(d, (kind, data))
    await d.inject(node)
    await d.settle()
    assert len(_messages(d, str(node.attrs["id"]))) == 1
    before = d.stored()
    copy = from_peer(d, (kind, data))
    await d.inject(copy)
    await d.survived(before, label="replayed msg")
    assert not _messages(d, str(copy.attrs["id"]))


async def test_a_message_for_another_device(d: Duo) -> None:
    """A pkmsg made for another device (the peer's own, with its real signed prekey and one
    of its one-time prekeys, ids the victim also has): the victim cannot derive its keys;
    a retry receipt, no prekey consumed, no identity or session kept."""
    ours = d.victim.device.account._tables.prekeys
    theirs = d.sender.device.account._tables.prekeys
    prekey_id = min(k for k, (_, done) in theirs.items() if done and k in ours)
    kind = "pkmsg"
    data = stranger_pkmsg(prekey_bundle(d.sender, prekey_id), _text("for another device"))
    before = d.stored()
    node = from_peer(d, (kind, data))
    await d.inject(node)
    await d.survived(before, label="another device")
    _, retries, delivered = _answers(d, str(node.attrs["id"]))
    assert retries
    assert not delivered
    assert not _messages(d, str(node.attrs["id"]))


# --- payloads that decrypt -----------------------------------------------------------------


@pytest.mark.parametrize(
    "payload",
    [
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01",  # a varint longer than ten bytes
        b"\x0a\xff\xff\xff\x0f",  # a string field longer than the message
        b"\x07",  # wire type 7
        b"\x32\x80\x01" + b"\x00" * 3,  # a length that runs past the end
    ],
    ids=["long varint", "overlong string", "bad wire type", "short field"],
)
async def test_protobuf_garbage_after_a_valid_decryption(d: Duo, payload: bytes) -> None:
    """The ciphertext is fine, the plaintext is not a Message: an ack with error 491, no
    Message; the ratchet moves on (the key is used up) and the next message decrypts."""
    before = _without_session(d.stored())
    node = from_peer(d, await peer_ciphertext(d, payload))
    await d.inject(node)
    await d.survived(label="garbage protobuf")
    assert _without_session(d.stored()) == before
    acks, retries, delivered = _answers(d, str(node.attrs["id"]))
    assert [a.attrs.get("error") for a in acks] == [NACK_INVALID_PROTOBUF]
    assert not retries
    assert not delivered
    assert not _messages(d, str(node.attrs["id"]))


def _varint(value: int) -> bytes:
    out = b""
    while True:
        byte, value = value & 0x7F, value >> 7
        out += bytes([byte | (0x80 if value else 0)])
        if not value:
            return out


def _field(number: int, body: bytes) -> bytes:
    """A length-delimited protobuf field."""
    return _varint(number << 3 | 2) + _varint(len(body)) + body


def _nested(depth: int) -> bytes:
    """A Message quoting a Message quoting ... ``depth`` levels deep (raw protobuf:
    Message.extendedTextMessage(6).contextInfo(17).quotedMessage(3))."""
    inner = _text("bottom")
    for _ in range(depth):
        inner = _field(6, _field(17, _field(3, inner)))
    return inner


async def test_giant_and_deep_payloads(d: Duo) -> None:
    """A 1 MiB text is delivered whole; a message nested a thousand levels deep is refused
    (491) without a RecursionError; the session works afterwards."""
    big = "x" * (1 << 20)
    node = from_peer(d, await peer_ciphertext(d, _text(big)))
    deep = from_peer(d, await peer_ciphertext(d, _nested(1000)))
    await d.inject(node, deep)
    await d.survived(label="giant")
    (message,) = _messages(d, str(node.attrs["id"]))
    assert message.message.conversation == big
    acks, _, _ = _answers(d, str(deep.attrs["id"]))
    assert [a.attrs.get("error") for a in acks] == [NACK_INVALID_PROTOBUF]
    assert not _messages(d, str(deep.attrs["id"]))


async def test_a_forged_device_sent_message_is_refused(d: Duo) -> None:
    """Only our own devices send DeviceSentMessage (copies of what we sent). From another
    account it is a forgery of a message "we" sent: refused (491), never handed over."""
    forged = e2e_pb2.Message()
    forged.device_sent_message.destination_jid = "15550000000@s.whatsapp.net"
    forged.device_sent_message.message.conversation = "I never sent this"
    node = from_peer(d, await peer_ciphertext(d, forged.SerializeToString()))
    await d.inject(node)
    await d.survived(label="forged dsm")
    acks, _, delivered = _answers(d, str(node.attrs["id"]))
    assert [a.attrs.get("error") for a in acks] == [NACK_INVALID_PROTOBUF]
    assert not delivered
    assert not _messages(d, str(node.attrs["id"]))
    assert not [
        m
        for m in d.received
        if m.message.HasField("device_sent_message")
        or m.message.conversation == "I never sent this"
    ]


# --- sender keys -----------------------------------------------------------------------------


def _with_distribution(text: str, group: JID, distribution: bytes) -> bytes:
    message = e2e_pb2.Message(conversation=text)
    message.sender_key_distribution_message.group_id = str(group)
    message.sender_key_distribution_message.axolotl_sender_key_distribution_message = distribution
    return message.SerializeToString()


async def test_a_sender_key_for_a_group_in_a_1to1_chat_is_ignored(d: Duo) -> None:
    """A contact plants a sender key for a group in a 1:1 message: the text arrives, no
    sender key is stored (the server vouches for the chat, not for the group id a peer
    writes)."""
    _, distribution = await peer_group_ciphertext(d, GROUP, _text("unused"))
    before = d.stored()
    node = from_peer(d, await peer_ciphertext(d, _with_distribution("hi", GROUP, distribution)))
    await d.inject(node)
    await d.survived(label="1:1 skdm")
    (message,) = _messages(d, str(node.attrs["id"]))
    assert message.message.conversation == "hi"
    assert d.stored()["sender_keys"] == before["sender_keys"]


async def test_a_sender_key_for_another_group_is_ignored(d: Duo) -> None:
    """In a message of one group, a sender key for another group: not stored; the sender
    key for the group the message is in is (the control: the test can fail)."""
    skmsg, distribution = await peer_group_ciphertext(d, OTHER_GROUP, _text("elsewhere"))
    before = d.stored()["sender_keys"]
    node = from_peer(
        d,
        await peer_ciphertext(d, _with_distribution("", OTHER_GROUP, distribution)),
        ("skmsg", skmsg),
        group=GROUP,
    )
    await d.inject(node)
    await d.survived(label="other group")
    assert d.stored()["sender_keys"] == before
    _, retries, _ = _answers(d, str(node.attrs["id"]))
    assert retries  # its skmsg had no sender key here

    skmsg, distribution = await peer_group_ciphertext(d, GROUP, _text("in the group"))
    node = from_peer(
        d,
        await peer_ciphertext(d, _with_distribution("", GROUP, distribution)),
        ("skmsg", skmsg),
        group=GROUP,
    )
    await d.inject(node)
    await d.settle()
    (message,) = _messages(d, str(node.attrs["id"]))
    assert message.message.conversation == "in the group"
    assert message.chat == GROUP
    stored = d.stored()["sender_keys"]
    assert [k for k in stored if k.startswith(str(GROUP))]
    assert not [k for k in stored if k.startswith(str(OTHER_GROUP))]


# --- floods ----------------------------------------------------------------------------------


async def test_a_flood_of_damaged_messages_is_bounded(d: Duo) -> None:
    """Two hundred damaged messages from the peer, each retried to the limit: every one ends
    in a retry receipt or an UndecryptableMessage, at most one new prekey is made for all the
    retry receipts, the receiver holds no per-message state afterwards, and the session
    works."""
    kind, data = await peer_ciphertext(d, _text("template"))
    bad = _flip(data, len(data) - 1)
    before = d.stored()
    limit = d.victim.messaging.options.max_retries
    ids = [next_id() for _ in range(200)]
    for count in range(limit + 1):
        nodes = [from_peer(d, (kind, bad), stanza_id=i) for i in ids]
        for node in nodes:
            node.children[0].attrs["count"] = str(count)
        await d.inject(*nodes)
        await d.settle(0.05)
    await d.settle()
    after = d.stored()
    assert len(set(after["prekeys"]) - set(before["prekeys"])) <= 1
    before["prekeys"] = after["prekeys"]
    await d.survived(before, label="flood")
    gave_up = {e.id for e in d.all_events if isinstance(e, UndecryptableMessage)}
    assert set(ids) <= gave_up
    receiver = d.victim.messaging.receiver
    assert receiver.queued == 0  # (a chat keeps its pace, no stanza)
    assert not set(ids) & set(receiver._retries)
