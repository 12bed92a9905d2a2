"""The SQLite writer's worker thread: calls on the writer's :mod:`sqlite3` connection, run in
order off the event loop (a ``COMMIT`` fsyncs; a ``BEGIN`` may wait for another process).

Each call answers through a pipe of the worker's own that the event loop watches
(``add_reader``), not through ``loop.call_soon_threadsafe`` as aiosqlite's thread does: that
wakeup goes through the loop's self-pipe, which the loop drains with a second ``recv`` that
raises ``BlockingIOError`` every time, and costs about a third more instructions per call. A
receive transaction makes one call (its ``COMMIT``), so this is on every message's path.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
from collections import deque
from collections.abc import Callable
from queue import SimpleQueue
from typing import Any, TypeVar

__all__ = ["Worker"]

T = TypeVar("T")

# a call: its future and its function; None stops the thread
_Call = tuple["asyncio.Future[Any]", Callable[[sqlite3.Connection], Any]]


class Worker:
    """Runs functions of one :mod:`sqlite3` connection on a thread of its own, in the order
    they were queued; counts them, so that the event loop's thread knows when none is
    unfinished (a call whose await was cancelled still runs, after its caller has given up).

    The connection must allow use from several threads (``check_same_thread=False``), and
    nothing else may use it while a call runs."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        self._calls: SimpleQueue[_Call | None] = SimpleQueue()
        # (future, result, error) of the calls that ran, for the event loop's thread
        self._answers: deque[tuple[asyncio.Future[Any], Any, BaseException | None]] = deque()
        self._rfd, self._wfd = os.pipe()
        os.set_blocking(self._rfd, False)
        os.set_blocking(self._wfd, False)
        self._loop: asyncio.AbstractEventLoop | None = None
        self.started = 0  # (written on the event loop's thread only)
        self.finished = 0  # (written on the worker thread only)
        self._closed = False
        self._thread = threading.Thread(target=self._serve, name="wamd-sqlite-writer", daemon=True)
        self._thread.start()

    @property
    def idle(self) -> bool:
        """Whether every call queued so far has finished."""
        return self.started == self.finished

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(db)`` on the worker thread, after the calls queued before it.

        Raises :class:`sqlite3.ProgrammingError` once the worker is closed."""
        if self._closed:
            raise sqlite3.ProgrammingError("Cannot operate on a closed database.")
        loop = asyncio.get_running_loop()
        if loop is not self._loop:
            self._watch(loop)
        future: asyncio.Future[T] = loop.create_future()
        self.started += 1
        self._calls.put((future, fn))
        return await future

    async def close(self) -> None:
        """Stop the thread once the calls queued so far have run (idempotent)."""
        if self._closed:
            return
        await self.run(lambda db: None)  # (the calls before it have run)
        if self._closed:  # (closed meanwhile by another task)
            return
        self._closed = True
        self._calls.put(None)
        self._thread.join()  # (at once: the thread has nothing left to run)
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._rfd)
        os.close(self._rfd)
        os.close(self._wfd)

    def _watch(self, loop: asyncio.AbstractEventLoop) -> None:
        """Answer calls on ``loop`` (the loop of the latest caller) from now on."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._rfd)
        loop.add_reader(self._rfd, self._deliver)
        self._loop = loop

    def _serve(self) -> None:
        """The worker thread: run the calls as they come, until ``None``."""
        while (call := self._calls.get()) is not None:
            future, fn = call
            result: Any = None
            error: BaseException | None = None
            try:
                result = fn(self._db)
            except BaseException as exc:  # (handed to the caller)
                error = exc
            self.finished += 1  # (the connection is free: before the caller hears of it)
            self._answers.append((future, result, error))
            try:  # noqa: SIM105 (contextlib.suppress costs more, on every call)
                os.write(self._wfd, b"\0")
            except BlockingIOError:  # the pipe is full of wakeups: the loop is coming
                pass

    def _deliver(self) -> None:
        """On the event loop's thread, when the pipe has data: hand out the answers."""
        try:  # noqa: SIM105 (contextlib.suppress costs more, on every call)
            os.read(self._rfd, 4096)
        except BlockingIOError:  # (an earlier call of this drained it)
            pass
        answers = self._answers
        while answers:
            future, result, error = answers.popleft()
            if future.cancelled():
                continue
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)
