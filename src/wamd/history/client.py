"""History sync for a connected client: turns the phone's notifications into events.

Register :meth:`HistoryClient.on_message` for :class:`wamd.messaging.events.Message`; a
``HISTORY_SYNC_NOTIFICATION`` from one of this account's devices is fetched (inline or from the
media servers), remembered (push names, LID pairs) and dispatched as a
:class:`~wamd.history.events.HistorySync` event.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Protocol

from wamd.errors import WamdError
from wamd.events import Event
from wamd.history.handler import handle_notification
from wamd.history.inflate import DEFAULT_LIMIT
from wamd.history.parse import HistoryDownloader
from wamd.messaging.events import Message
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
    ) -> None:
        self._client = client
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
        protocol = event.message.protocol_message
        try:
            history = await handle_notification(
                self._account(),
                protocol.history_sync_notification,
                self._download,
                limit=self._limit,
            )
        except WamdError as exc:
            log.warning("history chunk from %s not processed: %s", event.sender, exc)
            return
        await self._client.dispatch(history)
