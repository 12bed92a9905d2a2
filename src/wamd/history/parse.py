"""History sync: from a ``HistorySyncNotification`` to typed conversations, messages and names.

A newly linked device receives history from the account's phone as protocol messages carrying
a ``HistorySyncNotification``: either the blob inline (``initial_hist_bootstrap_inline_payload``)
or a reference to an encrypted blob on the media servers ("WhatsApp History Keys"). The blob is
a zlib stream of a ``HistorySync`` protobuf. :func:`parse_history_sync` inflates (bounded) and
parses it; :func:`fetch_history` does the whole path with an injected downloader.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import IntEnum

from google.protobuf.message import DecodeError as ProtoDecodeError

from wamd.errors import HistorySyncError, InvalidJID
from wamd.history.inflate import DEFAULT_LIMIT, inflate
from wamd.proto import e2e_pb2, history_pb2, web_pb2
from wamd.types import JID

HistoryDownloader = Callable[[e2e_pb2.HistorySyncNotification], Awaitable[bytes]]
"""Downloads and decrypts the blob a notification names (media type "md-msg-hist")."""


class HistorySyncType(IntEnum):
    """What a history-sync chunk holds (``HistorySync.HistorySyncType``)."""

    INITIAL_BOOTSTRAP = 0
    INITIAL_STATUS_V3 = 1
    FULL = 2
    RECENT = 3
    PUSH_NAME = 4
    NON_BLOCKING_DATA = 5
    ON_DEMAND = 6
    NO_HISTORY = 7
    MESSAGE_ACCESS_STATUS = 8
    UNKNOWN = -1


@dataclass(frozen=True, slots=True)
class HistoryNotification:
    """The fields of a ``HistorySyncNotification`` that tell what arrives and how."""

    sync_type: HistorySyncType
    chunk_order: int
    progress: int | None
    original_message_id: str
    inline: bool
    direct_path: str
    file_length: int
    peer_data_request_session_id: str
    raw: e2e_pb2.HistorySyncNotification = field(repr=False)

    @classmethod
    def from_proto(cls, note: e2e_pb2.HistorySyncNotification) -> HistoryNotification:
        """Read a notification (from ``ProtocolMessage.history_sync_notification``)."""
        return cls(
            sync_type=_sync_type(note.sync_type),
            chunk_order=note.chunk_order,
            progress=note.progress if note.HasField("progress") else None,
            original_message_id=note.original_message_id,
            inline=note.HasField("initial_hist_bootstrap_inline_payload"),
            direct_path=note.direct_path,
            file_length=note.file_length,
            peer_data_request_session_id=note.peer_data_request_session_id,
            raw=note,
        )


@dataclass(frozen=True, slots=True)
class HistoryConversation:
    """One chat in a history chunk, with its messages (oldest first as the phone sent them)."""

    id: JID
    name: str
    unread_count: int
    archived: bool
    pinned: int
    mute_end_time: int
    last_message_timestamp: int
    marked_as_unread: bool
    ephemeral_expiration: int
    pn_jid: JID | None
    lid_jid: JID | None
    messages: list[web_pb2.WebMessageInfo] = field(repr=False)
    raw: history_pb2.Conversation = field(repr=False)


@dataclass(frozen=True, slots=True)
class HistorySyncData:
    """A parsed history chunk.

    ``push_names`` maps users to the names they chose; ``lid_pn`` lists LID <-> phone-number
    pairs learned from the chunk (mapping entries and conversations naming both). Entries
    with unparsable JIDs are left out and counted in ``skipped``.
    """

    sync_type: HistorySyncType
    chunk_order: int
    progress: int | None
    conversations: list[HistoryConversation]
    status_messages: list[web_pb2.WebMessageInfo] = field(repr=False)
    push_names: dict[JID, str]
    lid_pn: list[tuple[JID, JID]]
    skipped: int
    raw: history_pb2.HistorySync = field(repr=False)

    @property
    def message_count(self) -> int:
        """How many messages the chunk holds across its conversations."""
        return sum(len(c.messages) for c in self.conversations)


def _sync_type(raw: int) -> HistorySyncType:
    try:
        return HistorySyncType(raw)
    except ValueError:
        return HistorySyncType.UNKNOWN


def _jid_or_none(text: str) -> JID | None:
    if not text:
        return None
    try:
        return JID.parse(text)
    except InvalidJID:
        return None


def parse_history_sync(
    data: bytes, *, compressed: bool = True, limit: int = DEFAULT_LIMIT
) -> HistorySyncData:
    """Inflate (at most ``limit`` bytes) and parse a history-sync blob.

    Raises :class:`~wamd.errors.HistorySyncTooLarge` past the limit and
    :class:`~wamd.errors.HistorySyncError` for a corrupt stream or protobuf.
    """
    raw = inflate(data, limit) if compressed else data
    try:
        sync = history_pb2.HistorySync.FromString(raw)
    except ProtoDecodeError:
        raise HistorySyncError("history sync blob is not a valid HistorySync protobuf") from None
    return history_from_proto(sync)


def history_from_proto(sync: history_pb2.HistorySync) -> HistorySyncData:
    """Turn a parsed ``HistorySync`` into typed results."""
    skipped = 0
    conversations: list[HistoryConversation] = []
    lid_pn: list[tuple[JID, JID]] = []
    for conv in sync.conversations:
        chat = _jid_or_none(conv.id)
        if chat is None:
            skipped += 1
            continue
        pn, lid = _jid_or_none(conv.pn_jid), _jid_or_none(conv.lid_jid)
        if chat.is_lid and pn is not None:
            lid_pn.append((chat, pn))
        elif lid is not None and chat.is_pn:
            lid_pn.append((lid, chat))
        conversations.append(
            HistoryConversation(
                id=chat,
                name=conv.display_name or conv.name or conv.username,
                unread_count=conv.unread_count,
                archived=conv.archived,
                pinned=conv.pinned,
                mute_end_time=conv.mute_end_time,
                last_message_timestamp=conv.last_msg_timestamp,
                marked_as_unread=conv.marked_as_unread,
                ephemeral_expiration=conv.ephemeral_expiration,
                pn_jid=pn,
                lid_jid=lid,
                messages=[m.message for m in conv.messages if m.HasField("message")],
                raw=conv,
            )
        )
    push_names: dict[JID, str] = {}
    for entry in sync.pushnames:
        who = _jid_or_none(entry.id)
        if who is None:
            skipped += 1
        elif entry.pushname:
            push_names[who] = entry.pushname
    for mapping in sync.phone_number_to_lid_mappings:
        lid, pn = _jid_or_none(mapping.lid_jid), _jid_or_none(mapping.pn_jid)
        if lid is None or pn is None:
            skipped += 1
        else:
            lid_pn.append((lid, pn))
    return HistorySyncData(
        sync_type=_sync_type(sync.sync_type),
        chunk_order=sync.chunk_order,
        progress=sync.progress if sync.HasField("progress") else None,
        conversations=conversations,
        status_messages=list(sync.status_v3_messages),
        push_names=push_names,
        lid_pn=list(dict.fromkeys(lid_pn)),
        skipped=skipped,
        raw=sync,
    )


async def fetch_history(
    note: e2e_pb2.HistorySyncNotification,
    download: HistoryDownloader,
    *,
    limit: int = DEFAULT_LIMIT,
) -> HistorySyncData:
    """Get the chunk a notification announces: inline, or downloaded with ``download``."""
    if note.HasField("initial_hist_bootstrap_inline_payload"):
        blob = note.initial_hist_bootstrap_inline_payload
    else:
        if not note.direct_path:
            raise HistorySyncError("history sync notification has neither payload nor path")
        blob = await download(note)
    return parse_history_sync(blob, limit=limit)
