"""Concurrency helpers shared by the store backends: a task-aware lock and lease polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from types import TracebackType
from typing import Self, TypeVar

from wamd.errors import LeaseHeld, StoreError

T = TypeVar("T")

_SELF_WAIT = (
    "this task holds a transaction on this store: inside `async with account.transaction() "
    "as tx`, use tx's stores (tx.sessions, ...), not the account's"
)


async def finish(aw: Awaitable[T]) -> T:
    """Await ``aw`` to its end even when the caller is cancelled meanwhile (any number of times,
    timeouts included), then raise :class:`asyncio.CancelledError` if it was.

    For the clean-up a connection needs before anyone else may use it (ending a transaction,
    closing a lease's session): a statement whose await was cancelled still runs, so giving up
    half-way would hand the next user a connection in a state nobody owns. ``aw``'s own error
    is raised when the caller was not cancelled (and dropped when it was)."""
    fut = asyncio.ensure_future(aw)
    cancelled = False
    while not fut.done():
        try:
            await asyncio.shield(fut)
        except asyncio.CancelledError:
            if not fut.cancelled():  # (the caller's cancellation, not fut's)
                cancelled = True
        except BaseException:  # fut's error: raised (or dropped) below
            pass
    if cancelled:
        if not fut.cancelled():
            fut.exception()  # retrieved: the cancellation wins
        raise asyncio.CancelledError
    return fut.result()


class TxTasks:
    """The tasks holding a transaction on a store, so that their non-transactional calls (which
    could wait for their own transaction) raise :class:`StoreError` instead."""

    __slots__ = ("_tasks",)

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[object]] = set()

    def check(self) -> None:
        """Raise :class:`StoreError` when the current task holds a transaction."""
        task = asyncio.current_task()
        if task is not None and task in self._tasks:
            raise StoreError(_SELF_WAIT)

    def add(self, task: asyncio.Task[object]) -> None:
        """Mark ``task`` as holding a transaction (until :meth:`discard`)."""
        self._tasks.add(task)

    def discard(self, task: asyncio.Task[object]) -> None:
        """``task`` holds no transaction any more."""
        self._tasks.discard(task)

    @contextmanager
    def enter(self) -> Iterator[None]:
        """Mark the current task as holding a transaction for the ``with`` block."""
        self.check()
        task = asyncio.current_task()
        if task is None:
            yield
            return
        self._tasks.add(task)
        try:
            yield
        finally:
            self._tasks.discard(task)


class TaskLock:
    """An ``asyncio.Lock`` that refuses (instead of deadlocking) when its holder asks again."""

    __slots__ = ("_lock", "_owner")

    def __init__(self) -> None:
        self._lock = asyncio.Lock()
        self._owner: asyncio.Task[object] | None = None

    async def acquire(self) -> None:
        """Take the lock (:meth:`release` gives it back); :class:`StoreError` when the current
        task already holds it."""
        task = asyncio.current_task()
        if self._owner is not None and self._owner is task:
            raise StoreError(_SELF_WAIT)
        await self._lock.acquire()
        self._owner = task

    def release(self) -> None:
        """Give the lock back."""
        self._owner = None
        self._lock.release()

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
        return f"<{type(self).__name__} {self._what} held={self.held}>"

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


class _LocalLease(LeaseBase):
    def __init__(self, registry: LocalLeases, key: int, what: str) -> None:
        super().__init__(what)
        self._registry = registry
        self._key = key

    @property
    def held(self) -> bool:
        """Whether the lease is held (``False`` once released, or dropped by its store)."""
        return self._held and self._registry.held.get(self._key) is self

    async def _release(self) -> None:
        if self._registry.held.get(self._key) is self:
            del self._registry.held[self._key]


class LocalLeases:
    """Leases that exclude owners within this process only (stores that live in memory)."""

    def __init__(self) -> None:
        self.held: dict[int, _LocalLease] = {}

    async def acquire(self, key: int, wait: float | None, what: str) -> LeaseBase:
        """Take the lease of ``key`` (see :func:`poll_acquire` for ``wait``)."""
        lease = _LocalLease(self, key, what)

        async def try_once() -> bool:
            if key in self.held:
                return False
            self.held[key] = lease
            return True

        await poll_acquire(try_once, wait, what)
        return lease
