"""From the durable inbox to the application's handlers, and back to "done".

Every decrypted :class:`~wamd.messaging.events.Message` is first committed to the store's inbox
(in the same transaction as its ratchet state), then dispatched. Receipts and stateful
notifications take the same path (:mod:`wamd.messaging.notices`): their entries carry another
``kind`` and the stanza itself, read back by the decoder registered for that kind
(:meth:`Inbox.register`). Its entry is marked done once
every handler returned. Handlers that must act exactly once finish the entry themselves, in
their own transaction (:meth:`Inbox.transaction`): their writes and the done mark commit
together, so a crash either keeps both or neither (and the message comes again).

After a crash or restart, :meth:`Inbox.redeliver` dispatches every entry still pending with
``redelivered=True``. A handler that raises leaves its entry pending: the message is
dispatched again (``handler_failure="retry"``) or surfaced as :class:`HandlerFailed`
(``"surface"``, or when the attempts run out), after which the entry is done.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import dataclass, field, replace
from typing import Any, Protocol, cast

from wamd.errors import MalformedNode, StoreError
from wamd.events import Event, Started
from wamd.messaging.context import Context
from wamd.messaging.events import Message
from wamd.store import Transaction

__all__ = ["MESSAGE_KIND", "Decoder", "HandlerFailed", "Inbox", "InboxEvent"]

log = logging.getLogger("wamd.messaging")

MESSAGE_KIND = "message"
DONE_FLUSH_DELAY = 0.5
"""Seconds finished entries wait to be marked done together, when no receive transaction
carries their marks first (while messages flow, a receive commit takes the marks gathered so
far once there are :data:`DONE_CARRY_MIN`: no transaction of their own)."""
DONE_CARRY_MIN = 32
"""Done marks gathered before a receive transaction carries them: fewer and they wait for the
next one that finds this many, or for the delayed flush (a statement less in most receive
transactions; a crash meanwhile only dispatches those entries again, ``redelivered``)."""
TRIM_EVERY = 1000
"""Finished entries between two trims of the inbox, dedupe and outgoing buffers."""


class InboxEvent(Protocol):
    """An event dispatched from an inbox entry (a frozen dataclass with these fields)."""

    @property
    def seq(self) -> int:
        """The entry's sequence number (0: not from the inbox)."""
        ...

    @property
    def redelivered(self) -> bool:
        """Dispatched before a crash or restart: handlers may have seen it already."""
        ...


Decoder = Callable[[bytes, int], Event | None]
"""Reads an inbox payload of one kind back into its event (``seq`` given, redelivered);
``None`` when there is nothing to dispatch; :class:`~wamd.errors.MalformedNode` when the
payload is unreadable."""


@dataclass(frozen=True, slots=True)
class HandlerFailed(Event):
    """A handler raised on ``event`` (``attempts`` times); the event (a
    :class:`~wamd.messaging.events.Message`, or another inbox event such as a
    :class:`~wamd.messaging.events.Receipt`) will not be dispatched again. ``error`` is the
    last exception."""

    event: Event
    error: BaseException = field(compare=False)
    attempts: int = 1


