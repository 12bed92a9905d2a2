"""Typed events produced by app-state mutations.

:func:`event_for` maps one verified :class:`~wamd.appstate.state.Mutation` to the event a
user handles (``Mute``, ``Pin``, ``Archive``...). Every event carries the action's
``timestamp`` (ms), ``full_sync`` (it came from a snapshot or an initial sync, i.e. it
restates old state rather than reporting a fresh change) and the raw ``mutation``. Mutations
with no dedicated event (or malformed indexes) become :class:`AppStateChange`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any, TypedDict

from google.protobuf.message import DecodeError as ProtobufDecodeError

from wamd.appstate import actions as ix
from wamd.appstate.crypto import Operation
from wamd.appstate.state import Mutation
from wamd.errors import InvalidJID, MalformedNode
from wamd.events import Event
from wamd.proto import appstate_pb2 as pb
from wamd.types import JID


@dataclass(frozen=True, slots=True, kw_only=True)
class AppStateEvent(Event):
    """Base of the app-state events (``client.on(AppStateEvent)`` receives all of them).

    ``seq`` is the event's entry in the durable inbox (0 when not from the inbox: an engine
    used on its own); ``redelivered`` says it was dispatched before a crash or restart and may
    have been handled already (finish it with ``client.inbox_transaction(evt)`` for
    exactly-once effects). Neither takes part in comparisons.
    """

    timestamp: int
    full_sync: bool
    seq: int = field(default=0, compare=False)
    redelivered: bool = field(default=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class MutationEvent(AppStateEvent):
    """Base of the events made from one mutation (kept in ``mutation``)."""

    mutation: Mutation = field(repr=False, compare=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class AppStateChange(MutationEvent):
    """A mutation with no dedicated event: read ``mutation.index`` and ``mutation.action``."""

    collection: str
    operation: Operation
    index: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Mute(MutationEvent):
    """A chat was muted (until ``until_ms``; -1 forever) or unmuted."""

    chat: JID
    muted: bool
    until_ms: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Pin(MutationEvent):
    """A chat was pinned or unpinned."""

    chat: JID
    pinned: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Archive(MutationEvent):
    """A chat was archived or unarchived."""

    chat: JID
    archived: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class MarkChatAsRead(MutationEvent):
    """A chat was marked as read (``read``) or unread."""

    chat: JID
    read: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Star(MutationEvent):
    """A message was starred or unstarred. ``sender`` is ``None`` for one's own or 1:1."""

    chat: JID
    message_id: str
    from_me: bool
    sender: JID | None
    starred: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteForMe(MutationEvent):
    """A message was deleted on one's own devices."""

    chat: JID
    message_id: str
    from_me: bool
    sender: JID | None
    delete_media: bool
    message_timestamp: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ClearChat(MutationEvent):
    """A chat's messages were cleared (starred ones kept unless ``delete_starred``)."""

    chat: JID
    delete_starred: bool
    delete_media: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteChat(MutationEvent):
    """A chat was deleted."""

    chat: JID
    delete_media: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class Contact(MutationEvent):
    """A contact was saved or changed in the address book, or removed (``removed``)."""

    jid: JID
    full_name: str
    first_name: str
    lid: JID | None
    removed: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class PushName(MutationEvent):
    """The account's own push name was set (on this or another device)."""

    name: str


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelEdit(MutationEvent):
    """A label was created, changed or deleted."""

    label_id: str
    name: str
    color: int
    deleted: bool
    predefined_id: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelAssociation(MutationEvent):
    """A label was put on (``labeled``) or taken off a chat, or a message (``message_id``)."""

    label_id: str
    chat: JID
    message_id: str | None
    labeled: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class UnarchiveChatsSetting(MutationEvent):
    """The "keep chats archived" setting changed (``unarchive``: new messages unarchive)."""

    unarchive: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class AppStateSyncComplete(AppStateEvent):
    """A collection finished a full sync (or a recovery) at ``version``.

    ``timestamp`` is when it finished (ms).
    """

    collection: str
    version: int
    recovery: bool = False


class _Base(TypedDict):
    timestamp: int
    full_sync: bool
    mutation: Mutation


def _jid(text: str) -> JID:
    return JID.parse(text)


def _sender(m: Mutation) -> JID | None:
    raw = m.index[4] if len(m.index) > 4 else "0"
    return None if raw in ("", "0") else _jid(raw)


