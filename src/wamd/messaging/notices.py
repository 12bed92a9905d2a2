"""Receipts and stateful notifications through the durable inbox: stored, then acked.

The rule of the message path holds for every stanza whose event or state change must survive
a crash (docs/messages.md, "What is acked when"): for each ``<receipt>`` or
``<notification>`` of a registered :class:`StanzaKind`:

1. the reader parses it (unreadable: ``<ack error=487>``) and queues it; stanzas are handled
   one batch after another, in arrival order (at most ``max_inflight`` waiting, then the reader
   stops reading);
2. one store transaction per batch: a dedupe row per stanza (its tag, type, sender, participant
   and id: a stanza the server sends again after a crash is only acked), an inbox entry of the
   kind's name holding the stanza itself, and the kind's ``effect`` (the state change, e.g. a
   group's sender key marked for rotation) in that same transaction;
3. only after the commit: the ``<ack>`` of each stanza;
4. the entries go to the handlers like messages (:class:`~wamd.messaging.inbox.Inbox`):
   exactly once with :meth:`~wamd.messaging.inbox.Inbox.transaction`, again after a crash
   (``redelivered=True``, read back from the stored stanza by the kind's ``parse``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from wamd.binary import Node, decode_node, encode_node
from wamd.errors import MalformedNode, NotConnected, WamdError
from wamd.events import Event
from wamd.messaging.context import Context
from wamd.messaging.inbox import Inbox
from wamd.messaging.stanzas import ack, checked_timestamp
from wamd.store import SeenMessage, Transaction

__all__ = ["Effect", "Parse", "StanzaKind", "StanzaRecorder", "dedupe_key"]

log = logging.getLogger("wamd.messaging")

NACK_PARSING_ERROR = 487

Parse = Callable[[Node], Event | None]
"""Reads a stanza into its event (a frozen dataclass with ``seq`` and ``redelivered``
fields); ``None`` when it carries nothing to dispatch. Raises
:class:`~wamd.errors.MalformedNode` when it is unreadable."""

Effect = Callable[[Transaction, Any], Awaitable[None]]
"""Writes the event's state change in the transaction of its inbox entry."""


@dataclass(frozen=True, slots=True)
class StanzaKind:
    """A kind of stanza recorded in the inbox before it is acked.

    ``name`` is the inbox entry's kind; ``parse`` reads the stanza (on arrival and when a
    pending entry is redelivered after a restart); ``effect``, when given, runs in the commit.
    """

    name: str
    parse: Parse
    effect: Effect | None = None

    def decode(self, payload: bytes, seq: int) -> Event | None:
        """The event of a stored stanza (an inbox :data:`~wamd.messaging.inbox.Decoder`)."""
        try:
            node = decode_node(payload)
        except WamdError as exc:
            raise MalformedNode(f"stored {self.name} stanza unreadable: {exc}") from exc
        event = _parse(self, node)
        return None if event is None else _entry(event, seq, redelivered=True)


def dedupe_key(node: Node) -> SeenMessage:
    """The dedupe record of a stanza: a redelivery carries the same tag, type, sender,
    participant and id (the ``chat`` column is ``tag/type/from``, never a real chat JID)."""
    return SeenMessage(
        f"{node.tag}/{node.attrs.get('type', '')}/{node.attrs.get('from', '')}",
        str(node.attrs.get("participant", "")),
        str(node.attrs.get("id", "")),
    )


@dataclass(slots=True)
class _Item:
    node: Node
    kind: StanzaKind
    event: Event | None = None
    seq: int = 0


class StanzaRecorder:
    """Stores, acks, then dispatches stanzas of registered kinds (the module docstring)."""

    def __init__(self, ctx: Context, inbox: Inbox) -> None:
        self._ctx = ctx
        self._inbox = inbox
        self._slots = asyncio.Semaphore(ctx.options.max_inflight)
        self._queue: list[_Item] = []
        self._worker: asyncio.Task[None] | None = None
        self.recorded = 0

    def __repr__(self) -> str:
        return f"StanzaRecorder(queued={len(self._queue)}, recorded={self.recorded})"

    async def submit(self, node: Node, kind: StanzaKind) -> None:
        """Queue ``node`` (reader side: parses, then only queues)."""
        try:
            event = _parse(kind, node)
        except MalformedNode as exc:
            log.warning("unreadable %s stanza: %s", kind.name, exc)
            await self._send(ack(node, error=NACK_PARSING_ERROR))
            return
        if event is None or not node.attrs.get("id"):
            await self._send(ack(node))  # nothing to record
            return
        await self._slots.acquire()
        self._queue.append(_Item(node, kind, event))
        if self._worker is None:
            self._worker = asyncio.ensure_future(self._work())

    async def idle(self) -> None:
        """Wait until every queued stanza has been recorded and acked."""
        while self._worker is not None:
            await asyncio.gather(self._worker, return_exceptions=True)

    async def close(self) -> None:
        """Stop (queued stanzas stay unacknowledged: the server sends them again)."""
        worker = self._worker
        if worker is not None:
            worker.cancel()
            await asyncio.gather(worker, return_exceptions=True)

    async def _work(self) -> None:
        try:
            while self._queue:
                size = self._ctx.options.batch_size
                items, self._queue = self._queue[:size], self._queue[size:]
                try:
                    await self._process(items)
                except (NotConnected, asyncio.CancelledError):
                    raise
                except Exception:
                    log.exception(
                        "recording %d stanza(s) failed; the server will deliver them again",
                        len(items),
                    )
                finally:
                    for _ in items:
                        self._slots.release()
        finally:
            for _ in self._queue:
                self._slots.release()
            self._queue = []
            self._worker = None

    async def _process(self, items: list[_Item]) -> None:
        async with self._ctx.account.transaction() as tx:
            for item in items:
                assert item.event is not None
                stamp = _stamp(item.node)
                if not await tx.seen.add(dedupe_key(item.node), stamp):
                    continue  # recorded before a crash: its entry is pending or done
                item.seq = await tx.inbox.put(item.kind.name, encode_node(item.node), stamp)
                item.event = _entry(item.event, item.seq, redelivered=False)
                if item.kind.effect is not None:
                    await item.kind.effect(tx, item.event)
        for item in items:
            await self._send(ack(item.node))
        for item in items:
            if item.seq:
                self.recorded += 1
                await self._inbox.dispatch(item.event)  # type: ignore[arg-type]

    async def _send(self, node: Node) -> None:
        try:
            await self._ctx.link.send_node(node)
        except NotConnected:
            log.debug("not connected: ack not sent (the server will deliver again)")


def _parse(kind: StanzaKind, node: Node) -> Event | None:
    try:
        return kind.parse(node)
    except MalformedNode:
        raise
    except (WamdError, ValueError) as exc:  # attribute, JID and kind-specific parse errors
        raise MalformedNode(f"bad {kind.name} stanza: {exc}") from exc


def _entry(event: Event, seq: int, *, redelivered: bool) -> Event:
    changed: Any = event
    result: Event = dataclasses.replace(changed, seq=seq, redelivered=redelivered)
    return result


def _stamp(node: Node) -> int | None:
    """The stanza's time for the dedupe and inbox rows; None when absent or not a time."""
    try:
        return checked_timestamp(node) or None
    except MalformedNode:
        return None