class Inbox:
    """Dispatches inbox entries and records when they are done (see the module docstring)."""

    def __init__(self, ctx: Context) -> None:
        self._ctx = ctx
        self._inflight: set[int] = set()
        self._done: set[int] = set()
        self._pending_done: set[int] = set()
        self._flush_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self._idle = asyncio.Event()
        self._idle.set()
        self._since_trim = 0
        self._decoders: dict[str, Decoder] = {MESSAGE_KIND: _decode_message}
        self.dispatched = 0
        self.carry_min = DONE_CARRY_MIN
        """Done marks a receive transaction takes at the least (:meth:`take_done`)."""

    def __repr__(self) -> str:
        return f"Inbox(inflight={len(self._inflight)})"

    @property
    def inflight(self) -> int:
        """Entries dispatched whose handlers have not all finished."""
        return len(self._inflight)

    def register(self, kind: str, decoder: Decoder) -> None:
        """Read entries of ``kind`` with ``decoder`` when they are redelivered."""
        self._decoders[kind] = decoder

    async def dispatch(self, event: InboxEvent) -> None:
        """Start the handlers of ``event`` (an inbox entry); waits while the pool is full."""
        seq = event.seq
        if seq in self._inflight or seq in self._done:
            return
        self._inflight.add(seq)
        self._idle.clear()
        await self._start(event, 1)

    async def _start(self, event: Any, attempt: int) -> None:
        started = await self._ctx.link.dispatch(event)
        self.dispatched += 1
        tasks = started.tasks
        if not tasks:  # plain handlers only: they returned already
            self._settled(event, attempt, started)
            return
        # No watcher task per message: the last handler task to finish settles the entry
        # (a done callback runs synchronously, so a clean shutdown cannot lose the mark).
        remaining = len(tasks)

        def one_done(_: asyncio.Future[BaseException | None]) -> None:
            nonlocal remaining
            remaining -= 1
            if not remaining:
                self._settled(event, attempt, started)

        for task in tasks:
            task.add_done_callback(one_done)

    def _settled(self, event: Any, attempt: int, started: Started) -> None:
        """Every handler of ``event`` finished: done, pending, retried or surfaced."""
        seq = event.seq
        if seq in self._done:  # finished by the handler's own transaction
            self._done.discard(seq)
            self._settle(seq)
            return
        errors = started.errors
        for task in started.tasks:
            if task.cancelled():
                self._settle(seq)  # shutting down: stays pending
                return
            error = task.exception() or task.result()
            if error is not None:
                errors.append(error)
        if not errors:
            self._finish(seq)
            return
        self._spawn(self._failed(event, attempt, errors[-1]))

    async def _failed(self, event: Any, attempt: int, error: BaseException) -> None:
        opts = self._ctx.options
        if opts.handler_failure == "retry" and attempt < opts.handler_attempts:
            await asyncio.sleep(opts.handler_retry_delay)
            await self._start(replace(event, redelivered=True), attempt + 1)
            return
        try:
            await self._ctx.link.dispatch(HandlerFailed(event, error, attempt))
        finally:
            self._finish(event.seq)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _settle(self, seq: int) -> None:
        self._inflight.discard(seq)
        if not self._inflight:
            self._idle.set()

    def _finish(self, seq: int) -> None:
        self._settle(seq)
        if seq in self._done:
            return
        self._done.add(seq)
        self._pending_done.add(seq)
        if self._flush_task is None or self._flush_task.done():
            self._flush_task = asyncio.ensure_future(self._flush(DONE_FLUSH_DELAY))

    def take_done(self) -> list[int]:
        """The done marks gathered so far, for a transaction that is about to commit (the
        receive path's), when there are at least :attr:`carry_min` (else none: they wait);
        report the outcome with :meth:`done_written` or :meth:`done_failed`."""
        if not self._pending_done or len(self._pending_done) < self.carry_min:
            return []
        seqs, self._pending_done = self._pending_done, set()
        return sorted(seqs)

    def done_written(self, seqs: list[int]) -> None:
        """The marks taken with :meth:`take_done` are committed."""
        self._done.difference_update(seqs)  # the store says done now
        self._since_trim += len(seqs)
        if self._since_trim >= TRIM_EVERY and (self._flush_task is None or self._flush_task.done()):
            self._flush_task = asyncio.ensure_future(self._flush(0))  # trims

    def done_failed(self, seqs: list[int]) -> None:
        """The transaction that carried the marks taken with :meth:`take_done` failed: they
        are written by the next one."""
        self._pending_done.update(seqs)

    async def _flush(self, delay: float) -> None:
        # done marks are not needed for durability (a crash only re-dispatches): gather a
        # few before writing them in one transaction
        if delay:
            await asyncio.sleep(delay)
        while self._pending_done:
            seqs, self._pending_done = self._pending_done, set()
            try:
                await self._ctx.account.inbox.mark_done(sorted(seqs))
            except StoreError as exc:
                log.warning("could not mark %d inbox entries done: %s", len(seqs), exc)
                self._done.difference_update(seqs)
                return
            except asyncio.CancelledError:
                self._pending_done |= seqs  # written again by close (marking is idempotent)
                raise
            self._done.difference_update(seqs)  # the store says done now
            self._since_trim += len(seqs)
            if delay:
                # a timed flush writes once: the marks of handlers that finished meanwhile
                # ride the next receive transaction, or the next timed flush (while messages
                # flow, a loop here would commit a transaction of its own back to back)
                break
        if self._since_trim >= TRIM_EVERY:
            self._since_trim = 0
            try:
                await self.trim()
            except StoreError as exc:
                log.warning("could not trim the inbox: %s", exc)
        if delay and self._pending_done:
            self._flush_task = asyncio.ensure_future(self._flush(DONE_FLUSH_DELAY))

    @contextlib.asynccontextmanager
    async def transaction(self, event: InboxEvent) -> AsyncIterator[Transaction]:
        """A store transaction that also finishes ``event``'s inbox entry.

        Write the handler's own effects through the yielded transaction: they commit
        together with the done mark (exactly-once processing across crashes).
        """
        if event.seq <= 0:
            raise StoreError("this event is not an inbox entry")
        async with self._ctx.account.transaction() as tx:
            yield tx
            await tx.inbox.mark_done([event.seq])
        self._done.add(event.seq)

    async def redeliver(self) -> int:
        """Dispatch every pending entry not being handled now (``redelivered=True``).

        Returns how many were dispatched.
        """
        count = 0
        for entry in await self._ctx.account.inbox.pending():
            if entry.seq in self._inflight or entry.seq in self._done:
                continue
            decoder = self._decoders.get(entry.kind)
            if decoder is None:
                continue  # a kind whose part is not in this client: left for one that has it
            try:
                event = decoder(entry.payload, entry.seq)
            except MalformedNode as exc:
                log.error("dropping unreadable inbox entry %d: %s", entry.seq, exc)
                self._finish(entry.seq)
                continue
            if event is None:
                self._finish(entry.seq)
                continue
            await self.dispatch(cast(InboxEvent, event))
            count += 1
        return count

    async def wait_idle(self) -> None:
        """Wait until no dispatched entry is waiting for its handlers (and done marks are
        written)."""
        while True:
            await self._idle.wait()
            task = self._flush_task
            if task is not None and not task.done():
                await self._flush_at_once(task)
            if self._idle.is_set() and not self._pending_done:
                return

    async def _flush_at_once(self, task: asyncio.Task[None]) -> None:
        """Write the gathered marks now instead of after the flush delay."""
        task.cancel()  # (marks it was writing go back to the pending set)
        await asyncio.gather(task, return_exceptions=True)
        if self._flush_task is task:
            self._flush_task = asyncio.ensure_future(self._flush(0))
        flush = self._flush_task
        if flush is not None:
            await asyncio.shield(flush)

    async def trim(self) -> None:
        """Delete finished entries and old dedupe/outgoing records."""
        opts = self._ctx.options
        account = self._ctx.account
        await account.inbox.delete_done()
        await account.seen.prune(keep_last=opts.seen_keep)
        await account.outgoing.prune(keep_last=opts.outgoing_keep)

    async def close(self) -> None:
        """Stop retrying failed handlers (running handlers belong to the dispatcher) and write
        the done marks of every entry whose handlers finished, at once (a clean shutdown must
        not hand a handled message to the handlers again after a restart)."""
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        flush = self._flush_task
        if flush is not None and not flush.done():
            flush.cancel()
            await asyncio.gather(flush, return_exceptions=True)
        self._flush_task = None
        with contextlib.suppress(StoreError):
            await self._flush(0)
        if not self._inflight:
            self._idle.set()


def _decode_message(payload: bytes, seq: int) -> Message:
    return Message.from_payload(payload, seq=seq, redelivered=True)
