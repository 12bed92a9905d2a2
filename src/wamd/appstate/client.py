"""Wiring the app-state engine into a connected client.

:class:`AppStateClient` owns an :class:`~wamd.appstate.engine.AppStateEngine` for the client's
account and:

- handles ``<notification type="server_sync">`` (another device changed a collection): acks
  it, syncs the named collections in a background task and dispatches the events;
- after each login, syncs every collection in the background (the initial full sync of a new
  device, or catching up after being offline);
- offers the user actions (:meth:`mute`, :meth:`pin`, ...), which push a patch and dispatch the
  resulting events.

It talks to the client through a small protocol (:class:`ClientLike`: the subset of
:class:`wamd.Client` it needs), so it stays testable without a socket.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, Protocol

from wamd.appstate import actions
from wamd.appstate.encode import PatchInfo
from wamd.appstate.engine import (
    AppStateEngine,
    DownloadBlob,
    RequestKeys,
    RequestRecovery,
)
from wamd.appstate.events import AppStateEvent
from wamd.appstate.keyshare import (
    answer_request_from_store,
    key_request_message,
    recovery_request_message,
    store_key_share,
)
from wamd.appstate.recovery import is_recovery_response, recoveries_in
from wamd.appstate.server import collections_changed
from wamd.appstate.state import ALL_COLLECTIONS
from wamd.binary import AttrValue, Node
from wamd.errors import AppStateMalformed, MediaError, WamdError
from wamd.events import Event
from wamd.messaging.events import Message
from wamd.messaging.inbox import Inbox
from wamd.proto import appstate_pb2 as pb
from wamd.proto import e2e_pb2
from wamd.store import Account

log = logging.getLogger("wamd.appstate")


class ClientLike(Protocol):
    """What :class:`AppStateClient` needs from the client."""

    async def request(self, node: Node, *, timeout: float | None = None) -> Node: ...  # noqa: ASYNC109
    async def send_node(self, node: Node) -> None: ...
    async def dispatch(self, event: Event) -> None: ...
    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Any: ...
    def add_node_handler(
        self,
        tag: str,
        handler: Callable[[Node], Awaitable[None]],
        match: Callable[[Node], bool] | None = None,
    ) -> None: ...
    def add_login_hook(self, hook: Callable[[], Awaitable[None]]) -> None: ...


async def _no_download(ref: pb.ExternalBlobReference) -> bytes:
    raise MediaError("no media downloader configured: cannot fetch an app-state blob")


SendToOwn = Callable[[e2e_pb2.Message], Awaitable[object]]
"""Sends a protocol message to this account's other devices (peer message)."""


_HANDLED = frozenset(
    {
        e2e_pb2.ProtocolMessage.APP_STATE_SYNC_KEY_SHARE,
        e2e_pb2.ProtocolMessage.APP_STATE_SYNC_KEY_REQUEST,
        e2e_pb2.ProtocolMessage.PEER_DATA_OPERATION_REQUEST_RESPONSE_MESSAGE,
    }
)


def _is_server_sync(node: Node) -> bool:
    return node.attrs.get("type") == "server_sync"


