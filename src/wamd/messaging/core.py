"""The message path of one client: wiring the send and receive parts to the connection.

:class:`Messaging` registers the node handlers (``message``, ``receipt``, the ``encrypt`` and
``devices`` notifications) and a login hook (signed prekey in store, prekey count and upload,
re-dispatch of inbox entries left pending by a crash). :class:`~wamd.client.Client` creates
one and delegates to it (``client.send_message``, ``client.inbox_transaction``...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from wamd.binary import Node
from wamd.crypto import KeyPair
from wamd.errors import (
    AttributeInvalid,
    AttributeMissing,
    InvalidJID,
    IQError,
    IQTimeout,
    MalformedNode,
    NotConnected,
    StoreError,
    WamdError,
)
from wamd.events import Event, Started
from wamd.messaging.addresses import AddressBook, AddressLocks
from wamd.messaging.context import Context, MessagingOptions
from wamd.messaging.devices import DeviceCache
from wamd.messaging.events import Receipt, ReceiptType
from wamd.messaging.inbox import Decoder, Inbox, InboxEvent
from wamd.messaging.notices import StanzaKind, StanzaRecorder
from wamd.messaging.prekeys import PreKeyUpkeep
from wamd.messaging.receive import Receiver
from wamd.messaging.retry import RetryResponder
from wamd.messaging.send import SendResult, send_message
from wamd.messaging.stanzas import (
    IncomingReceipt,
    ack,
    parse_prekey_count,
    parse_receipt,
    parse_retry_request,
)
from wamd.proto import e2e_pb2
from wamd.signal import SignalCipher
from wamd.store import Transaction
from wamd.types import JID, SERVER_JID

if TYPE_CHECKING:
    from wamd.client import Client

__all__ = ["Messaging"]

log = logging.getLogger("wamd.messaging")

MAX_RETRY_ANSWERS = 32
"""Retry receipts answered at once; the reader waits for a free slot beyond that."""


class _ClientLink:
    """The :class:`~wamd.messaging.context.Link` over a :class:`~wamd.client.Client`."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._conn = client.connection

    async def request(self, node: Node, *, timeout: float | None = None) -> Node:  # noqa: ASYNC109
        return await self._client.request(node, timeout=timeout)

    async def send_node(self, node: Node) -> None:
        await self._client.send_node(node)

    def send_payload(self, payload: bytes) -> Coroutine[Any, Any, None]:
        # the manager's coroutine itself: no frame of our own on the per-receipt path
        return self._conn.send_payload(payload)

    async def send_expecting(self, node: Node) -> asyncio.Future[Node]:
        conn = self._client.connection
        request_id = node.attrs.get("id")
        if not isinstance(request_id, str) or not request_id:
            raise ValueError("a stanza awaiting an answer needs an id")
        future = conn.pending.expect(request_id)
        try:
            await conn.send_node(node)
        except BaseException:
            conn.pending.forget(request_id)
            raise
        return future

    def forget(self, request_id: str) -> None:
        self._client.connection.pending.forget(request_id)

    def dispatch(self, event: Event) -> Coroutine[Any, Any, Started]:
        # the client's coroutine itself: no frame of our own per received message
        return self._client.dispatch_received(event)


