"""Builders for the app-state changes a user makes (sans-I/O).

Each builder returns a :class:`~wamd.appstate.encode.PatchInfo`: the collection, the index
(the JSON array WhatsApp's clients use, e.g. ``["mute", "<chat jid>"]``) and the
``SyncActionValue`` with the API version those clients write. Encode it with
:func:`wamd.appstate.encode.encode_patch`, or let the client send it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from wamd.appstate.crypto import Operation
from wamd.appstate.encode import MutationInfo, PatchInfo
from wamd.appstate.state import Collection
from wamd.proto import appstate_pb2 as pb
from wamd.proto import common_pb2
from wamd.types import JID

JIDLike = JID | str
"""A chat or user: a :class:`~wamd.types.JID` or its string form."""

# Index names (the first element of an index).
INDEX_MUTE = "mute"
INDEX_PIN = "pin_v1"
INDEX_ARCHIVE = "archive"
INDEX_MARK_READ = "markChatAsRead"
INDEX_STAR = "star"
INDEX_DELETE_FOR_ME = "deleteMessageForMe"
INDEX_CLEAR_CHAT = "clearChat"
INDEX_DELETE_CHAT = "deleteChat"
INDEX_CONTACT = "contact"
INDEX_PUSH_NAME = "setting_pushName"
INDEX_LABEL_EDIT = "label_edit"
INDEX_LABEL_CHAT = "label_jid"
INDEX_LABEL_MESSAGE = "label_message"
INDEX_UNARCHIVE_CHATS = "setting_unarchiveChats"
INDEX_LOCALE = "setting_locale"


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message an action refers to: its chat, id, direction, sender (groups) and time (s)."""

    chat: JIDLike
    id: str
    from_me: bool
    timestamp: int
    participant: JIDLike | None = None


def _one(
    collection: Collection,
    index: Sequence[str],
    version: int,
    value: pb.SyncActionValue,
    operation: Operation = Operation.SET,
) -> PatchInfo:
    return PatchInfo(str(collection), [MutationInfo(tuple(index), value, version, operation)])


def _message_range(last_messages: Sequence[MessageRef]) -> pb.SyncActionMessageRange:
    span = pb.SyncActionMessageRange()
    if last_messages:
        span.last_message_timestamp = max(m.timestamp for m in last_messages)
    for ref in last_messages:
        item = span.messages.add()
        item.timestamp = ref.timestamp
        item.key.CopyFrom(_key(ref))
    return span


def _key(ref: MessageRef) -> common_pb2.MessageKey:
    key = common_pb2.MessageKey(remote_jid=str(ref.chat), from_me=ref.from_me, id=ref.id)
    if ref.participant is not None:
        key.participant = str(ref.participant)
    return key


def _flag(value: bool) -> str:
    return "1" if value else "0"


def mute(chat: JIDLike, muted: bool = True, *, until_ms: int | None = None) -> PatchInfo:
    """Mute ``chat`` until ``until_ms`` (ms since the epoch; ``None``: forever) or unmute it."""
    action = pb.MuteAction(muted=muted)
    if muted:
        action.mute_end_timestamp = -1 if until_ms is None else until_ms
    return _one(
        Collection.REGULAR_HIGH, (INDEX_MUTE, str(chat)), 2, pb.SyncActionValue(mute_action=action)
    )


def _pin_mutation(chat: JIDLike, pinned: bool) -> MutationInfo:
    value = pb.SyncActionValue(pin_action=pb.PinAction(pinned=pinned))
    return MutationInfo((INDEX_PIN, str(chat)), value, 5)


def pin(chat: JIDLike, pinned: bool = True) -> PatchInfo:
    """Pin or unpin ``chat``."""
    return PatchInfo(str(Collection.REGULAR_LOW), [_pin_mutation(chat, pinned)])


def archive(
    chat: JIDLike, archived: bool = True, *, last_messages: Sequence[MessageRef] = ()
) -> PatchInfo:
    """Archive or unarchive ``chat`` (archiving also unpins it, as WhatsApp does)."""
    action = pb.ArchiveChatAction(archived=archived, message_range=_message_range(last_messages))
    mutations = [
        MutationInfo((INDEX_ARCHIVE, str(chat)), pb.SyncActionValue(archive_chat_action=action), 3)
    ]
    if archived:
        mutations.append(_pin_mutation(chat, False))
    return PatchInfo(str(Collection.REGULAR_LOW), mutations)


def mark_read(
    chat: JIDLike, read: bool = True, *, last_messages: Sequence[MessageRef] = ()
) -> PatchInfo:
    """Mark ``chat`` as read or unread."""
    action = pb.MarkChatAsReadAction(read=read, message_range=_message_range(last_messages))
    return _one(
        Collection.REGULAR_LOW,
        (INDEX_MARK_READ, str(chat)),
        3,
        pb.SyncActionValue(mark_chat_as_read_action=action),
    )


def _message_index(name: str, message: MessageRef) -> tuple[str, ...]:
    sender = "0" if message.participant is None or message.from_me else str(message.participant)
    return (name, str(message.chat), message.id, _flag(message.from_me), sender)


