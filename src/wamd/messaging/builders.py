"""Builders for the common message kinds (sans-I/O): each returns an ``e2e_pb2.Message``.

Send what they return with :meth:`wamd.Client.send_message`, or use the client's shortcuts
(``send_text``, ``react``, ``edit_message``...). The shapes are the ones WhatsApp's clients
send (whatsmeow ``send.go``, Baileys ``Utils/messages.js``):

- text: ``conversation``, or ``extendedTextMessage`` when it needs a context (mentions, a
  quote, a disappearing timer) or a link preview;
- reply: ``contextInfo{stanzaId, participant, quotedMessage[, remoteJid]}`` on the content;
- reaction: ``reactionMessage{key, text, senderTimestampMs}`` (empty text removes it);
- edit: ``editedMessage{protocolMessage{type MESSAGE_EDIT, key, editedMessage, timestampMs}}``;
- revoke: ``protocolMessage{type REVOKE, key}``;
- location, contact card(s) (vCard), poll creation (with ``messageContextInfo.messageSecret``),
  view-once (``viewOnceMessageV2``), disappearing timer (``contextInfo.expiration``) and the
  chat timer setting (``protocolMessage{type EPHEMERAL_SETTING}``).

:func:`stanza_extras` tells what the ``<message>`` stanza carries beside the ciphertexts for a
given message (the ``edit`` attribute, ``decrypt-fail="hide"``, ``<meta polltype>``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from wamd.binary import AttrValue, Node
from wamd.messaging.secrets import new_secret
from wamd.proto import common_pb2, e2e_pb2
from wamd.types import JID

__all__ = [
    "DISAPPEARING_7D",
    "DISAPPEARING_24H",
    "DISAPPEARING_90D",
    "ContactCard",
    "LinkPreview",
    "Quotable",
    "StanzaExtras",
    "contact",
    "contacts",
    "content_field",
    "disappearing_timer",
    "edit",
    "edit_attribute",
    "location",
    "message_key",
    "poll",
    "quote_context",
    "reaction",
    "revoke",
    "stanza_extras",
    "text",
    "vcard",
    "view_once",
    "with_context",
]

DISAPPEARING_24H = 24 * 3600
"""The disappearing-message timers WhatsApp offers, in seconds (0 switches it off)."""
DISAPPEARING_7D = 7 * 24 * 3600
DISAPPEARING_90D = 90 * 24 * 3600

EDIT_MESSAGE = "1"
EDIT_PIN = "2"
EDIT_SENDER_REVOKE = "7"
EDIT_ADMIN_REVOKE = "8"

_Protocol = e2e_pb2.ProtocolMessage

# Wrappers whose inner message is the real content.
_WRAPPERS = (
    "ephemeral_message",
    "view_once_message",
    "view_once_message_v2",
    "view_once_message_v2_extension",
    "document_with_caption_message",
    "edited_message",
    "lottie_sticker_message",
)


def _now_ms() -> int:
    return int(time.time() * 1000)


def _jid(value: JID | str) -> JID:
    return value if isinstance(value, JID) else JID.parse(value)


# --- keys and context ------------------------------------------------------------------------


def message_key(
    chat: JID | str, message_id: str, *, from_me: bool, sender: JID | str | None = None
) -> common_pb2.MessageKey:
    """The key naming a message: its chat, id, whether we sent it, and (in groups, for
    messages of others) its sender without a device."""
    chat_jid = _jid(chat)
    key = common_pb2.MessageKey(
        remote_jid=str(chat_jid.to_non_ad()), from_me=from_me, id=message_id
    )
    if not from_me and sender is not None and not chat_jid.is_user:
        key.participant = str(_jid(sender).to_non_ad())
    return key


class Quotable(Protocol):
    """What a reply needs to know of the message it quotes (a received
    :class:`~wamd.messaging.events.Message` has it all)."""

    @property
    def id(self) -> str: ...
    @property
    def chat(self) -> JID: ...
    @property
    def sender(self) -> JID: ...
    @property
    def from_me(self) -> bool: ...
    @property
    def message(self) -> e2e_pb2.Message: ...


def content_field(message: e2e_pb2.Message) -> tuple[str, Any] | None:
    """The (name, submessage) of a message's content, looking through wrappers
    (ephemeral, view-once, edited...); ``None`` for an empty message."""
    msg = message
    for _ in range(6):
        for name in _WRAPPERS:
            if msg.HasField(name) and getattr(msg, name).HasField("message"):
                msg = getattr(msg, name).message
                break
        else:
            break
    if msg.HasField("device_sent_message") and msg.device_sent_message.HasField("message"):
        return content_field(msg.device_sent_message.message)
    for descriptor, value in msg.ListFields():
        if descriptor.name in ("message_context_info", "sender_key_distribution_message"):
            continue
        return descriptor.name, value
    return None


def _has_context(value: Any) -> bool:
    descriptor = getattr(value, "DESCRIPTOR", None)
    return descriptor is not None and "context_info" in descriptor.fields_by_name


def _stripped(message: e2e_pb2.Message) -> e2e_pb2.Message:
    """The content of ``message`` alone, without wrappers, context or message secret."""
    found = content_field(message)
    out = e2e_pb2.Message()
    if found is None:
        return out
    name, value = found
    if name == "conversation":
        out.conversation = str(value)
        return out
    target = getattr(out, name)
    target.CopyFrom(value)
    if _has_context(target):
        target.ClearField("context_info")
    return out


def quote_context(
    quoted: Quotable, *, chat: JID | str | None = None, own: JID | None = None
) -> e2e_pb2.ContextInfo:
    """The ``contextInfo`` of a reply to ``quoted``.

    ``chat`` is where the reply goes (``remoteJid`` is set when the quoted message lives in
    another chat); ``own`` is our JID, used as ``participant`` when we quote ourselves.
    """
    sender = own if (quoted.from_me and own is not None) else quoted.sender
    ctx = e2e_pb2.ContextInfo(stanza_id=quoted.id, participant=str(sender.to_non_ad()))
    ctx.quoted_message.CopyFrom(_stripped(quoted.message))
    if chat is not None and _jid(chat).to_non_ad() != quoted.chat.to_non_ad():
        ctx.remote_jid = str(quoted.chat.to_non_ad())
    return ctx


def with_context(
    message: e2e_pb2.Message,
    *,
    quote: e2e_pb2.ContextInfo | None = None,
    mentions: Iterable[JID | str] = (),
    expiration: int | None = None,
) -> e2e_pb2.Message:
    """Set reply, mention and disappearing-timer context on ``message`` (in place; returned).

    A plain ``conversation`` becomes an ``extendedTextMessage`` (only that one carries a
    context). Raises :class:`ValueError` for a message whose content has no context.
    """
    mentioned = [str(_jid(m).to_non_ad()) for m in mentions]
    if quote is None and not mentioned and expiration is None:
        return message
    if message.HasField("conversation"):
        body = message.conversation
        message.ClearField("conversation")
        message.extended_text_message.text = body
    found = content_field(message)
    if found is None or not _has_context(found[1]):
        raise ValueError("this message kind carries no context (reply, mentions, timer)")
    ctx: e2e_pb2.ContextInfo = found[1].context_info
    if quote is not None:
        ctx.MergeFrom(quote)
    if mentioned:
        ctx.mentioned_jid.extend(m for m in mentioned if m not in ctx.mentioned_jid)
    if expiration is not None:
        ctx.expiration = expiration
    return message


# --- text --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LinkPreview:
    """The link preview of a text: the URL as it appears in the text and what to show.

    ``thumbnail`` is a small JPEG shown inline (upload a bigger one as media yourself).
    """

    url: str
    title: str = ""
    description: str = ""
    thumbnail: bytes | None = None


def text(
    body: str,
    *,
    mentions: Iterable[JID | str] = (),
    quote: e2e_pb2.ContextInfo | None = None,
    preview: LinkPreview | None = None,
    expiration: int | None = None,
) -> e2e_pb2.Message:
    """A text message.

    ``mentions`` are the users mentioned (the text shows them as ``@<number>``); ``quote``
    a :func:`quote_context` to reply; ``preview`` a link preview; ``expiration`` the chat's
    disappearing timer in seconds.
    """
    message = e2e_pb2.Message()
    if preview is None and quote is None and not mentions and expiration is None:
        message.conversation = body
        return message
    ext = message.extended_text_message
    ext.text = body
    if preview is not None:
        ext.matched_text = preview.url
        ext.title = preview.title
        ext.description = preview.description
        ext.preview_type = e2e_pb2.ExtendedTextMessage.NONE
        if preview.thumbnail:
            ext.jpeg_thumbnail = preview.thumbnail
    return with_context(message, quote=quote, mentions=mentions, expiration=expiration)


# --- reactions, edits, revokes ----------------------------------------------------------------


def reaction(
    key: common_pb2.MessageKey, emoji: str, *, timestamp_ms: int | None = None
) -> e2e_pb2.Message:
    """React to the message ``key`` names with ``emoji``; an empty ``emoji`` removes our
    reaction."""
    message = e2e_pb2.Message()
    message.reaction_message.key.CopyFrom(key)
    message.reaction_message.text = emoji
    message.reaction_message.sender_timestamp_ms = (
        _now_ms() if timestamp_ms is None else timestamp_ms
    )
    return message


def edit(
    chat: JID | str,
    message_id: str,
    new_content: e2e_pb2.Message,
    *,
    timestamp_ms: int | None = None,
) -> e2e_pb2.Message:
    """Replace the text (or caption) of our message ``message_id`` in ``chat``."""
    message = e2e_pb2.Message()
    proto = message.edited_message.message.protocol_message
    proto.type = _Protocol.MESSAGE_EDIT
    proto.key.CopyFrom(message_key(chat, message_id, from_me=True))
    proto.edited_message.CopyFrom(new_content)
    proto.timestamp_ms = _now_ms() if timestamp_ms is None else timestamp_ms
    return message


def revoke(chat: JID | str, message_id: str, *, sender: JID | str | None = None) -> e2e_pb2.Message:
    """Delete a message for everyone: ours (``sender`` None), or, as a group admin, the
    message ``sender`` sent."""
    message = e2e_pb2.Message()
    message.protocol_message.type = _Protocol.REVOKE
    message.protocol_message.key.CopyFrom(
        message_key(chat, message_id, from_me=sender is None, sender=sender)
    )
    return message


# --- location, contacts ----------------------------------------------------------------------


def location(
    latitude: float,
    longitude: float,
    *,
    name: str = "",
    address: str = "",
    url: str = "",
    comment: str = "",
) -> e2e_pb2.Message:
    """A (static) location pin, with an optional place name, address and URL."""
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        raise ValueError(f"not a location: {latitude}, {longitude}")
    message = e2e_pb2.Message()
    loc = message.location_message
    loc.degrees_latitude = latitude
    loc.degrees_longitude = longitude
    for field_name, value in (
        ("name", name),
        ("address", address),
        ("url", url),
        ("comment", comment),
    ):
        if value:
            setattr(loc, field_name, value)
    return message


def _vcard_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace(",", "\\,").replace(";", "\\;")


def vcard(name: str, phone: str, *, organization: str = "", email: str = "") -> str:
    """A vCard 3.0 for one person with a WhatsApp number (``waid`` lets WhatsApp offer
    "Message" on the card). ``phone`` is digits, optionally with ``+`` and spaces."""
    digits = "".join(ch for ch in phone if ch.isdigit())
    if not digits:
        raise ValueError(f"not a phone number: {phone!r}")
    lines = ["BEGIN:VCARD", "VERSION:3.0", f"FN:{_vcard_escape(name)}"]
    if organization:
        lines.append(f"ORG:{_vcard_escape(organization)}")
    if email:
        lines.append(f"EMAIL:{_vcard_escape(email)}")
    lines.append(f"TEL;type=CELL;type=VOICE;waid={digits}:+{digits}")
    lines.append("END:VCARD")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class ContactCard:
    """One contact card: the name shown and its vCard text (see :func:`vcard`)."""

    display_name: str
    vcard: str


def contact(card: ContactCard) -> e2e_pb2.Message:
    """One contact card."""
    message = e2e_pb2.Message()
    message.contact_message.display_name = card.display_name
    message.contact_message.vcard = card.vcard
    return message


def contacts(cards: Sequence[ContactCard], *, display_name: str = "") -> e2e_pb2.Message:
    """Several contact cards in one message (one card gives a plain :func:`contact`)."""
    if not cards:
        raise ValueError("at least one contact card is needed")
    if len(cards) == 1:
        return contact(cards[0])
    message = e2e_pb2.Message()
    array = message.contacts_array_message
    array.display_name = display_name or f"{len(cards)} contacts"
    for card in cards:
        array.contacts.add(display_name=card.display_name, vcard=card.vcard)
    return message


# --- polls -------------------------------------------------------------------------------------


def poll(
    name: str, options: Sequence[str], *, selectable: int = 1, secret: bytes | None = None
) -> e2e_pb2.Message:
    """A poll. ``selectable`` is how many options a voter may pick (0: any number).

    A single-choice poll is sent as ``pollCreationMessageV3``, a multiple-choice one as
    ``pollCreationMessage`` (as WhatsApp does); both carry a fresh message secret, which
    votes are encrypted with (keep it: :meth:`wamd.Client.send_poll` stores it).
    """
    if not options:
        raise ValueError("a poll needs options")
    if len(set(options)) != len(options):
        raise ValueError("poll options must be distinct (votes name them by hash)")
    if not 0 <= selectable <= len(options):
        raise ValueError(f"selectable must be in 0..{len(options)}")
    message = e2e_pb2.Message()
    creation = (
        message.poll_creation_message_v3 if selectable == 1 else (message.poll_creation_message)
    )
    creation.name = name
    creation.selectable_options_count = selectable
    for option in options:
        creation.options.add(option_name=option)
    message.message_context_info.message_secret = secret if secret is not None else new_secret()
    return message


# --- wrappers ----------------------------------------------------------------------------------

_VIEW_ONCE_KINDS = ("image_message", "video_message", "audio_message")


def view_once(message: e2e_pb2.Message) -> e2e_pb2.Message:
    """A copy of a media message that can be opened only once (``viewOnceMessageV2``)."""
    found = content_field(message)
    if found is None or found[0] not in _VIEW_ONCE_KINDS or not message.HasField(found[0]):
        raise ValueError("only image, video and audio messages can be view-once")
    wrapper = e2e_pb2.Message()
    inner = wrapper.view_once_message_v2.message
    inner.CopyFrom(message)
    getattr(inner, found[0]).view_once = True
    return wrapper


def disappearing_timer(seconds: int) -> e2e_pb2.Message:
    """Set the chat's disappearing-message timer (0 switches it off); WhatsApp offers
    :data:`DISAPPEARING_24H`, :data:`DISAPPEARING_7D` and :data:`DISAPPEARING_90D`."""
    if seconds < 0:
        raise ValueError("the timer cannot be negative")
    message = e2e_pb2.Message()
    message.protocol_message.type = _Protocol.EPHEMERAL_SETTING
    message.protocol_message.ephemeral_expiration = seconds
    return message


# --- stanza ------------------------------------------------------------------------------------


def edit_attribute(message: e2e_pb2.Message) -> str:
    """The ``edit`` attribute of the ``<message>`` stanza carrying ``message``:
    ``"1"`` edit, ``"2"`` pin, ``"7"`` revoke of one's own message (and reaction removal),
    ``"8"`` admin revoke, ``""`` none."""
    msg = message
    if msg.HasField("edited_message") and msg.edited_message.HasField("message"):
        return edit_attribute(msg.edited_message.message)
    if msg.HasField("protocol_message") and msg.protocol_message.HasField("key"):
        proto = msg.protocol_message
        if proto.type == _Protocol.REVOKE:
            return EDIT_SENDER_REVOKE if proto.key.from_me else EDIT_ADMIN_REVOKE
        if proto.type == _Protocol.MESSAGE_EDIT and proto.HasField("edited_message"):
            return EDIT_MESSAGE
        return ""
    if msg.HasField("reaction_message") and not msg.reaction_message.text:
        return EDIT_SENDER_REVOKE
    if msg.HasField("keep_in_chat_message"):
        keep = msg.keep_in_chat_message
        if keep.key.from_me and keep.keep_type == e2e_pb2.UNDO_KEEP_FOR_ALL:
            return EDIT_SENDER_REVOKE
    if msg.HasField("pin_in_chat_message"):
        return EDIT_PIN
    return ""


_POLL_CREATIONS = ("poll_creation_message", "poll_creation_message_v2", "poll_creation_message_v3")


@dataclass(frozen=True, slots=True)
class StanzaExtras:
    """What a ``<message>`` stanza carries for a message beside its ciphertexts."""

    attrs: dict[str, AttrValue]
    """Extra attributes of ``<message>`` (``edit``)."""
    enc_attrs: dict[str, AttrValue]
    """Extra attributes of every ``<enc>`` (``decrypt-fail="hide"``)."""
    nodes: list[Node]
    """Extra children (``<meta polltype="creation|vote"/>``)."""


def stanza_extras(message: e2e_pb2.Message) -> StanzaExtras:
    """The stanza additions WhatsApp's clients make for ``message`` (whatsmeow
    ``prepareMessageNode``): an ``edit`` attribute for edits and revokes, hidden decrypt
    failures for edits, reactions and votes, and ``<meta polltype>`` for polls."""
    attrs: dict[str, AttrValue] = {}
    enc_attrs: dict[str, AttrValue] = {}
    nodes: list[Node] = []
    edit_value = edit_attribute(message)
    if edit_value:
        attrs["edit"] = edit_value
        enc_attrs["decrypt-fail"] = "hide"
    found = content_field(message)
    kind = found[0] if found is not None else ""
    if kind in ("reaction_message", "enc_reaction_message", "poll_update_message"):
        enc_attrs["decrypt-fail"] = "hide"
    if kind in _POLL_CREATIONS:
        nodes.append(Node("meta", {"polltype": "creation"}))
    elif kind == "poll_update_message":
        nodes.append(Node("meta", {"polltype": "vote"}))
    return StanzaExtras(attrs, enc_attrs, nodes)
