"""File I/O off the event loop, overlapped with the caller's work (one operation in flight).

Reads and writes go to a worker thread (``asyncio.to_thread``) so the loop never blocks on
disk; one read is prefetched (or one write left running) while the caller handles the
previous chunk, so network, crypto and disk overlap. Memory: at most two chunks/batches.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Protocol


class Writable(Protocol):
    """Anything with a blocking ``write(bytes)`` (a binary file, a spool)."""

    def write(self, data: bytes, /) -> object: ...


async def prefetched_reads(
    read_at: Callable[[int, int], bytes], size: int, chunk: int
) -> AsyncIterator[bytes]:
    """Yield ``read_at(offset, chunk)`` up to ``size`` bytes, the next read already running."""
    offset = 0
    pending: asyncio.Future[bytes] | None = None
    if size > 0:
        pending = asyncio.ensure_future(asyncio.to_thread(read_at, 0, min(chunk, size)))
    try:
        while pending is not None:
            data = await pending
            pending = None
            if not data:
                return
            offset += len(data)
            if offset < size:
                pending = asyncio.ensure_future(
                    asyncio.to_thread(read_at, offset, min(chunk, size - offset))
                )
            yield data
    finally:
        if pending is not None:
            pending.cancel()
            await asyncio.gather(pending, return_exceptions=True)


class BackgroundWriter:
    """Buffers writes into ``batch``-sized blocks, each written in a worker thread while the
    next one fills. Call :meth:`close` (it flushes) or :meth:`abort`."""

    def __init__(self, file: Writable, batch: int = 1024 * 1024) -> None:
        self._file = file
        self._batch = batch
        self._buf = bytearray()
        self._pending: asyncio.Future[object] | None = None
        self.written = 0

    async def write(self, data: bytes | bytearray | memoryview) -> None:
        """Queue ``data``; waits only when a full batch must start while one is still running."""
        self._buf += data
        if len(self._buf) >= self._batch:
            await self._start()

    async def _start(self) -> None:
        if self._pending is not None:
            await self._pending
        block, self._buf = bytes(self._buf), bytearray()
        self.written += len(block)
        self._pending = asyncio.ensure_future(asyncio.to_thread(self._file.write, block))

    async def close(self) -> None:
        """Write what is buffered and wait for every write to finish."""
        if self._buf:
            await self._start()
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending

    async def abort(self) -> None:
        """Drop what is buffered; wait for a running write (the file is discarded after)."""
        self._buf = bytearray()
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await asyncio.gather(pending, return_exceptions=True)
