"""Connection.send_payload's turns: frames reach the transport in the order they were sealed,
whoever sends concurrently, is cancelled, or fails."""

from __future__ import annotations

import asyncio
import random
from typing import Any, cast

import pytest

from wamd.conn.connection import Connection
from wamd.conn.transport import TransportClosed
from wamd.errors import NotConnected


class _CountingNoise:
    """Seals by prefixing the frame counter (what the real cipher's order depends on)."""

    def __init__(self) -> None:
        self.counter = 0

    def seal(self, payload: bytes) -> bytes:
        counter = self.counter
        self.counter += 1
        return counter.to_bytes(4, "big") + payload


class _SlowTransport:
    """Yields to the loop a random number of times inside each send; records what left."""

    def __init__(self, seed: int = 7) -> None:
        self.sent: list[bytes] = []
        self.active = 0
        self.overlap = False
        self.fail_on: bytes | None = None
        self.gate: asyncio.Event | None = None
        self._random = random.Random(seed)

    async def send(self, data: bytes) -> None:
        self.active += 1
        self.overlap |= self.active > 1
        try:
            if self.gate is not None:
                await self.gate.wait()
            for _ in range(self._random.randrange(4)):
                await asyncio.sleep(0)
            if self.fail_on is not None and data[4:] == self.fail_on:
                raise TransportClosed("send failed")
            self.sent.append(data)
        finally:
            self.active -= 1

    async def receive(self) -> bytes:  # pragma: no cover - not used
        raise TransportClosed("no data")

    async def close(self) -> None:
        pass


def _connection(transport: _SlowTransport) -> tuple[Connection, _CountingNoise]:
    noise = _CountingNoise()
    return Connection(cast(Any, transport), cast(Any, noise)), noise


def _counters(sent: list[bytes]) -> list[int]:
    return [int.from_bytes(frame[:4], "big") for frame in sent]


async def test_concurrent_senders_leave_in_seal_order() -> None:
    transport = _SlowTransport()
    conn, noise = _connection(transport)
    await asyncio.gather(*(conn.send_payload(b"p%d" % i) for i in range(200)))
    assert noise.counter == 200
    assert _counters(transport.sent) == list(range(200))
    assert [frame[4:] for frame in transport.sent] == [b"p%d" % i for i in range(200)]
    assert not transport.overlap
    assert conn._turn.free == 1  # (nobody holds the turn)
    assert conn._turn.waiting == 0


async def test_a_sender_alone_does_not_wait() -> None:
    transport = _SlowTransport()
    conn, _ = _connection(transport)
    for i in range(5):
        await conn.send_payload(b"%d" % i)
    assert _counters(transport.sent) == [0, 1, 2, 3, 4]
    assert conn._turn.free == 1


async def _line(
    count: int,
) -> tuple[_SlowTransport, Connection, asyncio.Task[None], list[asyncio.Task[None]], asyncio.Event]:
    """A first sender held inside the transport, ``count`` senders waiting behind it."""
    transport = _SlowTransport()
    gate = transport.gate = asyncio.Event()
    conn, _ = _connection(transport)
    first = asyncio.create_task(conn.send_payload(b"first"))
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(conn.send_payload(b"w%d" % i)) for i in range(count)]
    await asyncio.sleep(0)
    return transport, conn, first, waiting, gate


async def test_cancelled_waiters_leave_the_line() -> None:
    transport, conn, first, waiting, gate = await _line(4)
    assert conn._turn.waiting == 4
    waiting[1].cancel()
    waiting[2].cancel()
    await asyncio.sleep(0)
    gate.set()
    await asyncio.gather(first, *waiting, return_exceptions=True)
    assert waiting[1].cancelled()
    assert waiting[2].cancelled()
    assert [frame[4:] for frame in transport.sent] == [b"first", b"w0", b"w3"]
    assert _counters(transport.sent) == [0, 1, 2]
    assert conn._turn.free == 1  # (nobody holds the turn)
    assert conn._turn.waiting == 0


async def test_a_sender_cancelled_once_handed_the_turn_hands_it_on() -> None:
    transport, conn, first, (second, third), gate = await _line(2)
    gate.set()
    # the first finishes and hands the turn to the second, which is cancelled before it
    # runs again: it must hand the turn on to the third
    while not first.done():  # noqa: ASYNC110 - awaiting it would let the second run first
        await asyncio.sleep(0)
    assert not second.done()
    assert conn._turn.waiting == 1  # (the third; the second was handed the turn)
    assert conn._turn.free == 0
    second.cancel()
    await asyncio.gather(second, third, return_exceptions=True)
    assert second.cancelled()
    assert third.done()
    assert third.exception() is None
    assert [frame[4:] for frame in transport.sent] == [b"first", b"w1"]
    assert _counters(transport.sent) == [0, 1]
    assert conn._turn.free == 1  # (nobody holds the turn)
    assert conn._turn.waiting == 0


async def test_a_failed_send_frees_the_turn() -> None:
    transport = _SlowTransport()
    transport.fail_on = b"bad"
    conn, _ = _connection(transport)
    results = await asyncio.gather(
        conn.send_payload(b"a"),
        conn.send_payload(b"bad"),
        conn.send_payload(b"c"),
        return_exceptions=True,
    )
    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], TransportClosed)
    assert [frame[4:] for frame in transport.sent] == [b"a", b"c"]
    assert conn._turn.free == 1  # (nobody holds the turn)
    assert conn._turn.waiting == 0


async def test_sending_on_a_closed_connection_raises() -> None:
    transport = _SlowTransport()
    conn, noise = _connection(transport)
    await conn.close()
    with pytest.raises(NotConnected):
        await conn.send_payload(b"x")
    assert noise.counter == 0
