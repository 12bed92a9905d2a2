"""Per-chat receive queues, and when a chat's worker cuts its next batch (the linger).

Every batch of the receive path has a fixed cost beside the work per stanza: a worker task,
one store transaction (``BEGIN``/``COMMIT``; on SQLite an fsync and round trips to the
database thread), the sender's session record written once, the locks. Stanzas that arrive
while a batch runs share the next one for free; live stanzas that arrive one by one, each
after the previous batch ended, would each pay a whole batch.

The linger (:attr:`~wamd.messaging.context.MessagingOptions.receive_linger`) is a group
commit for them. Each chat keeps the average gap between its stanzas' arrivals (smoothed
over the last few, each gap counted as at most :data:`GAP_CAP` lingers). While that average
is below the linger (at least one more stanza is expected within it), the worker waits until
the oldest queued stanza has waited ``receive_linger``, or until a full batch
(``batch_size``, or ``max_inflight`` if smaller) is queued, whichever comes first, and
processes what has gathered as one batch. A chat whose stanzas come further apart is never
waited for: no timer, no added latency. One pause of :data:`GAP_CAP` lingers turns the wait
off again at the next stanza, and so does a wait that gathered nothing (a sender that waits
for our receipt before it sends again gains nothing from it); a new burst turns it on after
about three stanzas.

The trade: a stanza of a busy chat is processed (and its receipt sent, its handlers called)
up to ``receive_linger`` later, in exchange for sharing the batch's cost with the stanzas that
came meanwhile. An offline backlog waits ``offline_batch_delay`` per batch instead, however
its stanzas are paced (the server sends the backlog as fast as it can).

A chat's queue outlives its worker (it carries the average) until its last arrival is
:data:`GAP_CAP` lingers old: then its history no longer matters, and it is dropped the next
time the table of chats is swept (when it has doubled since the last sweep).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["GAP_CAP", "Batcher", "ChatQueue"]

GAP_CAP = 4.0
"""The longest gap between two arrivals the average counts, in lingers: after a pause that
long the average is above the linger whatever it was (no wait at the next stanza)."""

_SWEEP_MIN = 64

T = TypeVar("T")
K = TypeVar("K", bound=Hashable)


def _release(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


@dataclass(slots=True, eq=False)
class ChatQueue(Generic[T]):
    """The stanzas one chat has queued, its worker, and the pace of its arrivals."""

    items: list[T] = field(default_factory=list)
    worker: asyncio.Task[None] | None = None
    since: float = 0.0
    """When the oldest queued item arrived (loop time; only kept while lingering is on)."""
    last: float = -math.inf
    """When the latest item arrived."""
    gap: float = math.inf
    """The smoothed gap between arrivals, in seconds."""
    waiter: asyncio.Future[None] | None = None
    """Set while the worker lingers: completing it ends the wait."""


class Batcher(Generic[K, T]):
    """The chats' queues, and the policy that cuts their batches (see the module docstring).

    Args:
        size: most items in one batch.
        fill: items queued that end a wait at once (a full batch; at most ``size``).
        linger: seconds a busy chat's batch may wait for more items (0: never).
        offline_delay: seconds a batch of an offline backlog waits for more items.
    """

    __slots__ = (
        "_cap",
        "_sweep_at",
        "chats",
        "fill",
        "linger",
        "lingered",
        "offline_delay",
        "size",
    )

    def __init__(self, size: int, fill: int, linger: float, offline_delay: float) -> None:
        if size < 1:
            raise ValueError("a batch holds at least one item")
        if linger < 0 or offline_delay < 0:
            raise ValueError("a negative delay")
        self.size = size
        self.fill = max(1, min(fill, size))
        self.linger = linger
        self.offline_delay = offline_delay
        self._cap = GAP_CAP * linger
        self._sweep_at = _SWEEP_MIN
        self.chats: dict[K, ChatQueue[T]] = {}
        self.lingered = 0
        """Batches that waited for more live items (a figure for tests and benchmarks)."""

    def __repr__(self) -> str:
        return f"Batcher(chats={len(self.chats)}, linger={self.linger:g})"

    def arrive(self, key: K, item: T) -> ChatQueue[T]:
        """Queue ``item`` on its chat (created if new) and return the chat; ends the chat's
        wait once a full batch is queued. The caller starts a worker when it has none."""
        chat = self.chats.get(key)
        if chat is None:
            if len(self.chats) >= self._sweep_at:
                self._sweep()
            chat = self.chats[key] = ChatQueue(gap=self._cap)
        if self.linger:
            now = asyncio.get_running_loop().time()
            gap = now - chat.last
            chat.gap = (chat.gap + (gap if gap < self._cap else self._cap)) * 0.5
            chat.last = now
            if not chat.items:
                chat.since = now
        items = chat.items
        items.append(item)
        if chat.waiter is not None and len(items) >= self.fill:
            _release(chat.waiter)
        return chat

    async def cut(self, chat: ChatQueue[T], *, offline: bool) -> list[T]:
        """The chat's next batch (it has items), once it has gathered: an ``offline`` head
        waits ``offline_delay``, a busy chat's live head lingers, a full batch goes at once."""
        if len(chat.items) < self.fill:
            loop = asyncio.get_running_loop()
            if offline:
                await self._wait(chat, loop, loop.time() + self.offline_delay)
            elif chat.gap < self.linger:
                deadline = chat.since + self.linger
                if deadline > loop.time():
                    self.lingered += 1
                    queued = len(chat.items)
                    await self._wait(chat, loop, deadline)
                    if len(chat.items) == queued:
                        chat.gap = self._cap  # nothing came: no burst (no wait next time)
        items = chat.items
        if len(items) <= self.size:
            chat.items = []
            return items
        chat.items = items[self.size :]
        del items[self.size :]
        return items

    def retire(self, key: K, chat: ChatQueue[T]) -> list[T]:
        """The chat's worker ended: forget it, and the chat itself unless its pace is worth
        keeping (lingering is on and nothing went wrong). Returns the items still queued
        (only left by a worker that failed or was cancelled: they are dropped)."""
        chat.worker = None
        left, chat.items = chat.items, []
        if (left or not self.linger) and self.chats.get(key) is chat:
            del self.chats[key]
        return left

    def clear(self) -> None:
        """Forget every chat (their workers have ended)."""
        self.chats.clear()

    def workers(self) -> list[asyncio.Task[None]]:
        """The chats' running workers."""
        return [c.worker for c in self.chats.values() if c.worker is not None]

    @staticmethod
    async def _wait(chat: ChatQueue[T], loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        waiter = chat.waiter = loop.create_future()
        timer = loop.call_at(deadline, _release, waiter)
        try:
            await waiter
        finally:
            timer.cancel()
            chat.waiter = None

    def _sweep(self) -> None:
        """Drop the idle chats whose pace no longer matters."""
        if self.linger:
            old = asyncio.get_running_loop().time() - self._cap
            for key in [k for k, c in self.chats.items() if c.worker is None and c.last < old]:
                del self.chats[key]
        self._sweep_at = max(_SWEEP_MIN, 2 * len(self.chats))
