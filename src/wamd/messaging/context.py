"""What every part of the message path shares: the link to the server, the store account,
our identity, the Signal facade, the address book, the device cache and the options."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from wamd.binary import Node
from wamd.crypto import KeyPair
from wamd.errors import IQTimeout, NotConnected
from wamd.events import Event, Started, lend_slot
from wamd.messaging.addresses import AddressBook
from wamd.messaging.devices import DeviceCache
from wamd.signal import SignalCipher
from wamd.store import Account, DeviceCredentials
from wamd.types import JID

__all__ = ["Context", "Link", "MessagingOptions"]


class Link(Protocol):
    """The connection operations the message path uses (a :class:`~wamd.client.Client`
    adapter provides them)."""

    async def request(self, node: Node, *, timeout: float | None = None) -> Node:  # noqa: ASYNC109
        """Send a stanza and return its answer (iq result or ack)."""
        ...

    async def send_node(self, node: Node) -> None:
        """Send a stanza."""
        ...

    async def send_payload(self, payload: bytes) -> None:
        """Send a stanza already encoded as a frame payload (``encode_frame``'s output)."""
        ...

    async def send_expecting(self, node: Node) -> asyncio.Future[Node]:
        """Send a stanza with an id and return the future of its answer (the stanza is on
        the wire when this returns)."""
        ...

    def forget(self, request_id: str) -> None:
        """Stop waiting for the answer to ``request_id``."""
        ...

    async def dispatch(self, event: Event) -> Started:
        """Start the handlers of ``event``; returns what they became."""
        ...


@dataclass(frozen=True, slots=True)
class MessagingOptions:
    """Tunables of the message path.

    Attributes:
        send_timeout: seconds to wait for the server's ack of a sent message.
        max_inflight: stanzas being processed at once; when reached the reader stops reading
            (the server keeps what it has not delivered).
        batch_size: most stanzas of one chat decrypted and committed in one transaction.
        offline_batch_delay: seconds a chat worker waits for more of an offline backlog
            before committing what it has (amortizes the commit).
        receive_linger: the most seconds a live stanza waits for more of its chat before
            its batch is processed, while that chat's stanzas arrive less than this apart on
            average (a group commit: :mod:`wamd.messaging.batching`). The trade is latency
            for CPU: under load each stanza's receipt and handlers come up to this much
            later, and the batch's fixed cost (a store transaction, on SQLite an fsync; the
            session write; the worker) is shared by the stanzas that gathered meanwhile. A
            chat whose stanzas come further apart is never waited for (no timer, no added
            latency). A full batch goes at once. 0 turns the linger off.
        max_retries: retry receipts sent for one undecryptable message before giving up
            (then :class:`~wamd.messaging.events.UndecryptableMessage`).
        handler_failure: what happens to a :class:`~wamd.messaging.events.Message` whose
            handler raised: ``"retry"`` dispatches it again (up to ``handler_attempts``
            times, then surfaces it), ``"surface"`` emits
            :class:`~wamd.messaging.inbox.HandlerFailed` at once. Either way the inbox entry
            is finished only then: a crash before re-dispatches it.
        handler_attempts: dispatches of one message under ``"retry"``.
        handler_retry_delay: seconds before a failed message is dispatched again.
        prekey_min: the server's one-time prekey count below which more are uploaded.
        prekey_batch: how many prekeys a refill uploads (the first upload sends 812).
        seen_keep: received-message records kept for dedupe (older ones are pruned).
        outgoing_keep: sent plaintexts kept to answer retry receipts.
    """

    send_timeout: float = 60.0
    max_inflight: int = 256
    batch_size: int = 64
    offline_batch_delay: float = 0.01
    receive_linger: float = 0.003
    max_retries: int = 5
    handler_failure: str = "retry"
    handler_attempts: int = 3
    handler_retry_delay: float = 1.0
    prekey_min: int = 5
    prekey_batch: int = 50
    initial_prekeys: int = 812
    seen_keep: int = 20_000
    outgoing_keep: int = 5_000


@dataclass(slots=True)
class Context:
    """The shared state of one account's message path."""

    link: Link
    account: Account
    credentials: Callable[[], DeviceCredentials]
    cipher: SignalCipher
    book: AddressBook
    devices: DeviceCache
    options: MessagingOptions

    _own_cache: tuple[str | None, str | None, JID | None, JID | None] = field(
        default=(None, None, None, None), repr=False
    )

    def _own_forms(self) -> tuple[JID | None, JID | None]:
        creds = self.credentials()
        cached = self._own_cache
        if cached[0] != creds.jid or cached[1] != creds.lid or cached[2] is None:
            pn = JID.parse(creds.jid) if creds.jid else None
            lid = JID.parse(creds.lid) if creds.lid else None
            self._own_cache = cached = (creds.jid, creds.lid, pn, lid)
        return cached[2], cached[3]

    @property
    def own_pn(self) -> JID:
        """Our device JID, phone-number form."""
        pn = self._own_forms()[0]
        if pn is None:
            raise NotConnected("this device is not paired")
        return pn

    @property
    def own_lid(self) -> JID | None:
        """Our device JID, LID form (when known)."""
        return self._own_forms()[1]

    @property
    def own(self) -> list[JID]:
        """Our device JIDs (both forms)."""
        pn, lid = self._own_forms()
        if pn is None:
            raise NotConnected("this device is not paired")
        return [pn] if lid is None else [pn, lid]

    @property
    def identity(self) -> KeyPair:
        """Our Signal identity key pair."""
        return self.cipher.local.key_pair

    async def wait_answer(
        self,
        future: asyncio.Future[Node],
        request_id: str,
        timeout: float,  # noqa: ASYNC109
    ) -> Node:
        """Await an answer future (lending the handler slot), forgetting it on the way out."""
        try:
            async with lend_slot():
                try:
                    async with asyncio.timeout(timeout):
                        return await future
                except TimeoutError:
                    raise IQTimeout(f"no ack for {request_id} in {timeout:g} s") from None
        finally:
            self.link.forget(request_id)


Hook = Callable[[], Awaitable[None]]