class Messaging:
    """Sending and receiving for one client (see the module docstring)."""

    def __init__(self, client: Client, options: MessagingOptions | None = None) -> None:
        self._client = client
        self.options = options or MessagingOptions()
        self._link = _ClientLink(client)
        self._locks = AddressLocks()
        self._ctx: Context | None = None
        self._receiver: Receiver | None = None
        self._active = False
        self._inbox: Inbox | None = None
        self._recorder: StanzaRecorder | None = None
        self._kinds: dict[str, StanzaKind] = {}
        self._decoders: dict[str, Decoder] = {}
        self.register_kind(StanzaKind(RECEIPT_KIND, self._parse_receipt))
        self._retry: RetryResponder | None = None
        self._prekeys: PreKeyUpkeep | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._retry_slots = asyncio.Semaphore(MAX_RETRY_ANSWERS)
        self._refill_task: asyncio.Task[None] | None = None
        self._refill_again = False
        client.add_node_handler("message", self._on_message)
        client.add_node_handler("receipt", self._on_receipt)
        client.add_node_handler("notification", self._on_notification, _is_ours)
        client.add_login_hook(self._after_login)

    def __repr__(self) -> str:
        return f"Messaging(ready={self._ctx is not None})"

    # --- the shared state --------------------------------------------------------------------

    def context(self) -> Context:
        """The message path's state for the current account (built on first use)."""
        device = self._client.device
        if not device.loaded:
            raise NotConnected("the device is not loaded: connect first")
        account = device.account
        ctx = self._ctx
        if ctx is not None and ctx.account is account:
            return ctx
        creds = device.credentials
        if creds.jid is None:
            raise NotConnected("this device is not paired")
        cipher = SignalCipher(
            KeyPair.from_private(creds.identity_key.private), creds.registration_id
        )
        book = AddressBook(account, self._locks, moved=cipher.forget)
        ctx = Context(
            link=self._link,
            account=account,
            credentials=lambda: device.credentials,
            cipher=cipher,
            book=book,
            devices=DeviceCache(self._link.request, book),
            options=self.options,
        )
        self._ctx = ctx
        self._inbox = Inbox(ctx)
        for name, decoder in self._decoders.items():
            self._inbox.register(name, decoder)
        self._recorder = StanzaRecorder(ctx, self._inbox)
        self._receiver = Receiver(ctx, self._inbox)
        self._receiver.active = self._active
        self._retry = RetryResponder(ctx)
        self._prekeys = PreKeyUpkeep(ctx)
        return ctx

    def set_active(self, active: bool) -> None:
        """Say in delivery receipts that we are active (after announcing ourselves available,
        as the official clients do) or not (``type="inactive"``, the default)."""
        self._active = active
        if self._receiver is not None:
            self._receiver.active = active

    @property
    def receiver(self) -> Receiver:
        """The receive path (after the first login)."""
        self.context()
        assert self._receiver is not None
        return self._receiver

    @property
    def inbox(self) -> Inbox:
        """The inbox dispatcher (after the first login)."""
        self.context()
        assert self._inbox is not None
        return self._inbox

    @property
    def recorder(self) -> StanzaRecorder:
        """Stores receipts and stateful notifications before their ack (after the first
        login)."""
        self.context()
        assert self._recorder is not None
        return self._recorder

    def register_kind(self, kind: StanzaKind) -> None:
        """Make ``kind``'s inbox entries readable (register before the first login); its
        stanzas are stored through :meth:`record`."""
        self._kinds[kind.name] = kind
        self.register_decoder(kind.name, kind.decode)

    def register_decoder(self, kind: str, decoder: Decoder) -> None:
        """Make inbox entries of ``kind`` readable when they are redelivered after a restart
        (register before the first login): for parts that put their own entries into the
        inbox in their commits (app state, history), not stanzas."""
        self._decoders[kind] = decoder
        if self._inbox is not None:
            self._inbox.register(kind, decoder)

    async def record(self, node: Node, kind: StanzaKind) -> None:
        """Node handler side: store ``node`` as an inbox entry of ``kind`` (with its effect),
        ack it after the commit, then dispatch its event (see :mod:`wamd.messaging.notices`).
        """
        try:
            recorder = self.recorder
        except NotConnected:
            return
        await recorder.submit(node, kind)

    @property
    def prekeys(self) -> PreKeyUpkeep:
        """Prekey upkeep (after the first login)."""
        self.context()
        assert self._prekeys is not None
        return self._prekeys

    @property
    def retry(self) -> RetryResponder:
        """The retry-receipt responder (after the first login)."""
        self.context()
        assert self._retry is not None
        return self._retry

    # --- public operations -------------------------------------------------------------------

    async def send_message(
        self, to: JID, message: e2e_pb2.Message, *, id: str | None = None
    ) -> SendResult:
        """Encrypt ``message`` for every device of ``to`` and of this account; see
        :func:`wamd.messaging.send.send_message`."""
        return await send_message(self.context(), to, message, message_id=id)

    @contextlib.asynccontextmanager
    async def transaction(self, event: InboxEvent) -> AsyncIterator[Transaction]:
        """A store transaction that also finishes ``event``'s inbox entry (exactly once)."""
        async with self.inbox.transaction(event) as tx:
            yield tx

    async def idle(self) -> None:
        """Wait until every received stanza is processed and every handler has returned."""
        if self._receiver is not None:
            await self._receiver.idle()
        if self._recorder is not None:
            await self._recorder.idle()
        if self._inbox is not None:
            await self._inbox.wait_idle()

    async def stop_receiving(self) -> None:
        """Stop the receive workers (messages, receipts, notifications); what they held stays
        unacknowledged, so the server delivers it again. A later login starts new ones."""
        if self._receiver is not None:
            await self._receiver.close()
        if self._recorder is not None:
            await self._recorder.close()

    async def aclose(self) -> None:
        """Shut the message path down before the store closes (:meth:`Client.close`).

        The receive workers (messages, receipts, notifications) stop first (their stanzas
        stay unacknowledged: the server delivers them again), then the event handlers are
        cancelled (their entries stay pending), then the done marks of every entry whose
        handlers finished are written, so that a handled message is not dispatched again
        after a clean restart.
        """
        await self.stop_receiving()
        await self._client.dispatcher.aclose(cancel=True)
        if self._inbox is not None:
            await self._inbox.close()

    # --- node handlers -----------------------------------------------------------------------

    def _on_message(self, node: Node) -> Coroutine[Any, Any, None]:
        # the reader's per-message path: the receiver's own coroutine, no frame of ours
        try:
            receiver = self.receiver
        except NotConnected:
            return _nothing()
        return receiver.on_message(node)

    async def _on_receipt(self, node: Node) -> None:
        try:
            ctx = self.context()
        except NotConnected:
            return
        if node.attrs.get("type") != ReceiptType.RETRY:
            # stored in the inbox, acked after the commit, dispatched from there
            await self.recorder.submit(node, self._kinds[RECEIPT_KIND])
            return
        try:
            receipt = parse_receipt(node, ctx.own)
        except (MalformedNode, AttributeMissing, AttributeInvalid, InvalidJID) as exc:
            log.warning("unreadable receipt: %s", exc)
            await self._send(ack(node, error=487))
            return
        # A retry receipt is a request, not state: answered (in the background, it may
        # fetch keys; at most MAX_RETRY_ANSWERS at once, beyond that the reader waits),
        # then acked; a crash before the ack only means the server asks again.
        await self._retry_slots.acquire()
        task = self._spawn(self._answer_retry(node, receipt, _receipt_event(receipt, node)))
        task.add_done_callback(lambda _: self._retry_slots.release())

    def _parse_receipt(self, node: Node) -> Receipt:
        return _receipt_event(parse_receipt(node, self.context().own), node)

    async def _answer_retry(self, node: Node, receipt: IncomingReceipt, event: Receipt) -> None:
        try:
            await self._link.dispatch(event)
            request = parse_retry_request(node)
            await self.retry.handle(node, receipt, request)
        except (MalformedNode, AttributeMissing, AttributeInvalid, InvalidJID) as exc:
            log.warning("unreadable retry receipt: %s", exc)
        except WamdError as exc:  # IQError, IQTimeout, StoreError, bad keys...
            log.warning("could not answer a retry receipt: %s", exc)
        await self._send(ack(node))

    async def _on_notification(self, node: Node) -> None:
        try:
            ctx = self.context()
        except NotConnected:
            return
        kind = node.attrs.get("type")
        if kind == "devices":
            ctx.devices.apply_notification(node)
        elif kind == "encrypt":
            origin = node.attrs.get("from")
            if node.child("count") is not None and origin == SERVER_JID:
                try:
                    count = parse_prekey_count(node)
                except (MalformedNode, AttributeMissing, AttributeInvalid):
                    count = 0
                self._request_refill(count)
            elif node.child("identity") is not None and isinstance(origin, JID):
                ctx.devices.forget(origin)
        await self._send(ack(node))

    def _request_refill(self, count: int) -> None:
        """Refill prekeys after a low-count notification. Notifications arriving while a
        refill runs are coalesced into one more check that asks the server its count (a
        repeated notification must not upload a batch each: the store would grow with
        every one)."""
        task = self._refill_task
        if task is not None and not task.done():
            self._refill_again = True
            return
        self._refill_again = False
        self._refill_task = asyncio.create_task(self._refill(count))
        self._background.add(self._refill_task)
        self._refill_task.add_done_callback(self._background.discard)

    async def _refill(self, count: int | None) -> None:
        try:
            while True:
                await self.prekeys.check(count)
                if not self._refill_again:
                    return
                self._refill_again = False
                count = None  # ask the server again: it knows what it has after our upload
        except (
            IQError,
            IQTimeout,
            StoreError,
            MalformedNode,
            AttributeMissing,
            AttributeInvalid,
            NotConnected,
        ) as exc:
            log.warning("prekey refill failed: %s", exc)

    async def _after_login(self) -> None:
        ctx = self.context()
        assert self._prekeys is not None
        assert self._inbox is not None
        await self._prekeys.ensure_signed_prekey()
        try:
            await self._prekeys.check()
        except (IQError, IQTimeout, MalformedNode, AttributeMissing, AttributeInvalid) as exc:
            log.warning("prekey check failed: %s", exc)
        redelivered = await self._inbox.redeliver()
        if redelivered:
            log.info("re-dispatched %d inbox entries left pending (%s)", redelivered, ctx.own_pn)

    async def _send(self, node: Node) -> None:
        with contextlib.suppress(NotConnected):
            await self._link.send_node(node)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task


RECEIPT_KIND = "receipt"
"""The inbox kind of receipts."""


def _receipt_event(receipt: IncomingReceipt, node: Node) -> Receipt:
    return Receipt(
        receipt.chat,
        receipt.sender,
        receipt.ids,
        receipt.type,
        _time(receipt.timestamp),
        receipt.from_me,
        receipt.is_group,
        node,
    )


async def _nothing() -> None:
    return None


def _is_ours(node: Node) -> bool:
    return node.attrs.get("type") in ("encrypt", "devices")


def _time(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC) if seconds else datetime.now(UTC)
