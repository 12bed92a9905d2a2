"""The typed event of a received history chunk, and its form in the durable inbox."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError as ProtobufDecodeError

from wamd.errors import MalformedNode
from wamd.events import Event
from wamd.history.parse import HistoryNotification, HistorySyncData, history_from_proto
from wamd.proto import e2e_pb2, history_pb2

HISTORY_KIND = "history"
"""The durable inbox's kind for history chunks (committed with the names and LID pairs they
teach, and with the done mark of the message that announced them)."""

_LENGTH = struct.Struct(">I")


@dataclass(frozen=True, slots=True, kw_only=True)
class HistorySync(Event):
    """A history chunk from the account's phone (at pairing, or on demand).

    ``data`` holds the conversations with their messages (``WebMessageInfo``), push names and
    LID <-> phone pairs; ``notification`` says which chunk it is (type, order, progress).
    ``seq`` is its durable inbox entry (0: not from the inbox); ``redelivered`` says it was
    dispatched before a crash or restart (finish it with ``client.inbox_transaction(evt)``
    for exactly-once effects).
    """

    notification: HistoryNotification
    data: HistorySyncData = field(repr=False)
    seq: int = field(default=0, compare=False)
    redelivered: bool = field(default=False, compare=False)

    def to_payload(self) -> bytes:
        """The bytes stored in the durable inbox: the notification and the inflated chunk."""
        note = self.notification.raw.SerializeToString()
        return _LENGTH.pack(len(note)) + note + self.data.raw.SerializeToString()

    @classmethod
    def from_payload(cls, payload: bytes, seq: int) -> HistorySync:
        """The event of a stored inbox entry (``redelivered=True``); an inbox decoder.

        Raises :class:`~wamd.errors.MalformedNode` when the payload is unreadable.
        """
        try:
            (size,) = _LENGTH.unpack_from(payload)
            end = _LENGTH.size + size
            if end > len(payload):
                raise ValueError("truncated")
            note = e2e_pb2.HistorySyncNotification.FromString(payload[_LENGTH.size : end])
            sync = history_pb2.HistorySync.FromString(payload[end:])
        except (struct.error, ValueError, ProtobufDecodeError) as exc:
            raise MalformedNode(f"stored history chunk unreadable: {exc}") from exc
        return cls(
            notification=HistoryNotification.from_proto(note),
            data=history_from_proto(sync),
            seq=seq,
            redelivered=True,
        )
