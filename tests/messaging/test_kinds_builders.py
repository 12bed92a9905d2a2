"""Message-kind builders, the stanza extras and the incoming content helpers (no I/O)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from wamd.binary import Node
from wamd.messaging import builders as b
from wamd.messaging import content as c
from wamd.proto import e2e_pb2
from wamd.types import JID

ALICE = JID.parse("15550001111@s.whatsapp.net")
BOB = JID.parse("15550002222@s.whatsapp.net")
BOB_DEV = JID.parse("15550002222:3@s.whatsapp.net")
GROUP = JID.parse("120363000000000001@g.us")


@dataclass(frozen=True)
class Received:
    id: str
    chat: JID
    sender: JID
    from_me: bool
    message: e2e_pb2.Message


def roundtrip(message: e2e_pb2.Message) -> e2e_pb2.Message:
    out = e2e_pb2.Message()
    out.ParseFromString(message.SerializeToString())
    return out


def test_plain_text_is_a_conversation() -> None:
    msg = roundtrip(b.text("hello"))
    assert msg.HasField("conversation")
    assert c.text_of(msg) == "hello"
    assert c.kind_of(msg) == "text"
    assert c.quoted_of(msg) is None
    assert c.mentions_of(msg) == []


def test_mentions_go_to_context_info() -> None:
    msg = roundtrip(b.text("hi @15550002222", mentions=[BOB_DEV, "15550003333@s.whatsapp.net"]))
    assert not msg.HasField("conversation")
    ctx = msg.extended_text_message.context_info
    assert list(ctx.mentioned_jid) == [str(BOB), "15550003333@s.whatsapp.net"]
    assert c.mentions_of(msg) == [BOB, JID.parse("15550003333@s.whatsapp.net")]
    assert c.text_of(msg) == "hi @15550002222"


def test_link_preview_fields() -> None:
    preview = b.LinkPreview(
        "https://example.org/x",
        title="Example",
        description="An example",
        thumbnail=b"\xff\xd8jpeg",
    )
    msg = roundtrip(b.text("see https://example.org/x", preview=preview))
    ext = msg.extended_text_message
    assert ext.matched_text == "https://example.org/x"
    assert (ext.title, ext.description, ext.jpeg_thumbnail) == (
        "Example",
        "An example",
        b"\xff\xd8jpeg",
    )
    assert ext.preview_type == e2e_pb2.ExtendedTextMessage.NONE
    assert not ext.HasField("context_info")


def test_reply_quotes_stripped_content() -> None:
    original = b.text("question?", mentions=[ALICE])
    original.message_context_info.message_secret = b"s" * 32
    quoted = Received("MSG1", BOB, BOB_DEV, False, original)
    ctx = b.quote_context(quoted, chat=BOB)
    msg = roundtrip(b.text("answer", quote=ctx))
    info = msg.extended_text_message.context_info
    assert info.stanza_id == "MSG1"
    assert info.participant == str(BOB)
    assert not info.HasField("remote_jid")
    # the quoted copy has neither the original's context nor its secret
    assert info.quoted_message.extended_text_message.text == "question?"
    assert not info.quoted_message.extended_text_message.HasField("context_info")
    assert not info.quoted_message.HasField("message_context_info")
    got = c.quoted_of(msg)
    assert got is not None
    assert (got.id, got.sender, got.chat, got.text) == ("MSG1", BOB, None, "question?")


def test_reply_to_own_message_and_across_chats() -> None:
    own = Received("MINE", BOB, ALICE.with_device(2), True, b.text("mine"))
    ctx = b.quote_context(own, chat=GROUP, own=ALICE)
    assert ctx.participant == str(ALICE)
    assert ctx.remote_jid == str(BOB)
    assert ctx.quoted_message.conversation == "mine"


def test_reply_unwraps_wrappers_of_quoted() -> None:
    inner = b.text("wrapped")
    wrapped = e2e_pb2.Message()
    wrapped.ephemeral_message.message.CopyFrom(inner)
    ctx = b.quote_context(Received("W", BOB, BOB, False, wrapped))
    assert ctx.quoted_message.conversation == "wrapped"


def test_with_context_on_location_and_errors() -> None:
    msg = b.with_context(b.location(1.5, 2.5), expiration=b.DISAPPEARING_7D)
    assert msg.location_message.context_info.expiration == 604800
    assert c.expiration_of(msg) == 604800
    with pytest.raises(ValueError, match="no context"):
        b.with_context(b.reaction(b.message_key(BOB, "X", from_me=False), "x"), mentions=[BOB])
    with pytest.raises(ValueError, match="no context"):
        b.with_context(e2e_pb2.Message(), expiration=1)


def test_message_keys() -> None:
    key = b.message_key(BOB_DEV, "ID", from_me=False, sender=BOB_DEV)
    assert (key.remote_jid, key.from_me, key.id, key.HasField("participant")) == (
        str(BOB),
        False,
        "ID",
        False,
    )
    gkey = b.message_key(GROUP, "ID", from_me=False, sender=BOB_DEV)
    assert gkey.participant == str(BOB)
    own = b.message_key(GROUP, "ID", from_me=True, sender=ALICE)
    assert not own.HasField("participant")


def test_reaction_and_removal() -> None:
    key = b.message_key(BOB, "TARGET", from_me=False)
    msg = roundtrip(b.reaction(key, "👍", timestamp_ms=1234))
    assert c.kind_of(msg) == "reaction"
    got = c.reaction_of(msg)
    assert got is not None
    assert (got.target_id, got.target_chat, got.target_from_me, got.emoji, got.timestamp_ms) == (
        "TARGET",
        BOB,
        False,
        "👍",
        1234,
    )
    assert not got.removed
    assert b.edit_attribute(msg) == ""
    removed = b.reaction(key, "")
    assert c.reaction_of(removed) is not None
    assert c.reaction_of(removed).removed
    assert b.edit_attribute(removed) == "7"
    extras = b.stanza_extras(removed)
    assert extras.attrs == {"edit": "7"}
    assert extras.enc_attrs == {"decrypt-fail": "hide"}
    assert b.stanza_extras(msg).enc_attrs == {"decrypt-fail": "hide"}
    assert b.stanza_extras(msg).attrs == {}


def test_edit() -> None:
    msg = roundtrip(b.edit(BOB, "OLD", b.text("fixed"), timestamp_ms=99))
    proto = msg.edited_message.message.protocol_message
    assert proto.type == e2e_pb2.ProtocolMessage.MESSAGE_EDIT
    assert (proto.key.remote_jid, proto.key.from_me, proto.key.id) == (str(BOB), True, "OLD")
    assert proto.edited_message.conversation == "fixed"
    assert c.kind_of(msg) == "edit"
    got = c.edit_of(msg)
    assert got is not None
    assert (got.target_id, got.text, got.timestamp_ms) == ("OLD", "fixed", 99)
    assert c.text_of(msg) is None
    extras = b.stanza_extras(msg)
    assert extras.attrs == {"edit": "1"}
    assert extras.enc_attrs == {"decrypt-fail": "hide"}
    # Baileys sends the protocol message without the editedMessage wrapper: read it too
    bare = e2e_pb2.Message()
    bare.protocol_message.CopyFrom(proto)
    assert c.edit_of(bare) == got
    assert b.edit_attribute(bare) == "1"


def test_revoke_own_and_admin() -> None:
    own = roundtrip(b.revoke(BOB, "GONE"))
    assert c.kind_of(own) == "revoke"
    assert own.protocol_message.key.from_me
    assert b.edit_attribute(own) == "7"
    got = c.revoke_of(own)
    assert got is not None
    assert (got.target_id, got.by_admin, got.participant) == ("GONE", False, None)
    admin = roundtrip(b.revoke(GROUP, "THEIRS", sender=BOB_DEV))
    assert admin.protocol_message.key.participant == str(BOB)
    assert b.edit_attribute(admin) == "8"
    got = c.revoke_of(admin)
    assert got is not None
    assert got.by_admin
    assert got.participant == BOB
    assert c.edit_of(own) is None
    assert c.revoke_of(b.text("x")) is None


def test_location() -> None:
    msg = roundtrip(b.location(52.52, 13.405, name="Berlin", address="Mitte"))
    loc = msg.location_message
    assert (loc.degrees_latitude, loc.degrees_longitude, loc.name, loc.address) == (
        52.52,
        13.405,
        "Berlin",
        "Mitte",
    )
    assert not loc.HasField("url")
    assert c.kind_of(msg) == "location"
    with pytest.raises(ValueError, match="not a location"):
        b.location(91, 0)


def test_vcard_and_contacts() -> None:
    card = b.vcard('Ann; "A", Smith', "+1 555 000 4444", organization="ACME")
    assert card.splitlines() == [
        "BEGIN:VCARD",
        "VERSION:3.0",
        'FN:Ann\\; "A"\\, Smith',
        "ORG:ACME",
        "TEL;type=CELL;type=VOICE;waid=15550004444:+15550004444",
        "END:VCARD",
    ]
    one = b.contacts([b.ContactCard("Ann", card)])
    assert one.contact_message.vcard == card
    assert c.kind_of(one) == "contact"
    many = roundtrip(b.contacts([b.ContactCard("Ann", card), b.ContactCard("Bo", card)]))
    assert many.contacts_array_message.display_name == "2 contacts"
    assert [x.display_name for x in many.contacts_array_message.contacts] == ["Ann", "Bo"]
    assert c.kind_of(many) == "contacts"
    with pytest.raises(ValueError, match="at least one"):
        b.contacts([])
    with pytest.raises(ValueError, match="not a phone"):
        b.vcard("x", "no digits")


def test_poll_creation() -> None:
    single = roundtrip(b.poll("Lunch?", ["pizza", "sushi"]))
    assert single.HasField("poll_creation_message_v3")
    creation = single.poll_creation_message_v3
    assert creation.name == "Lunch?"
    assert creation.selectable_options_count == 1
    assert [o.option_name for o in creation.options] == ["pizza", "sushi"]
    assert len(single.message_context_info.message_secret) == 32
    assert c.kind_of(single) == "poll"
    extras = b.stanza_extras(single)
    assert extras.nodes == [Node("meta", {"polltype": "creation"})]
    assert extras.attrs == {}
    assert extras.enc_attrs == {}
    multi = b.poll("Pick", ["a", "b", "c"], selectable=0, secret=b"k" * 32)
    assert multi.HasField("poll_creation_message")
    assert multi.message_context_info.message_secret == b"k" * 32
    with pytest.raises(ValueError, match="distinct"):
        b.poll("dup", ["a", "a"])
    with pytest.raises(ValueError, match="needs options"):
        b.poll("none", [])
    with pytest.raises(ValueError, match="selectable"):
        b.poll("too many", ["a"], selectable=2)


def test_view_once() -> None:
    image = e2e_pb2.Message()
    image.image_message.caption = "look"
    msg = roundtrip(b.view_once(image))
    assert msg.view_once_message_v2.message.image_message.view_once
    assert c.is_view_once(msg)
    assert c.kind_of(msg) == "image"
    assert c.text_of(msg) == "look"
    assert not c.is_view_once(image)
    with pytest.raises(ValueError, match="only image"):
        b.view_once(b.text("no"))


def test_disappearing_timer_setting() -> None:
    msg = roundtrip(b.disappearing_timer(b.DISAPPEARING_24H))
    assert msg.protocol_message.type == e2e_pb2.ProtocolMessage.EPHEMERAL_SETTING
    assert msg.protocol_message.ephemeral_expiration == 86400
    assert c.kind_of(msg) == "disappearing_timer"
    assert c.timer_setting_of(msg) == 86400
    off = roundtrip(b.disappearing_timer(0))
    assert c.timer_setting_of(off) == 0
    assert b.edit_attribute(msg) == ""
    with pytest.raises(ValueError, match="negative"):
        b.disappearing_timer(-1)


def test_device_sent_copies_are_read_through() -> None:
    dsm = e2e_pb2.Message()
    dsm.device_sent_message.destination_jid = str(BOB)
    dsm.device_sent_message.message.CopyFrom(b.text("to bob", mentions=[BOB]))
    assert c.text_of(dsm) == "to bob"
    assert c.mentions_of(dsm) == [BOB]
    assert c.kind_of(e2e_pb2.Message()) == "empty"


def test_hostile_jids_in_content_are_skipped() -> None:
    msg = b.text("x", mentions=[BOB])
    msg.extended_text_message.context_info.mentioned_jid.append("not a jid")
    msg.extended_text_message.context_info.stanza_id = "Q"
    msg.extended_text_message.context_info.participant = "@@bad"
    assert c.mentions_of(msg) == [BOB]
    got = c.quoted_of(msg)
    assert got is not None
    assert got.sender is None


def test_pin_and_keep_edit_attributes() -> None:
    pin = e2e_pb2.Message()
    pin.pin_in_chat_message.key.id = "P"
    assert b.edit_attribute(pin) == "2"
    keep = e2e_pb2.Message()
    keep.keep_in_chat_message.key.from_me = True
    keep.keep_in_chat_message.keep_type = e2e_pb2.UNDO_KEEP_FOR_ALL
    assert b.edit_attribute(keep) == "7"
    other = e2e_pb2.Message()
    other.protocol_message.type = e2e_pb2.ProtocolMessage.MESSAGE_EDIT
    other.protocol_message.key.id = "K"
    assert b.edit_attribute(other) == ""  # an edit without new content is no edit
