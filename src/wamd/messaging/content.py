"""Reading what a received message says (sans-I/O): its kind, text, reply, mentions,
reaction, edit, revoke, disappearing timer...

Each helper takes the decrypted ``e2e_pb2.Message`` (a :class:`~wamd.messaging.events.Message`
event's ``message``) and looks through the wrappers WhatsApp puts around content (ephemeral,
view-once, document-with-caption, edited, and ``DeviceSentMessage`` for copies of our own
messages).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wamd.errors import InvalidJID
from wamd.messaging.builders import content_field
from wamd.proto import common_pb2, e2e_pb2
from wamd.types import JID

__all__ = [
    "Edit",
    "Quoted",
    "Reaction",
    "Revoke",
    "context_info_of",
    "edit_of",
    "expiration_of",
    "is_view_once",
    "kind_of",
    "mentions_of",
    "quoted_of",
    "reaction_of",
    "revoke_of",
    "text_of",
    "timer_setting_of",
]

_Protocol = e2e_pb2.ProtocolMessage

_KINDS = {
    "conversation": "text",
    "extended_text_message": "text",
    "reaction_message": "reaction",
    "enc_reaction_message": "enc_reaction",
    "poll_creation_message": "poll",
    "poll_creation_message_v2": "poll",
    "poll_creation_message_v3": "poll",
    "poll_update_message": "poll_vote",
    "location_message": "location",
    "live_location_message": "live_location",
    "contact_message": "contact",
    "contacts_array_message": "contacts",
    "image_message": "image",
    "video_message": "video",
    "ptv_message": "video",
    "audio_message": "audio",
    "document_message": "document",
    "sticker_message": "sticker",
}
_PROTOCOL_KINDS = {
    _Protocol.REVOKE: "revoke",
    _Protocol.MESSAGE_EDIT: "edit",
    _Protocol.EPHEMERAL_SETTING: "disappearing_timer",
}
_CAPTIONED = ("image_message", "video_message", "document_message")


def _jid(text: str) -> JID | None:
    if not text:
        return None
    try:
        return JID.parse(text)
    except InvalidJID:
        return None


def kind_of(message: e2e_pb2.Message) -> str:
    """A short name for what the message is: ``text``, ``reaction``, ``edit``, ``revoke``,
    ``poll``, ``poll_vote``, ``location``, ``contact``, ``contacts``, ``image``, ``video``,
    ``audio``, ``document``, ``sticker``, ``disappearing_timer``... (``protocol`` for other
    protocol messages, the field name for rarer kinds, ``empty`` for none)."""
    found = content_field(message)
    if found is None:
        return "empty"
    name, value = found
    if name == "protocol_message":
        return _PROTOCOL_KINDS.get(value.type, "protocol")
    return _KINDS.get(name, name.removesuffix("_message"))


def text_of(message: e2e_pb2.Message) -> str | None:
    """The text of a text message, or the caption of an image, video or document (``None``
    for other kinds)."""
    found = content_field(message)
    if found is None:
        return None
    name, value = found
    if name == "conversation":
        return str(value)
    if name == "extended_text_message":
        return str(value.text)
    if name in _CAPTIONED and value.HasField("caption"):
        return str(value.caption)
    return None


def context_info_of(message: e2e_pb2.Message) -> e2e_pb2.ContextInfo | None:
    """The ``contextInfo`` of the message's content (reply, mentions, timer), if any."""
    found = content_field(message)
    if found is None:
        return None
    value = found[1]
    descriptor = getattr(value, "DESCRIPTOR", None)
    if descriptor is None or "context_info" not in descriptor.fields_by_name:
        return None
    if not value.HasField("context_info"):
        return None
    ctx: e2e_pb2.ContextInfo = value.context_info
    return ctx


@dataclass(frozen=True, slots=True)
class Quoted:
    """The message a reply quotes: its id, sender, chat (``None``: the reply's own chat) and
    the quoted content as the replier's client copied it."""

    id: str
    sender: JID | None
    chat: JID | None
    message: e2e_pb2.Message = field(repr=False)

    @property
    def text(self) -> str | None:
        """The quoted message's text or caption."""
        return text_of(self.message)


