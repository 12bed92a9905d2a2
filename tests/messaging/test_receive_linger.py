"""The receive linger (``MessagingOptions.receive_linger``, :mod:`wamd.messaging.batching`):
a busy chat's live stanzas gather into one batch, sparse ones are processed without any wait,
0 turns it off, and a chat's order holds either way.

No test here depends on how fast the machine is: a linger either ends by a full batch (the
linger itself is far longer than any test), or only the order of the outcome is checked;
"no wait" is checked by failing the wait itself, not by timing."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.messaging.harness import FakeServer, Party
from wamd.binary import Node
from wamd.messaging import Message
from wamd.messaging.batching import GAP_CAP, Batcher, ChatQueue
from wamd.messaging.send import send_message
from wamd.proto import e2e_pb2
from wamd.types import JID

BOB = JID("15550002", "s.whatsapp.net")
LONG = 60.0
"""A linger no test waits out: a wait ends by a full batch."""


async def _stanzas(count: int, **options: Any) -> tuple[Party, list[Node]]:
    """Bob (with ``options``) and ``count`` live stanzas from Alice, not yet delivered."""
    server = FakeServer()
    alice = await server.add("15550001", 1)
    bob = await server.add("15550002", 1, **options)
    bob.online = False
    for i in range(count):
        await send_message(alice.ctx, BOB, e2e_pb2.Message(conversation=f"m{i}"))
    return bob, server.queues.pop((bob.phone, bob.device))


def _texts(party: Party) -> list[str]:
    return [e.text or "" for e in party.events if isinstance(e, Message)]


async def _no_wait(*_: object) -> None:
    raise AssertionError("the worker waited")


async def test_a_burst_lingers_into_one_batch() -> None:
    bob, nodes = await _stanzas(8, receive_linger=LONG, batch_size=4)
    for node in nodes[:4]:  # back to back: one batch, and the chat's pace is now a burst's
        await bob.deliver(node)
    await bob.receiver.idle()
    assert (bob.receiver.batches, bob.receiver.lingered) == (1, 0)  # a full batch never waits
    for node in nodes[4:7]:
        await bob.deliver(node)
        for _ in range(5):
            await asyncio.sleep(0)  # the worker runs: it lingers instead of taking the stanza
    assert (bob.receiver.batches, bob.receiver.lingered, bob.receiver.queued) == (1, 1, 3)
    await bob.deliver(nodes[7])  # the batch is full: the wait ends at once
    async with asyncio.timeout(10):
        await bob.idle()
    assert (bob.receiver.batches, bob.receiver.lingered, bob.receiver.queued) == (2, 1, 0)
    assert _texts(bob) == [f"m{i}" for i in range(8)]


async def test_sparse_messages_are_processed_without_waiting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    linger = 0.002
    bob, nodes = await _stanzas(5, receive_linger=linger)
    monkeypatch.setattr(Batcher, "_wait", staticmethod(_no_wait))
    for node in nodes:
        await bob.deliver(node)
        await bob.idle()
        await asyncio.sleep(GAP_CAP * linger * 2)  # further apart than any gap the pace counts
    assert (bob.receiver.batches, bob.receiver.lingered) == (5, 0)
    assert _texts(bob) == [f"m{i}" for i in range(5)]


async def test_a_zero_linger_never_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    bob, nodes = await _stanzas(6, receive_linger=0, batch_size=4)
    monkeypatch.setattr(Batcher, "_wait", staticmethod(_no_wait))
    for node in nodes[:4]:
        await bob.deliver(node)
    await bob.receiver.idle()
    for node in nodes[4:]:  # a burst's pace: with a linger these would wait for each other
        await bob.deliver(node)
        await bob.receiver.idle()
    assert (bob.receiver.batches, bob.receiver.lingered) == (3, 0)
    assert repr(bob.receiver) == "Receiver(chats=0)"  # no pace kept: nothing to keep it for
    assert _texts(bob) == [f"m{i}" for i in range(6)]


async def test_a_linger_that_runs_out_keeps_the_order() -> None:
    """The wait ends by its deadline (however many stanzas came meanwhile): every stanza is
    processed once, in order."""
    bob, nodes = await _stanzas(7, receive_linger=0.02, batch_size=4)
    for node in nodes[:4]:
        await bob.deliver(node)
    await bob.receiver.idle()
    for node in nodes[4:]:
        await bob.deliver(node)
        await asyncio.sleep(0)
    async with asyncio.timeout(10):
        await bob.idle()
    assert bob.receiver.lingered >= 1
    assert _texts(bob) == [f"m{i}" for i in range(7)]


# --- the batcher alone ---------------------------------------------------------------------


def _burst(batcher: Batcher[str, int], count: int, start: int = 0) -> ChatQueue[int]:
    chat = None
    for i in range(start, start + count):
        chat = batcher.arrive("chat", i)
    assert chat is not None
    return chat


async def test_the_pace_turns_the_linger_on_and_off() -> None:
    batcher: Batcher[str, int] = Batcher(size=8, fill=8, linger=LONG, offline_delay=0)
    chat = _burst(batcher, 2)
    assert chat.gap >= LONG  # two stanzas are no burst yet
    _burst(batcher, 2, start=2)
    assert chat.gap < LONG
    chat.last -= GAP_CAP * LONG  # a pause as long as the cap
    batcher.arrive("chat", 4)
    assert chat.gap >= LONG  # one pause turns it off
    assert await batcher.cut(chat, offline=False) == [0, 1, 2, 3, 4]
    assert batcher.lingered == 0


async def test_a_wait_ends_when_the_batch_fills() -> None:
    """``fill`` (``max_inflight`` when smaller than ``batch_size``) ends a wait: the reader
    would otherwise stop reading with the batch waiting for stanzas it cannot read."""
    batcher: Batcher[str, int] = Batcher(size=64, fill=3, linger=LONG, offline_delay=LONG)
    chat = _burst(batcher, 4)
    assert await batcher.cut(chat, offline=False) == [0, 1, 2, 3]
    batcher.arrive("chat", 4)
    cut = asyncio.ensure_future(batcher.cut(chat, offline=False))
    await asyncio.sleep(0)
    batcher.arrive("chat", 5)
    await asyncio.sleep(0)
    assert not cut.done()
    batcher.arrive("chat", 6)
    async with asyncio.timeout(10):
        assert await cut == [4, 5, 6]
    assert batcher.lingered == 1
    batcher.arrive("chat", 7)  # an offline head waits its own delay, ended the same way
    cut = asyncio.ensure_future(batcher.cut(chat, offline=True))
    await asyncio.sleep(0)
    batcher.arrive("chat", 8)
    batcher.arrive("chat", 9)
    async with asyncio.timeout(10):
        assert await cut == [7, 8, 9]
    assert chat.waiter is None


async def test_a_wait_that_gathers_nothing_turns_the_linger_off() -> None:
    batcher: Batcher[str, int] = Batcher(size=8, fill=8, linger=0.01, offline_delay=0)
    chat = _burst(batcher, 4)
    assert chat.gap < batcher.linger
    async with asyncio.timeout(10):
        assert await batcher.cut(chat, offline=False) == [0, 1, 2, 3]
    assert batcher.lingered == 1  # waited its deadline out: nothing came
    assert chat.gap >= batcher.linger
    batcher.arrive("chat", 4)
    assert chat.gap >= batcher.linger  # (the next stanza does not wait)


async def test_a_batch_takes_at_most_size_items() -> None:
    batcher: Batcher[str, int] = Batcher(size=3, fill=3, linger=0, offline_delay=0)
    chat = _burst(batcher, 7)
    assert await batcher.cut(chat, offline=False) == [0, 1, 2]
    assert await batcher.cut(chat, offline=False) == [3, 4, 5]
    assert await batcher.cut(chat, offline=False) == [6]
    assert chat.items == []


async def test_idle_chats_are_swept_once_their_pace_is_old() -> None:
    linger = 0.001
    batcher: Batcher[str, int] = Batcher(size=8, fill=8, linger=linger, offline_delay=0)
    for i in range(64):
        batcher.arrive(f"chat{i}", i)
        assert batcher.retire(f"chat{i}", batcher.chats[f"chat{i}"]) == [i]  # failed: dropped
    assert batcher.chats == {}
    for i in range(64):
        chat = batcher.arrive(f"chat{i}", i)
        chat.items.clear()  # processed
        assert batcher.retire(f"chat{i}", chat) == []  # kept for its pace
    assert len(batcher.chats) == 64
    await asyncio.sleep(GAP_CAP * linger * 2)
    batcher.arrive("new", 0)
    assert list(batcher.chats) == ["new"]