def _mute(m: Mutation, base: _Base) -> Mute:
    a = m.action.mute_action
    return Mute(chat=_jid(m.index[1]), muted=a.muted, until_ms=a.mute_end_timestamp, **base)


def _pin(m: Mutation, base: _Base) -> Pin:
    return Pin(chat=_jid(m.index[1]), pinned=m.action.pin_action.pinned, **base)


def _archive(m: Mutation, base: _Base) -> Archive:
    return Archive(chat=_jid(m.index[1]), archived=m.action.archive_chat_action.archived, **base)


def _mark_read(m: Mutation, base: _Base) -> MarkChatAsRead:
    read = m.action.mark_chat_as_read_action.read
    return MarkChatAsRead(chat=_jid(m.index[1]), read=read, **base)


def _star(m: Mutation, base: _Base) -> Star:
    return Star(
        chat=_jid(m.index[1]),
        message_id=m.index[2],
        from_me=m.index[3] == "1",
        sender=_sender(m),
        starred=m.action.star_action.starred,
        **base,
    )


def _delete_for_me(m: Mutation, base: _Base) -> DeleteForMe:
    a = m.action.delete_message_for_me_action
    return DeleteForMe(
        chat=_jid(m.index[1]),
        message_id=m.index[2],
        from_me=m.index[3] == "1",
        sender=_sender(m),
        delete_media=a.delete_media,
        message_timestamp=a.message_timestamp,
        **base,
    )


def _clear_chat(m: Mutation, base: _Base) -> ClearChat:
    flags = (*m.index[2:4], "0", "0")
    return ClearChat(
        chat=_jid(m.index[1]), delete_starred=flags[0] == "1", delete_media=flags[1] == "1", **base
    )


def _delete_chat(m: Mutation, base: _Base) -> DeleteChat:
    delete_media = len(m.index) > 2 and m.index[2] == "1"
    return DeleteChat(chat=_jid(m.index[1]), delete_media=delete_media, **base)


def _contact(m: Mutation, base: _Base) -> Contact:
    a = m.action.contact_action
    return Contact(
        jid=_jid(m.index[1]),
        full_name=a.full_name,
        first_name=a.first_name,
        lid=_jid(a.lid_jid) if a.lid_jid else None,
        removed=m.operation is Operation.REMOVE,
        **base,
    )


def _push_name(m: Mutation, base: _Base) -> PushName:
    return PushName(name=m.action.push_name_setting.name, **base)


def _label_edit(m: Mutation, base: _Base) -> LabelEdit:
    a = m.action.label_edit_action
    return LabelEdit(
        label_id=m.index[1],
        name=a.name,
        color=a.color,
        deleted=a.deleted,
        predefined_id=a.predefined_id if a.HasField("predefined_id") else None,
        **base,
    )


def _label_chat(m: Mutation, base: _Base) -> LabelAssociation:
    return LabelAssociation(
        label_id=m.index[1],
        chat=_jid(m.index[2]),
        message_id=None,
        labeled=m.action.label_association_action.labeled,
        **base,
    )


def _label_message(m: Mutation, base: _Base) -> LabelAssociation:
    return LabelAssociation(
        label_id=m.index[1],
        chat=_jid(m.index[2]),
        message_id=m.index[3],
        labeled=m.action.label_association_action.labeled,
        **base,
    )


def _unarchive_setting(m: Mutation, base: _Base) -> UnarchiveChatsSetting:
    return UnarchiveChatsSetting(unarchive=m.action.unarchive_chats_setting.unarchive_chats, **base)


