"""A counting semaphore whose free-slot path does not await (:class:`SlotPool`).

``asyncio.Semaphore.acquire`` is a coroutine that checks its waiters with a generator on every
call; the receive path takes a slot per message in two places (the stanza pool and the handler
pool), almost always free. :class:`SlotPool` takes a free slot synchronously
(:meth:`SlotPool.try_acquire`) and only builds a future when it must wait. Waiters are served
first come, first served; a slot released while someone waits goes straight to that waiter.
"""

from __future__ import annotations

import asyncio
from collections import deque

__all__ = ["SlotPool"]


class SlotPool:
    """``size`` slots; :meth:`acquire` waits for one, :meth:`release` gives one back."""

    __slots__ = ("_free", "_waiters")

    def __init__(self, size: int) -> None:
        if size < 0:
            raise ValueError("a slot pool cannot have a negative size")
        self._free = size
        self._waiters: deque[asyncio.Future[None]] = deque()

    def __repr__(self) -> str:
        return f"SlotPool(free={self._free}, waiting={len(self._waiters)})"

    @property
    def free(self) -> int:
        """Slots free now."""
        return self._free

    @property
    def waiting(self) -> int:
        """Callers of :meth:`acquire` queued for a slot."""
        return len(self._waiters)

    def locked(self) -> bool:
        """Whether :meth:`acquire` would wait."""
        return self._free <= 0 or bool(self._waiters)

    def try_acquire(self) -> bool:
        """Take a free slot without waiting; ``False`` when there is none (or others wait)."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def acquire(self) -> None:
        """Take a slot, waiting for one when none is free."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # the slot was handed over as we were cancelled: pass it on
            else:
                self._waiters.remove(waiter)
            raise

    def release(self) -> None:
        """Give a slot back: to the first waiter still waiting, else to the pool."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return
        self._free += 1
