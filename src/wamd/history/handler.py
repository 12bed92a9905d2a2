"""Handling a ``HistorySyncNotification``: fetch, parse, remember, report.

The messaging layer calls :func:`handle_notification` when a ``protocolMessage`` of type
``HISTORY_SYNC_NOTIFICATION`` arrives from one's own phone. The chunk's push names go to the
contact store and its LID <-> phone pairs to the LID map, in one transaction; the returned
:class:`~wamd.history.events.HistorySync` event carries the rest to the application.
"""

from __future__ import annotations

from wamd.history.events import HistorySync
from wamd.history.inflate import DEFAULT_LIMIT
from wamd.history.parse import (
    HistoryDownloader,
    HistoryNotification,
    HistorySyncData,
    fetch_history,
)
from wamd.proto import e2e_pb2
from wamd.store import Account, Transaction
from wamd.store.types import Contact


async def handle_notification(
    account: Account,
    note: e2e_pb2.HistorySyncNotification,
    download: HistoryDownloader,
    *,
    limit: int = DEFAULT_LIMIT,
) -> HistorySync:
    """Fetch and parse the announced chunk, store what it teaches, and return its event.

    Raises :class:`~wamd.errors.HistorySyncError` (bad or oversized blob) and whatever the
    downloader raises (:class:`~wamd.errors.MediaError`).
    """
    data = await fetch_history(note, download, limit=limit)
    async with account.transaction() as tx:
        await remember(tx, data)
    return HistorySync(notification=HistoryNotification.from_proto(note), data=data)


async def remember(tx: Transaction, data: HistorySyncData) -> None:
    """Store the chunk's push names (contacts) and LID <-> phone pairs in ``tx``."""
    contacts = [Contact(str(jid), push_name=name) for jid, name in data.push_names.items()]
    pairs = [(lid.user, pn.user) for lid, pn in data.lid_pn]
    if contacts:
        await tx.contacts.put_many(contacts)
    if pairs:
        await tx.lid_map.put_many(pairs)