def star(message: MessageRef, starred: bool = True) -> PatchInfo:
    """Star or unstar a message."""
    return _one(
        Collection.REGULAR_HIGH,
        _message_index(INDEX_STAR, message),
        2,
        pb.SyncActionValue(star_action=pb.StarAction(starred=starred)),
    )


def delete_for_me(message: MessageRef, *, delete_media: bool = False) -> PatchInfo:
    """Delete a message on one's own devices only."""
    action = pb.DeleteMessageForMeAction(
        delete_media=delete_media, message_timestamp=message.timestamp
    )
    return _one(
        Collection.REGULAR_HIGH,
        _message_index(INDEX_DELETE_FOR_ME, message),
        3,
        pb.SyncActionValue(delete_message_for_me_action=action),
    )


def clear_chat(
    chat: JIDLike,
    *,
    last_messages: Sequence[MessageRef] = (),
    keep_starred: bool = False,
    delete_media: bool = False,
) -> PatchInfo:
    """Clear the messages of ``chat`` (optionally keeping starred ones)."""
    action = pb.ClearChatAction(message_range=_message_range(last_messages))
    index = (INDEX_CLEAR_CHAT, str(chat), _flag(not keep_starred), _flag(delete_media))
    return _one(Collection.REGULAR_HIGH, index, 6, pb.SyncActionValue(clear_chat_action=action))


def delete_chat(
    chat: JIDLike, *, last_messages: Sequence[MessageRef] = (), delete_media: bool = True
) -> PatchInfo:
    """Delete ``chat`` from the chat list."""
    action = pb.DeleteChatAction(message_range=_message_range(last_messages))
    index = (INDEX_DELETE_CHAT, str(chat), _flag(delete_media))
    return _one(Collection.REGULAR_HIGH, index, 6, pb.SyncActionValue(delete_chat_action=action))


def contact(
    jid: JIDLike,
    *,
    full_name: str | None = None,
    first_name: str | None = None,
    lid: JIDLike | None = None,
) -> PatchInfo:
    """Save ``jid`` in the address book with these names."""
    action = pb.ContactAction(save_on_primary_addressbook=True)
    if full_name is not None:
        action.full_name = full_name
    if first_name is not None:
        action.first_name = first_name
    if lid is not None:
        action.lid_jid = str(lid)
    return _one(
        Collection.CRITICAL_UNBLOCK_LOW,
        (INDEX_CONTACT, str(jid)),
        2,
        pb.SyncActionValue(contact_action=action),
    )


def remove_contact(jid: JIDLike) -> PatchInfo:
    """Remove ``jid`` from the address book."""
    return _one(
        Collection.CRITICAL_UNBLOCK_LOW,
        (INDEX_CONTACT, str(jid)),
        2,
        pb.SyncActionValue(contact_action=pb.ContactAction()),
        Operation.REMOVE,
    )


def push_name(name: str) -> PatchInfo:
    """Set the account's push name (the name others see)."""
    return _one(
        Collection.CRITICAL_BLOCK,
        (INDEX_PUSH_NAME,),
        1,
        pb.SyncActionValue(push_name_setting=pb.PushNameSetting(name=name)),
    )


def label_edit(
    label_id: str,
    name: str,
    *,
    color: int = 0,
    deleted: bool = False,
    predefined_id: int | None = None,
) -> PatchInfo:
    """Create, rename, recolour or delete a label."""
    action = pb.LabelEditAction(name=name, color=color, deleted=deleted)
    if predefined_id is not None:
        action.predefined_id = predefined_id
    return _one(
        Collection.REGULAR,
        (INDEX_LABEL_EDIT, label_id),
        3,
        pb.SyncActionValue(label_edit_action=action),
    )


def label_chat(chat: JIDLike, label_id: str, labeled: bool = True) -> PatchInfo:
    """Put label ``label_id`` on ``chat`` (or take it off)."""
    return _one(
        Collection.REGULAR,
        (INDEX_LABEL_CHAT, label_id, str(chat)),
        3,
        pb.SyncActionValue(label_association_action=pb.LabelAssociationAction(labeled=labeled)),
    )


def label_message(chat: JIDLike, label_id: str, message_id: str, labeled: bool = True) -> PatchInfo:
    """Put label ``label_id`` on a message (or take it off)."""
    index = (INDEX_LABEL_MESSAGE, label_id, str(chat), message_id, "0", "0")
    return _one(
        Collection.REGULAR,
        index,
        3,
        pb.SyncActionValue(label_association_action=pb.LabelAssociationAction(labeled=labeled)),
    )


def unarchive_chats_setting(unarchive: bool) -> PatchInfo:
    """Whether archived chats move back to the chat list when a new message arrives."""
    action = pb.UnarchiveChatsSetting(unarchive_chats=unarchive)
    return _one(
        Collection.REGULAR_LOW,
        (INDEX_UNARCHIVE_CHATS,),
        4,
        pb.SyncActionValue(unarchive_chats_setting=action),
    )
