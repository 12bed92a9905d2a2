"""The durable inbox: handler failures, exactly-once transactions, redelivery after a crash,
PN/LID forms of one device sharing its session, backpressure."""

from __future__ import annotations

import asyncio

import pytest

from tests.messaging.harness import FakeServer, Party
from wamd.messaging.events import Message
from wamd.messaging.inbox import HandlerFailed, Inbox
from wamd.messaging.receive import Receiver
from wamd.messaging.send import send_message
from wamd.proto import e2e_pb2
from wamd.store import SeenMessage
from wamd.types import JID

BOB = JID("15550002", "s.whatsapp.net")


def _text(value: str) -> e2e_pb2.Message:
    return e2e_pb2.Message(conversation=value)


async def _pair(**options: object) -> tuple[FakeServer, Party, Party]:
    server = FakeServer()
    alice = await server.add("15550001", 1)
    bob = await server.add("15550002", 1, **options)
    return server, alice, bob


@pytest.mark.parametrize("kind", ["plain", "coroutine"])
async def test_a_raising_handler_is_retried_then_surfaced(kind: str) -> None:
    """Plain handlers (called by the dispatcher) and coroutine handlers (in their own tasks)
    fall under the same policy."""
    _, alice, bob = await _pair(handler_attempts=3)
    calls: list[Message] = []

    def boom(evt: Message) -> None:
        calls.append(evt)
        raise RuntimeError("handler bug")

    async def aboom(evt: Message) -> None:
        boom(evt)

    bob.dispatcher.add(Message, boom if kind == "plain" else aboom)
    bob.dispatcher.add(Message, lambda evt: None)  # one that succeeds beside it
    await send_message(alice.ctx, BOB, _text("x"))
    await bob.idle()
    assert len(calls) == 3
    assert [c.redelivered for c in calls] == [False, True, True]
    (failed,) = [e for e in bob.events if isinstance(e, HandlerFailed)]
    assert failed.attempts == 3
    assert isinstance(failed.error, RuntimeError)
    assert await bob.account.inbox.pending() == []


async def test_surface_mode_does_not_retry() -> None:
    _, alice, bob = await _pair(handler_failure="surface")
    calls: list[Message] = []

    def boom(evt: Message) -> None:
        calls.append(evt)
        raise ValueError("no")

    bob.dispatcher.add(Message, boom)
    await send_message(alice.ctx, BOB, _text("x"))
    await bob.idle()
    assert len(calls) == 1
    assert [e.attempts for e in bob.events if isinstance(e, HandlerFailed)] == [1]


async def test_handler_transaction_finishes_the_entry_with_its_writes() -> None:
    _, alice, bob = await _pair()

    async def record(evt: Message) -> None:
        async with bob.inbox.transaction(evt) as tx:
            await tx.seen.add(SeenMessage("handled", "", evt.id))

    bob.dispatcher.add(Message, record)
    sent = await send_message(alice.ctx, BOB, _text("once"))
    await bob.idle()
    assert await bob.account.seen.contains(SeenMessage("handled", "", sent.id))
    assert await bob.account.inbox.pending() == []


async def test_pending_entries_are_redelivered_after_a_crash() -> None:
    _, alice, bob = await _pair()
    started = asyncio.Event()
    release = asyncio.Event()

    async def slow(evt: Message) -> None:
        started.set()
        await release.wait()

    registration = bob.dispatcher.add(Message, slow)
    sent = await send_message(alice.ctx, BOB, _text("in flight"))
    await asyncio.wait_for(started.wait(), 5)
    # "crash": the process dies with the handler running; the entry was committed
    (entry,) = await bob.account.inbox.pending()
    await bob.dispatcher.aclose(cancel=True)
    await bob.inbox.close()
    bob.dispatcher.reopen()
    bob.dispatcher.remove(registration)
    # a new process on the same store
    bob.inbox = Inbox(bob.ctx)
    bob.receiver = Receiver(bob.ctx, bob.inbox)
    seen: list[Message] = []
    bob.dispatcher.add(Message, seen.append)
    assert await bob.inbox.redeliver() == 1
    await bob.idle()
    assert [(m.id, m.redelivered, m.seq, m.text) for m in seen] == [
        (sent.id, True, entry.seq, "in flight")
    ]
    assert await bob.account.inbox.pending() == []
    assert await bob.inbox.redeliver() == 0


async def test_pn_and_lid_forms_of_a_device_share_one_session() -> None:
    server, alice, bob = await _pair()
    bob_lid = JID(server.lids["15550002"], "lid")
    for i in range(6):  # alternate the addressing form: PN, then LID, then PN...
        await send_message(alice.ctx, bob_lid if i % 2 else BOB, _text(f"m{i}"))
    await bob.idle()
    texts = [e.text for e in bob.events if isinstance(e, Message)]
    # two chats (the PN and the LID one) are processed concurrently: order only within each
    assert sorted(texts) == [f"m{i}" for i in range(6)]  # type: ignore[type-var]
    assert [t for t in texts if t in ("m0", "m2", "m4")] == ["m0", "m2", "m4"]
    assert alice.retry.resent == 0
    senders = {e.sender.server for e in bob.events if isinstance(e, Message)}
    assert senders == {"s.whatsapp.net", "lid"}
    lid_user = server.lids["15550001"]
    assert await bob.account.sessions.addresses_of_user(f"{lid_user}_1") == [f"{lid_user}_1.1"]
    assert await bob.account.sessions.addresses_of_user("15550001") == []


async def test_backpressure_blocks_the_reader_when_full() -> None:
    server, alice, bob = await _pair(max_inflight=2)
    gate = asyncio.Event()

    async def blocked(evt: Message) -> None:
        await gate.wait()

    bob.dispatcher = type(bob.dispatcher)(max_concurrency=1)
    bob.dispatcher.add(Message, blocked)
    bob.online = False
    for i in range(5):
        await send_message(alice.ctx, BOB, _text(f"b{i}"))
    queued = server.queues.pop((bob.phone, bob.device))
    delivered = 0

    async def reader() -> None:
        nonlocal delivered
        for node in queued:
            await bob.deliver(node)
            delivered += 1

    task = asyncio.ensure_future(reader())
    await asyncio.sleep(0.3)
    assert delivered < len(queued)  # the reader waits instead of queueing without bound
    gate.set()
    await asyncio.wait_for(task, 10)
    await bob.idle()
    assert delivered == len(queued)


@pytest.mark.parametrize("bad", [b"", b"\x00\x01"])
async def test_garbage_ciphertext_never_crashes_the_worker(bad: bytes) -> None:
    server, alice, bob = await _pair(max_retries=1)

    async def garble(target: Party, node: object) -> object:
        from wamd.binary import Node

        assert isinstance(node, Node)
        if target is bob and node.tag == "message":
            node.require_child("enc").content = bad
        return node

    server.tamper = garble  # type: ignore[assignment]
    await send_message(alice.ctx, BOB, _text("x"))
    await bob.idle()
    server.tamper = None
    await send_message(alice.ctx, BOB, _text("after"))
    await bob.idle()
    await alice.idle()
    await bob.idle()
    assert "after" in [e.text for e in bob.events if isinstance(e, Message)]