# index name -> (minimum index length, the action field that must be present, builder)
_Builder = Callable[[Mutation, _Base], MutationEvent]
_HANDLERS: dict[str, tuple[int, str, _Builder]] = {
    ix.INDEX_MUTE: (2, "mute_action", _mute),
    ix.INDEX_PIN: (2, "pin_action", _pin),
    ix.INDEX_ARCHIVE: (2, "archive_chat_action", _archive),
    ix.INDEX_MARK_READ: (2, "mark_chat_as_read_action", _mark_read),
    ix.INDEX_STAR: (4, "star_action", _star),
    ix.INDEX_DELETE_FOR_ME: (4, "delete_message_for_me_action", _delete_for_me),
    ix.INDEX_CLEAR_CHAT: (2, "clear_chat_action", _clear_chat),
    ix.INDEX_DELETE_CHAT: (2, "delete_chat_action", _delete_chat),
    ix.INDEX_CONTACT: (2, "contact_action", _contact),
    ix.INDEX_PUSH_NAME: (1, "push_name_setting", _push_name),
    ix.INDEX_LABEL_EDIT: (2, "label_edit_action", _label_edit),
    ix.INDEX_LABEL_CHAT: (3, "label_association_action", _label_chat),
    ix.INDEX_LABEL_MESSAGE: (4, "label_association_action", _label_message),
    ix.INDEX_UNARCHIVE_CHATS: (1, "unarchive_chats_setting", _unarchive_setting),
}


def event_for(mutation: Mutation, *, full_sync: bool = False) -> MutationEvent:
    """The typed event for one verified mutation.

    A REMOVE is reported as :class:`AppStateChange`, except for contacts (``Contact`` with
    ``removed=True``). Unknown indexes, indexes too short for their kind, a missing action
    field and unparsable JIDs also fall back to :class:`AppStateChange`.
    """
    base: _Base = {
        "timestamp": mutation.timestamp,
        "full_sync": full_sync,
        "mutation": mutation,
    }
    handler = _HANDLERS.get(mutation.index[0])
    if handler is not None:
        min_len, field_name, build = handler
        is_remove = mutation.operation is Operation.REMOVE
        usable = len(mutation.index) >= min_len and (
            (is_remove and mutation.index[0] == ix.INDEX_CONTACT)
            or (not is_remove and mutation.action.HasField(field_name))
        )
        if usable:
            try:
                return build(mutation, base)
            except InvalidJID:
                pass
    return AppStateChange(
        collection=mutation.collection, operation=mutation.operation, index=mutation.index, **base
    )


APPSTATE_KIND = "appstate"
"""The durable inbox's kind for app-state events (committed with the collection version)."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def to_payload(event: AppStateEvent) -> bytes:
    """The bytes stored in the durable inbox for ``event`` (read back by :func:`from_payload`).

    A mutation event keeps its verified mutation (the typed event is rebuilt from it); an
    :class:`AppStateSyncComplete` its fields.
    """
    body: dict[str, Any] = {"ts": event.timestamp, "full": event.full_sync}
    if isinstance(event, AppStateSyncComplete):
        body.update(c=event.collection, v=event.version, r=event.recovery)
    elif isinstance(event, MutationEvent):
        m = event.mutation
        body.update(
            m=m.collection,
            op=int(m.operation),
            ix=list(m.index),
            a=_b64(m.action.SerializeToString()),
            av=m.api_version,
            pv=m.patch_version,
            im=_b64(m.index_mac),
            vm=_b64(m.value_mac),
            k=_b64(m.key_id),
        )
    else:
        raise TypeError(f"not a storable app-state event: {type(event).__name__}")
    return json.dumps(body, separators=(",", ":")).encode()


def from_payload(payload: bytes, seq: int) -> AppStateEvent:
    """The event of a stored inbox entry (``redelivered=True``); an inbox decoder.

    Raises :class:`~wamd.errors.MalformedNode` when the payload is unreadable.
    """
    try:
        body = json.loads(payload)
        full = bool(body["full"])
        if "c" in body:
            return AppStateSyncComplete(
                timestamp=int(body["ts"]),
                full_sync=full,
                collection=str(body["c"]),
                version=int(body["v"]),
                recovery=bool(body["r"]),
                seq=seq,
                redelivered=True,
            )
        mutation = Mutation(
            collection=str(body["m"]),
            operation=Operation(int(body["op"])),
            index=tuple(str(part) for part in body["ix"]),
            action=pb.SyncActionValue.FromString(_unb64(body["a"])),
            api_version=int(body["av"]),
            patch_version=int(body["pv"]),
            index_mac=_unb64(body["im"]),
            value_mac=_unb64(body["vm"]),
            key_id=_unb64(body["k"]),
        )
    except (ValueError, KeyError, TypeError, ProtobufDecodeError) as exc:
        raise MalformedNode(f"stored app-state event unreadable: {exc}") from exc
    event = event_for(mutation, full_sync=full)
    return replace(event, seq=seq, redelivered=True)
