"""Concurrency helpers shared by the store backends: a task-aware lock and lease polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from types import TracebackType
from typing import Self

from wamd.errors import LeaseHeld, StoreError

_SELF_WAIT = (
    "this task holds a transaction on this account: inside `async with account.transaction() "
    "as tx`, use tx's stores (tx.sessions, ...), not the account's"
)


class TaskLock:
    """An ``asyncio.Lock`` that refuses (instead of deadlocking) when its holder asks again."""

    __slots__ = ("_lock", "_owner")

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Hold the lock for the ``async with`` block.

        Raises :class:`StoreError` when the current task already holds it.
        """
        task = asyncio.current_task()
        if self._owner is not None and self._owner is task:
            raise StoreError(_SELF_WAIT)
        async with self._lock:
            self._owner = task
            try:
                yield
            finally:
                self._owner = None


async def poll_acquire(
    try_once: Callable[[], Awaitable[bool]], wait: float | None, what: str
) -> None:
    """Call ``try_once`` until it returns ``True``, backing off, for at most ``wait`` seconds.

    ``wait=0`` tries once; ``None`` waits forever. Raises :class:`LeaseHeld` when time is up.
    """
    if wait is not None and wait < 0:
        raise ValueError("wait must be >= 0 or None")
    deadline = None if wait is None else time.monotonic() + wait
    delay = 0.02
    while True:
        if await try_once():
            return
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LeaseHeld(f"{what} is leased by another owner")
            await asyncio.sleep(min(delay, left))
        else:
            await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


class LeaseBase:
    """Common shape of the backends' leases: ``held``, idempotent ``release()``, ``async with``."""

    def __init__(self, what: str) -> None:
        self._what = what
        self._held = True

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._what} held={self._held}>"

    @property
    def held(self) -> bool:
        """Whether the lease is still held."""
        return self._held

    async def release(self) -> None:
        """Give the lease up (idempotent)."""
        if self._held:
            self._held = False
            await self._release()

    async def _release(self) -> None:
        raise NotImplementedError

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.release()