class AppStateClient:
    """App state for one client (see the module docs)."""

    def __init__(
        self,
        client: ClientLike,
        account: Callable[[], Account],
        *,
        download: DownloadBlob | None = None,
        request_keys: RequestKeys | None = None,
        request_recovery: RequestRecovery | None = None,
        send_to_own: SendToOwn | None = None,
        sync_on_login: bool = True,
        inbox: Callable[[], Inbox] | None = None,
    ) -> None:
        self._client = client
        self._inbox = inbox
        self._account = account
        self._download = download or _no_download
        self._send_to_own = send_to_own
        if send_to_own is not None:
            request_keys = request_keys or self._ask_for_keys
            request_recovery = request_recovery or self._ask_for_recovery
        self._request_keys = request_keys
        self._request_recovery = request_recovery
        self._engine: AppStateEngine | None = None
        self._dirty: set[str] = set()
        self._syncing: Any = None
        client.add_node_handler("notification", self._on_server_sync, _is_server_sync)
        if sync_on_login:
            client.add_login_hook(self._after_login)

    async def _ask_for_keys(self, key_ids: list[bytes]) -> None:
        assert self._send_to_own is not None
        await self._send_to_own(key_request_message(key_ids))

    async def _ask_for_recovery(self, collection: str) -> None:
        assert self._send_to_own is not None
        await self._send_to_own(recovery_request_message(collection, int(time.time())))

    @property
    def engine(self) -> AppStateEngine:
        """The engine (created on first use, once the account is loaded)."""
        if self._engine is None:
            self._engine = AppStateEngine(
                self._account(),
                self._send_iq,
                self._download,
                request_keys=self._request_keys,
                request_recovery=self._request_recovery,
                durable=self._inbox is not None,
            )
        return self._engine

    async def _send_iq(self, iq: Node) -> Node:
        return await self._client.request(iq)

    async def _run(self, work: Awaitable[list[AppStateEvent]]) -> None:
        """Await an engine call, then dispatch its events: through the durable inbox (every
        event the engine committed, even when the call failed after some commits), or
        directly when there is no inbox."""
        if self._inbox is None:
            for event in await work:
                await self._client.dispatch(event)
            return
        cancelled = False
        try:
            await work
        except asyncio.CancelledError:
            cancelled = True  # the entries stay pending: the next login redelivers them
            raise
        finally:
            events = self.engine.take_committed()
            if events and not cancelled:
                inbox = self._inbox()
                for event in events:
                    await inbox.dispatch(event)

    async def _on_server_sync(self, node: Node) -> None:
        attrs: dict[str, AttrValue] = {"class": "notification", "type": "server_sync"}
        for name in ("id", "from"):
            value = node.attrs.get(name)
            if value is not None:
                attrs["id" if name == "id" else "to"] = value
        known = {str(c) for c in ALL_COLLECTIONS}
        # Only collections that exist are synced (a name is a store key and an IQ to send),
        # and notifications arriving while a sync runs join it instead of starting more.
        self._dirty.update(n for n in collections_changed(node) if n in known)
        running = self._syncing
        if self._dirty and not (isinstance(running, asyncio.Future) and not running.done()):
            self._syncing = self._client.spawn(self._sync_dirty())
        await self._client.send_node(Node("ack", attrs))

    async def _sync_dirty(self) -> None:
        while self._dirty:
            names = [str(c) for c in ALL_COLLECTIONS if str(c) in self._dirty]
            self._dirty.clear()
            await self._sync_and_dispatch(names)

    async def _after_login(self) -> None:
        self._client.spawn(self._sync_and_dispatch(list(map(str, ALL_COLLECTIONS))))

    async def _sync_and_dispatch(self, names: list[str]) -> None:
        try:
            await self._run(self.engine.sync(names))
        except WamdError as exc:
            log.warning("app state sync of %s failed: %s", ", ".join(names), exc)

    @staticmethod
    def wants(event: Message) -> bool:
        """Filter for :meth:`on_message`: app-state protocol messages from one's own devices
        (other messages then cost no handler task)."""
        if not event.from_me or not event.message.HasField("protocol_message"):
            return False
        return event.message.protocol_message.type in _HANDLED

    async def on_message(self, event: Message) -> None:
        """Handle app-state key messages from one's own devices (register for ``Message``).

        A key share (from one of this account's devices only) is stored and the collections
        waiting for it are synced. The primary device's answer to a recovery request replaces
        the collection (:meth:`~wamd.appstate.engine.AppStateEngine.apply_recovery`). A key
        request is answered with the keys held (when
        ``send_to_own`` was given, e.g. :func:`wamd.appstate.peer.send_to_own_devices`).
        """
        if not event.from_me or not event.message.HasField("protocol_message"):
            return
        protocol = event.message.protocol_message
        if is_recovery_response(event.message):
            await self._recovered(event)
        elif protocol.type == e2e_pb2.ProtocolMessage.APP_STATE_SYNC_KEY_SHARE:
            try:
                stored = await store_key_share(self._account(), protocol.app_state_sync_key_share)
            except AppStateMalformed as exc:
                log.warning(
                    "ignoring a malformed app-state key share from %s: %s", event.sender, exc
                )
                return
            log.info("stored %d app-state sync key(s) from %s", len(stored), event.sender)
            if stored:
                # the key is stored (the message is handled); the resync runs on its own
                self._client.spawn(self._retry_blocked())
        elif protocol.type == e2e_pb2.ProtocolMessage.APP_STATE_SYNC_KEY_REQUEST:
            if self._send_to_own is None:
                log.info("app-state key request from %s: no way to answer it", event.sender)
                return
            request = protocol.app_state_sync_key_request
            answer = await answer_request_from_store(self._account(), request)
            if answer.protocol_message.app_state_sync_key_share.keys:
                await self._send_to_own(answer)

    async def _recovered(self, event: Message) -> None:
        try:
            recoveries = recoveries_in(event.message)
        except AppStateMalformed as exc:
            log.warning("ignoring a malformed app-state recovery from %s: %s", event.sender, exc)
            return
        for recovery in recoveries:
            try:
                await self._run(self.engine.apply_recovery(recovery))
            except WamdError as exc:
                log.warning(
                    "app-state recovery of %r from %s not applied: %s",
                    recovery.collection_name,
                    event.sender,
                    exc,
                )
                continue

    async def _retry_blocked(self) -> None:
        try:
            await self.keys_arrived()
        except WamdError as exc:
            log.warning("app state sync after a key share failed: %s", exc)

    async def keys_arrived(self) -> None:
        """Call when sync keys were stored (a key share): retry the blocked collections."""
        await self._run(self.engine.keys_arrived())

    async def sync(self, *, full: bool = False) -> None:
        """Sync every collection now and dispatch the events."""
        await self._run(self.engine.sync(full=full))

    async def push(self, info: PatchInfo) -> None:
        """Send one change (built with :mod:`wamd.appstate.actions`) and dispatch its events.

        Raises :class:`~wamd.errors.AppStateError` (no key yet, server refusal...).
        """
        await self._run(self.engine.push(info))

    async def mute(
        self, chat: actions.JIDLike, muted: bool = True, *, until_ms: int | None = None
    ) -> None:
        """Mute ``chat`` (until ``until_ms``, ms since the epoch; ``None``: forever) or unmute."""
        await self.push(actions.mute(chat, muted, until_ms=until_ms))

    async def pin(self, chat: actions.JIDLike, pinned: bool = True) -> None:
        """Pin or unpin ``chat``."""
        await self.push(actions.pin(chat, pinned))

    async def archive(self, chat: actions.JIDLike, archived: bool = True) -> None:
        """Archive (and unpin) or unarchive ``chat``."""
        await self.push(actions.archive(chat, archived))

    async def mark_read(self, chat: actions.JIDLike, read: bool = True) -> None:
        """Mark ``chat`` as read or unread."""
        await self.push(actions.mark_read(chat, read))

    async def star(self, message: actions.MessageRef, starred: bool = True) -> None:
        """Star or unstar a message."""
        await self.push(actions.star(message, starred))

    async def delete_for_me(
        self, message: actions.MessageRef, *, delete_media: bool = False
    ) -> None:
        """Delete a message on this account's devices only."""
        await self.push(actions.delete_for_me(message, delete_media=delete_media))

    async def clear_chat(
        self,
        chat: actions.JIDLike,
        *,
        last_messages: Sequence[actions.MessageRef] = (),
        keep_starred: bool = False,
    ) -> None:
        """Clear ``chat``'s messages (up to ``last_messages``) on this account's devices."""
        await self.push(
            actions.clear_chat(chat, last_messages=last_messages, keep_starred=keep_starred)
        )

    async def delete_chat(
        self, chat: actions.JIDLike, *, last_messages: Sequence[actions.MessageRef] = ()
    ) -> None:
        """Delete ``chat`` from the chat list of this account's devices."""
        await self.push(actions.delete_chat(chat, last_messages=last_messages))

    async def edit_label(
        self, label_id: str, name: str, *, color: int = 0, deleted: bool = False
    ) -> None:
        """Create, rename, recolour or (``deleted=True``) delete a label."""
        await self.push(actions.label_edit(label_id, name, color=color, deleted=deleted))

    async def label_chat(self, chat: actions.JIDLike, label_id: str, labeled: bool = True) -> None:
        """Put label ``label_id`` on ``chat`` (or take it off)."""
        await self.push(actions.label_chat(chat, label_id, labeled))

    async def label_message(
        self, chat: actions.JIDLike, label_id: str, message_id: str, labeled: bool = True
    ) -> None:
        """Put label ``label_id`` on a message of ``chat`` (or take it off)."""
        await self.push(actions.label_message(chat, label_id, message_id, labeled))

    async def save_contact(
        self,
        jid: actions.JIDLike,
        *,
        full_name: str | None = None,
        first_name: str | None = None,
    ) -> None:
        """Add or rename ``jid`` in the address book."""
        await self.push(actions.contact(jid, full_name=full_name, first_name=first_name))

    async def remove_contact(self, jid: actions.JIDLike) -> None:
        """Remove ``jid`` from the address book."""
        await self.push(actions.remove_contact(jid))

    async def set_push_name(self, name: str) -> None:
        """Set the account's push name (the name others see) on every device."""
        await self.push(actions.push_name(name))
