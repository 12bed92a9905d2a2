"""History sync for a connected client: turns the phone's notifications into events.

Register :meth:`HistoryClient.on_message` for :class:`wamd.messaging.events.Message`; a
``HISTORY_SYNC_NOTIFICATION`` from one of this account's devices is fetched (inline or from the
media servers), remembered (push names, LID pairs) and dispatched as a
:class:`~wamd.history.events.HistorySync` event. With an ``inbox`` (a :class:`wamd.Client`'s),
the event is an entry of the durable inbox (kind :data:`~wamd.history.events.HISTORY_KIND`),
committed with what the chunk teaches and with the done mark of the message that announced
it: a crash at any point neither loses the chunk nor hands it to the handlers as new twice.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from wamd.errors import WamdError
from wamd.events import Event
from wamd.history.events import HISTORY_KIND, HistorySync
from wamd.history.handler import handle_notification, remember
from wamd.history.inflate import DEFAULT_LIMIT
from wamd.history.parse import HistoryDownloader, HistoryNotification, fetch_history
from wamd.messaging.events import Message
from wamd.messaging.inbox import Inbox
from wamd.proto import e2e_pb2
from wamd.store import Account

log = logging.getLogger("wamd.history")


class Dispatcher(Protocol):
    """What :class:`HistoryClient` needs from the client: dispatching events."""

    async def dispatch(self, event: Event) -> None: ...


async def _no_download(note: e2e_pb2.HistorySyncNotification) -> bytes:
    raise WamdError("no media downloader configured: cannot fetch a history blob")


class HistoryClient:
    """History notifications of one client (see the module docs)."""

    def __init__(
        self,
        client: Dispatcher,
        account: Callable[[], Account],
        *,
        download: HistoryDownloader | None = None,
        limit: int = DEFAULT_LIMIT,
        inbox: Callable[[], Inbox] | None = None,
    ) -> None:
        self._client = client
        self._inbox = inbox
        self._account = account
        self._download = download or _no_download
        self._limit = limit

    @staticmethod
    def wants(event: Message) -> bool:
        """Filter for :meth:`on_message`: history notifications from one's own devices."""
        message = event.message
        return (
            event.from_me
            and message.HasField("protocol_message")
            and message.protocol_message.type == e2e_pb2.ProtocolMessage.HISTORY_SYNC_NOTIFICATION
        )

    async def on_message(self, event: Message) -> None:
        """Handle a history notification from one's own device; ignore everything else."""
        if not self.wants(event):
            return
        note = event.message.protocol_message.history_sync_notification
        if self._inbox is None or event.seq <= 0:
            try:
                history = await handle_notification(
                    self._account(), note, self._download, limit=self._limit
                )
            except WamdError as exc:
                log.warning("history chunk from %s not processed: %s", event.sender, exc)
                return
            await self._client.dispatch(history)
            return
        try:
            data = await fetch_history(note, self._download, limit=self._limit)
        except WamdError as exc:
            log.warning("history chunk from %s not processed: %s", event.sender, exc)
            return
        history = HistorySync(notification=HistoryNotification.from_proto(note), data=data)
        # the chunk's entry, what it teaches and the announcing message's done mark commit
        # together: a crash before leaves the message pending (fetched again), after it the
        # chunk's entry (redelivered)
        inbox = self._inbox()
        async with inbox.transaction(event) as tx:
            await remember(tx, data)
            seq = await tx.inbox.put(HISTORY_KIND, history.to_payload())
        await inbox.dispatch(replace(history, seq=seq))