def quoted_of(message: e2e_pb2.Message) -> Quoted | None:
    """What the message replies to (``None`` when it is not a reply)."""
    ctx = context_info_of(message)
    if ctx is None or not ctx.stanza_id:
        return None
    quoted = e2e_pb2.Message()
    quoted.CopyFrom(ctx.quoted_message)
    return Quoted(ctx.stanza_id, _jid(ctx.participant), _jid(ctx.remote_jid), quoted)


def mentions_of(message: e2e_pb2.Message) -> list[JID]:
    """The users the message mentions (invalid JIDs are skipped)."""
    ctx = context_info_of(message)
    if ctx is None:
        return []
    return [j for j in map(_jid, ctx.mentioned_jid) if j is not None]


def expiration_of(message: e2e_pb2.Message) -> int | None:
    """The disappearing timer (seconds) the message was sent under, if any."""
    ctx = context_info_of(message)
    if ctx is None or not ctx.HasField("expiration"):
        return None
    return int(ctx.expiration)


def is_view_once(message: e2e_pb2.Message) -> bool:
    """Whether the message may be viewed only once."""
    msg = message
    if msg.HasField("device_sent_message"):
        msg = msg.device_sent_message.message
    if any(
        msg.HasField(n)
        for n in ("view_once_message", "view_once_message_v2", "view_once_message_v2_extension")
    ):
        return True
    found = content_field(message)
    return bool(found is not None and getattr(found[1], "view_once", False))


def timer_setting_of(message: e2e_pb2.Message) -> int | None:
    """The new disappearing timer (seconds, 0: off) a timer-setting message sets."""
    found = content_field(message)
    if found is None or found[0] != "protocol_message":
        return None
    proto: e2e_pb2.ProtocolMessage = found[1]
    if proto.type != _Protocol.EPHEMERAL_SETTING:
        return None
    return int(proto.ephemeral_expiration)


@dataclass(frozen=True, slots=True)
class Reaction:
    """A reaction: the message it targets (id, chat, from whose perspective ``from_me``,
    ``participant`` in groups), the emoji (empty: the reaction was removed) and its time."""

    target_id: str
    target_chat: JID | None
    target_from_me: bool
    target_participant: JID | None
    emoji: str
    timestamp_ms: int

    @property
    def removed(self) -> bool:
        """The sender removed their reaction."""
        return not self.emoji


def _key_parts(key: common_pb2.MessageKey) -> tuple[str, JID | None, bool, JID | None]:
    return key.id, _jid(key.remote_jid), key.from_me, _jid(key.participant)


def reaction_of(message: e2e_pb2.Message) -> Reaction | None:
    """The reaction a message carries (``None`` when it is not a plain reaction)."""
    found = content_field(message)
    if found is None or found[0] != "reaction_message":
        return None
    value: e2e_pb2.ReactionMessage = found[1]
    return Reaction(*_key_parts(value.key), value.text, int(value.sender_timestamp_ms))


@dataclass(frozen=True, slots=True)
class Edit:
    """An edit: the id of the message replaced, its new content and when it was edited."""

    target_id: str
    content: e2e_pb2.Message = field(repr=False)
    timestamp_ms: int = 0

    @property
    def text(self) -> str | None:
        """The new text (or caption)."""
        return text_of(self.content)


def edit_of(message: e2e_pb2.Message) -> Edit | None:
    """The edit a message carries (``None`` when it is not an edit)."""
    found = content_field(message)
    if found is None or found[0] != "protocol_message":
        return None
    proto: e2e_pb2.ProtocolMessage = found[1]
    if proto.type != _Protocol.MESSAGE_EDIT or not proto.HasField("key"):
        return None
    content = e2e_pb2.Message()
    content.CopyFrom(proto.edited_message)
    return Edit(proto.key.id, content, int(proto.timestamp_ms))


@dataclass(frozen=True, slots=True)
class Revoke:
    """A "delete for everyone": the id of the deleted message; ``by_admin`` when a group
    admin deleted someone else's message (``participant`` then names its sender)."""

    target_id: str
    by_admin: bool
    participant: JID | None


def revoke_of(message: e2e_pb2.Message) -> Revoke | None:
    """The revoke a message carries (``None`` when it is not a revoke)."""
    found = content_field(message)
    if found is None or found[0] != "protocol_message":
        return None
    proto: e2e_pb2.ProtocolMessage = found[1]
    if proto.type != _Protocol.REVOKE or not proto.HasField("key"):
        return None
    return Revoke(proto.key.id, not proto.key.from_me, _jid(proto.key.participant))
