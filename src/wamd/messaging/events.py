"""Typed events of the message path: :class:`Message`, :class:`Receipt`,
:class:`UndecryptableMessage`, :class:`IdentityChanged`.

A :class:`Message` passes through the durable inbox before handlers see it, so it can be
written as bytes (:meth:`Message.to_payload`) and read back (:meth:`Message.from_payload`)
after a crash; the copy read back carries ``redelivered=True``.
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
import struct
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from google.protobuf.message import DecodeError as ProtobufDecodeError

from wamd.errors import InvalidJID, MalformedNode
from wamd.events import Event
from wamd.messaging import content
from wamd.proto import e2e_pb2
from wamd.types import JID

if TYPE_CHECKING:
    from wamd.binary import Node

__all__ = [
    "IdentityChanged",
    "Message",
    "Receipt",
    "ReceiptType",
    "UndecryptableMessage",
]

_PAYLOAD_TAG = b"\x02"
"""First byte of an inbox payload (version 1 was a JSON object, starting with ``{``)."""
_PAYLOAD_HEAD = struct.Struct("!BqI8I")
"""Flags, time, retry count, then the UTF-8 sizes of the eight strings that follow: id,
chat, sender, sender_alt, push name, type, edit, category. The rest is the protobuf."""
_FROM_ME = 1
_IS_GROUP = 2

_REVOKE = e2e_pb2.ProtocolMessage.REVOKE
_EDIT = e2e_pb2.ProtocolMessage.MESSAGE_EDIT


def _time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def encode_payload(
    id: str,
    chat: JID,
    sender: JID,
    from_me: bool,
    timestamp: int,
    message: bytes,
    sender_alt: JID | None,
    push_name: str,
    is_group: bool,
    type: str,
    edit: str,
    category: str,
    retry_count: int,
) -> bytes:
    """A :class:`Message`'s inbox payload from its fields (``message``: the serialized
    protobuf, stored as it is; no JSON or base64 on the receive path)."""
    texts = [
        s.encode()
        for s in (
            id,
            str(chat),
            str(sender),
            "" if sender_alt is None else str(sender_alt),
            push_name,
            type,
            edit,
            category,
        )
    ]
    head = _PAYLOAD_HEAD.pack(
        (_FROM_ME if from_me else 0) | (_IS_GROUP if is_group else 0),
        timestamp,
        retry_count,
        *map(len, texts),
    )
    return b"".join((_PAYLOAD_TAG, head, *texts, message))


@dataclass(frozen=True, slots=True)
class Message(Event):
    """A message received (from a contact, or from one of our own other devices).

    Attributes:
        id: the message id (the idempotency key: a redelivery carries the same id).
        chat: the conversation (the contact for 1:1 chats, the group for groups), no device.
        sender: the device that sent it (``user:device@server``).
        sender_alt: the sender's other identity when the server told it (the LID of a
            phone-number sender, or the phone number of a LID sender), with the device.
        from_me: sent by this account (from another of our devices).
        timestamp: the server's time of the message.
        push_name: the sender's display name, as the server relayed it.
        message: the decrypted ``e2e_pb2.Message`` (``DeviceSentMessage`` already unwrapped).
        is_group: the chat is a group (or broadcast list).
        type: the stanza's ``type`` (``text``, ``media``, ``reaction``, ``poll``...).
        edit: the stanza's ``edit`` attribute (``"1"`` edit, ``"7"`` revoke, ``"8"`` admin
            revoke), empty when absent.
        category: the stanza's ``category`` (``"peer"`` for messages between own devices).
        retry_count: how many retries the sender needed (the ``<enc count>``).
        redelivered: this entry was dispatched before a crash or restart and may have been
            seen by a handler already.
        seq: the entry's sequence number in the durable inbox (0 when not from the inbox).
    """

    id: str
    chat: JID
    sender: JID
    from_me: bool
    timestamp: datetime
    message: e2e_pb2.Message = field(repr=False)
    sender_alt: JID | None = None
    push_name: str = ""
    is_group: bool = False
    type: str = "text"
    edit: str = ""
    category: str = ""
    retry_count: int = 0
    redelivered: bool = False
    seq: int = 0
    raw: Node | None = field(default=None, repr=False, compare=False)

    @property
    def text(self) -> str | None:
        """The text of a plain or extended text message (``None`` for other kinds)."""
        msg = self.message
        if msg.HasField("conversation"):
            return msg.conversation
        if msg.HasField("extended_text_message"):
            return msg.extended_text_message.text
        return None

    @property
    def is_revoke(self) -> bool:
        """A "delete for everyone" of an earlier message (see :attr:`target_id`)."""
        msg = self.message
        return msg.HasField("protocol_message") and msg.protocol_message.type == _REVOKE

    @property
    def is_edit(self) -> bool:
        """An edit of an earlier message (see :attr:`target_id`)."""
        msg = self.message
        if msg.HasField("protocol_message") and msg.protocol_message.type == _EDIT:
            return True
        edited = msg.edited_message.message
        return msg.HasField("edited_message") and edited.protocol_message.type == _EDIT

    @property
    def target_id(self) -> str | None:
        """The id of the message an edit or revoke applies to."""
        msg = self.message
        if msg.HasField("edited_message"):
            msg = msg.edited_message.message
        if msg.HasField("protocol_message") and msg.protocol_message.HasField("key"):
            return msg.protocol_message.key.id
        return None

    # --- content readers (wamd.messaging.content, docs/messages.md) ---------------------------

    @property
    def kind(self) -> str:
        """What the message is: ``text``, ``reaction``, ``edit``, ``revoke``, ``poll``,
        ``poll_vote``, ``location``, ``image``... (:func:`~wamd.messaging.content.kind_of`)."""
        return content.kind_of(self.message)

    @property
    def quoted(self) -> content.Quoted | None:
        """The message this one replies to (id, sender, quoted content), if any."""
        return content.quoted_of(self.message)

    @property
    def mentions(self) -> list[JID]:
        """The users this message mentions."""
        return content.mentions_of(self.message)

    @property
    def reaction(self) -> content.Reaction | None:
        """The reaction this message carries (target id, emoji; empty emoji: removed)."""
        return content.reaction_of(self.message)

    @property
    def edited(self) -> content.Edit | None:
        """The edit this message carries (target id, new content), if it is one."""
        return content.edit_of(self.message)

    @property
    def revoked(self) -> content.Revoke | None:
        """The "delete for everyone" this message carries (target id, by an admin), if any."""
        return content.revoke_of(self.message)

    # --- durable form ------------------------------------------------------------------------

    def to_payload(self) -> bytes:
        """The bytes stored in the durable inbox (everything but ``raw`` and ``seq``)."""
        return encode_payload(
            self.id,
            self.chat,
            self.sender,
            self.from_me,
            int(self.timestamp.timestamp()),
            self.message.SerializeToString(),
            self.sender_alt,
            self.push_name,
            self.is_group,
            self.type,
            self.edit,
            self.category,
            self.retry_count,
        )

    @classmethod
    def from_payload(cls, payload: bytes, *, seq: int = 0, redelivered: bool = True) -> Message:
        """Read an inbox payload back (the current form, or the JSON one of earlier
        versions). Raises :class:`~wamd.errors.MalformedNode` when the payload is not one
        :meth:`to_payload` wrote."""
        if payload[:1] == b"{":
            return cls._from_json(payload, seq=seq, redelivered=redelivered)
        try:
            if payload[:1] != _PAYLOAD_TAG:
                raise MalformedNode(f"unknown inbox payload version {payload[:1]!r}")
            flags, t, retry_count, *sizes = _PAYLOAD_HEAD.unpack_from(payload, 1)
            offset = 1 + _PAYLOAD_HEAD.size
            texts: list[str] = []
            for size in sizes:
                end = offset + size
                if end > len(payload):
                    raise MalformedNode("truncated inbox payload")
                texts.append(payload[offset:end].decode())
                offset = end
            message = e2e_pb2.Message()
            message.ParseFromString(payload[offset:])
            message_id, chat, sender, alt, push_name, kind, edit, category = texts
            return cls(
                id=message_id,
                chat=JID.parse(chat),
                sender=JID.parse(sender),
                from_me=bool(flags & _FROM_ME),
                timestamp=_time(t),
                message=message,
                sender_alt=JID.parse(alt) if alt else None,
                push_name=push_name,
                is_group=bool(flags & _IS_GROUP),
                type=kind,
                edit=edit,
                category=category,
                retry_count=retry_count,
                redelivered=redelivered,
                seq=seq,
            )
        except (
            ValueError,
            OverflowError,
            OSError,
            struct.error,
            InvalidJID,
            ProtobufDecodeError,
        ) as exc:
            raise MalformedNode(f"bad inbox payload: {exc}") from exc

    @classmethod
    def _from_json(cls, payload: bytes, *, seq: int, redelivered: bool) -> Message:
        """An inbox payload in the JSON form written before the binary one."""
        try:
            data = json.loads(payload)
            if not isinstance(data, dict):
                raise MalformedNode("inbox payload is not an object")
            if data.get("v") != 1:
                raise MalformedNode(f"unknown inbox payload version {data.get('v')!r}")
            message = e2e_pb2.Message()
            message.ParseFromString(base64.b64decode(data["message"], validate=True))
            alt = data.get("sender_alt")
            return cls(
                id=str(data["id"]),
                chat=JID.parse(data["chat"]),
                sender=JID.parse(data["sender"]),
                from_me=bool(data["from_me"]),
                timestamp=_time(int(data["t"])),
                message=message,
                sender_alt=JID.parse(alt) if alt else None,
                push_name=str(data.get("push_name", "")),
                is_group=bool(data.get("is_group", False)),
                type=str(data.get("type", "text")),
                edit=str(data.get("edit", "")),
                category=str(data.get("category", "")),
                retry_count=int(data.get("retry_count", 0)),
                redelivered=redelivered,
                seq=seq,
            )
        except (
            ValueError,
            KeyError,
            TypeError,
            InvalidJID,
            binascii.Error,
            ProtobufDecodeError,
        ) as exc:
            raise MalformedNode(f"bad inbox payload: {exc}") from exc

    def with_seq(self, seq: int) -> Message:
        """This event with its inbox sequence number set."""
        return replace(self, seq=seq)


class ReceiptType(enum.StrEnum):
    """The ``type`` of a ``<receipt>`` (an absent type is a delivery receipt)."""

    DELIVERED = ""
    SENDER = "sender"
    """Delivered to another device of our own account."""
    INACTIVE = "inactive"
    """Delivered to a device that is not in the foreground."""
    READ = "read"
    READ_SELF = "read-self"
    """Read by another of our devices (with read receipts switched off)."""
    PLAYED = "played"
    PLAYED_SELF = "played-self"
    RETRY = "retry"
    """The recipient could not decrypt the message and asks for it again."""
    SERVER_ERROR = "server-error"
    PEER_MSG = "peer_msg"
    HISTORY_SYNC = "hist_sync"

    @classmethod
    def parse(cls, value: str) -> ReceiptType | str:
        """The known type for ``value``, or the string itself when unknown."""
        try:
            return cls(value)
        except ValueError:
            return value


@dataclass(frozen=True, slots=True)
class Receipt(Event):
    """A receipt for messages we sent (or, with ``from_me``, for messages our other devices
    received or read).

    Attributes:
        chat: the conversation the messages belong to.
        sender: who sent the receipt (a device JID).
        ids: the message ids it covers (the first one is the stanza's ``id``).
        type: a :class:`ReceiptType`, or the raw string for an unknown type.
        timestamp: the receipt's time.
        from_me: the receipt comes from one of our own devices.
        is_group: the chat is a group.
        redelivered: dispatched before a crash or restart (see :class:`Message`).
        seq: the entry's sequence number in the durable inbox (0 when not from the inbox):
            finish it with ``client.inbox_transaction(receipt)`` to act exactly once.
    """

    chat: JID
    sender: JID
    ids: tuple[str, ...]
    type: ReceiptType | str
    timestamp: datetime
    from_me: bool = False
    is_group: bool = False
    raw: Node | None = field(default=None, repr=False, compare=False)
    redelivered: bool = False
    seq: int = 0


@dataclass(frozen=True, slots=True)
class UndecryptableMessage(Event):
    """A message that could not be decrypted even after the retry budget was used up.

    ``reason`` says why the last attempt failed; ``retry_count`` how many retry receipts were
    sent. The message is acknowledged to the server; its content is lost unless the sender
    sends it again.
    """

    id: str
    chat: JID
    sender: JID
    from_me: bool
    timestamp: datetime
    reason: str
    retry_count: int = 0
    is_group: bool = False
    raw: Node | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True, slots=True)
class IdentityChanged(Event):
    """A contact's device presented a new identity key (reinstalled, or a new phone); the
    old session was archived and a new one started."""

    address: str
    jid: JID
    timestamp: datetime = field(default_factory=lambda: datetime.now(UTC))
