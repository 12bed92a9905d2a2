"""Overlapped file I/O helpers of wamd.media.aio."""

from __future__ import annotations

import io
import os
import threading

from wamd.media.aio import BackgroundWriter, prefetched_reads


async def test_prefetched_reads_cover_the_range_in_order() -> None:
    data = os.urandom(10_000)
    calls: list[tuple[int, int]] = []

    def read_at(offset: int, n: int) -> bytes:
        calls.append((offset, n))
        return data[offset : offset + n]

    out = [c async for c in prefetched_reads(read_at, len(data), 3000)]
    assert b"".join(out) == data
    assert calls == [(0, 3000), (3000, 3000), (6000, 3000), (9000, 1000)]
    assert [c async for c in prefetched_reads(read_at, 0, 3000)] == []


async def test_prefetched_reads_stop_early_and_at_eof() -> None:
    data = b"x" * 50

    def short(offset: int, n: int) -> bytes:
        return data[offset : offset + n]

    # the source is shorter than announced: iteration ends at its end
    assert b"".join([c async for c in prefetched_reads(short, 1000, 16)]) == data
    gen = prefetched_reads(short, 50, 10)
    assert await gen.__anext__() == b"x" * 10
    await gen.aclose()  # the prefetched read is cancelled/awaited, nothing leaks


async def test_background_writer_keeps_order_and_batches() -> None:
    sink = io.BytesIO()
    threads: set[int] = set()

    class Recording:
        def write(self, data: bytes) -> int:
            threads.add(threading.get_ident())
            return sink.write(data)

    writer = BackgroundWriter(Recording(), batch=100)
    parts = [os.urandom(n) for n in (30, 90, 1, 250, 7)]
    for part in parts:
        await writer.write(part)
    await writer.close()
    assert sink.getvalue() == b"".join(parts)
    assert writer.written == sum(map(len, parts))
    assert threading.get_ident() not in threads  # the writes ran off the event loop


async def test_background_writer_abort_drops_the_buffer() -> None:
    sink = io.BytesIO()
    writer = BackgroundWriter(sink, batch=100)
    await writer.write(b"a" * 150)  # one batch started
    await writer.write(b"b" * 10)  # buffered only
    await writer.abort()
    assert sink.getvalue() == b"a" * 150
