"""The typed event of a received history chunk."""

from __future__ import annotations

from dataclasses import dataclass, field

from wamd.events import Event
from wamd.history.parse import HistoryNotification, HistorySyncData


@dataclass(frozen=True, slots=True, kw_only=True)
class HistorySync(Event):
    """A history chunk from the account's phone (at pairing, or on demand).

    ``data`` holds the conversations with their messages (``WebMessageInfo``), push names and
    LID <-> phone pairs; ``notification`` says which chunk it is (type, order, progress).
    """

    notification: HistoryNotification
    data: HistorySyncData = field(repr=False)
