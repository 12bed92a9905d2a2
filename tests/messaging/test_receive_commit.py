"""What the receive path commits and keeps: message secrets in the receive transaction, the
inbox payload form (and the JSON form of earlier versions), done marks written by a clean
``Client.close``."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.messaging.harness import FakeServer
from tests.sandbox.routing_helpers import TIMEOUT, pair, server_of
from wamd.client import Client
from wamd.errors import MalformedNode
from wamd.messaging import Message, builders
from wamd.messaging.addresses import AddressBook, AddressLocks
from wamd.messaging.send import send_message
from wamd.pairing.credentials import new_credentials
from wamd.proto import e2e_pb2
from wamd.sandbox import Sandbox
from wamd.store import MemoryStore
from wamd.store.sqlite import SQLiteStore
from wamd.types import JID

ALICE = JID("15550001", "s.whatsapp.net")
BOB = JID("15550002", "s.whatsapp.net")


async def test_a_received_secret_commits_with_its_message() -> None:
    """The poll's secret is in the store when its handlers run, with no handler storing it
    (the harness has no MessageKinds): the receive transaction wrote it."""
    server = FakeServer()
    alice = await server.add("15550001", 1)
    bob = await server.add("15550002", 1)
    found: list[bytes | None] = []

    async def look(evt: Message) -> None:
        found.append(await bob.account.message_secrets.get(str(ALICE), str(ALICE), evt.id))

    bob.dispatcher.add(Message, look)
    poll = builders.poll("Lunch?", ["pizza", "sushi"])
    sent = await send_message(alice.ctx, BOB, poll)
    await bob.idle()
    secret = poll.message_context_info.message_secret
    assert found == [secret]
    lid = JID(server.lids["15550001"], "lid")  # the sender's other form is kept too
    assert await bob.account.message_secrets.get(str(ALICE), str(lid), sent.id) == secret


def _event(**changes: object) -> Message:
    fields: dict[str, object] = {
        "id": "3EB0ABC",
        "chat": JID("120363", "g.us"),
        "sender": JID("15550001", "s.whatsapp.net", device=3),
        "from_me": False,
        "timestamp": datetime.fromtimestamp(1_700_000_000, UTC),
        "message": e2e_pb2.Message(conversation="héllo \x00 there"),
        "sender_alt": JID("9001", "lid", device=3),
        "push_name": "Ali\x00ce ✨",
        "is_group": True,
        "type": "text",
        "edit": "1",
        "category": "peer",
        "retry_count": 2,
    }
    fields.update(changes)
    return Message(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "changes",
    [{}, {"sender_alt": None, "is_group": False, "from_me": True, "push_name": "", "edit": ""}],
)
def test_inbox_payload_round_trip(changes: dict[str, object]) -> None:
    event = _event(**changes)
    back = Message.from_payload(event.to_payload(), seq=7)
    assert back == _event(**changes, redelivered=True, seq=7)


def test_json_payloads_of_earlier_versions_are_read() -> None:
    event = _event()
    legacy = json.dumps(
        {
            "v": 1,
            "id": event.id,
            "chat": str(event.chat),
            "sender": str(event.sender),
            "from_me": False,
            "t": 1_700_000_000,
            "message": base64.b64encode(event.message.SerializeToString()).decode(),
            "push_name": event.push_name,
            "is_group": True,
            "type": "text",
            "edit": "1",
            "category": "peer",
            "retry_count": 2,
            "sender_alt": str(event.sender_alt),
        }
    ).encode()
    assert Message.from_payload(legacy, seq=3) == _event(redelivered=True, seq=3)


@pytest.mark.parametrize("cut", [1, 5, 30, 60])
def test_a_damaged_payload_is_a_typed_error(cut: int) -> None:
    payload = _event().to_payload()
    with pytest.raises(MalformedNode):
        Message.from_payload(payload[:cut])
    with pytest.raises(MalformedNode):
        Message.from_payload(b"\x09" + payload[1:])


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(state_dir=tmp_path / "sandbox", port=0) as running:
        yield running


async def test_a_clean_close_writes_the_done_marks(sandbox: Sandbox, tmp_path: Path) -> None:
    """A message whose handler returned is not handed to the handlers again after a clean
    close and restart (the done mark is written before the client closes its store)."""
    db = tmp_path / "bob.db"
    store = await SQLiteStore.open(db)
    bob = await pair(sandbox, "15550002222", store)
    await bob.client.close()
    await store.close()
    alice = await pair(sandbox, "15550001111")
    try:
        for round_ in range(2):
            client = Client(str(db), server=server_of(sandbox))
            handled: list[Message] = []
            got = asyncio.Event()

            @client.on(Message)
            def on_message(
                evt: Message, handled: list[Message] = handled, got: asyncio.Event = got
            ) -> None:
                handled.append(evt)
                got.set()

            await client.connect()
            await client.wait_until_connected(timeout=TIMEOUT)
            if round_ == 0:
                await alice.client.send_text(BOB_USER, "once")
                await asyncio.wait_for(got.wait(), TIMEOUT)
                await asyncio.sleep(0)  # the handler's task has finished
            else:
                await asyncio.sleep(0.5)  # a redelivery would come with the login
            await client.close()
            assert [(m.text, m.redelivered) for m in handled] == (
                [("once", False)] if round_ == 0 else []
            )
        reopened = await SQLiteStore.open(db)
        try:
            (info,) = await reopened.accounts()
            assert await (await reopened.account(info.id)).inbox.pending() == []
        finally:
            await reopened.close()
    finally:
        await alice.client.close()


BOB_USER = JID("15550002222", "s.whatsapp.net")


async def test_a_stanza_queued_while_a_batch_runs_is_processed_without_another_frame() -> None:
    """No lost wake-up: a stanza that arrives while its chat's worker is in the middle of a
    batch is taken by the same worker when the batch ends, with no further frame to
    trigger it."""
    server = FakeServer()
    alice = await server.add("15550001", 1)
    bob = await server.add("15550002", 1)
    bob.online = False
    for i in range(2):
        await send_message(alice.ctx, BOB, e2e_pb2.Message(conversation=f"w{i}"))
    first, second = server.queues.pop((bob.phone, bob.device))
    sender = JID("15550001", "s.whatsapp.net", device=1)
    async with bob.ctx.book.lock([sender]):  # the worker's first batch waits on this lock
        await bob.deliver(first)
        await asyncio.sleep(0.05)
        assert bob.receiver.batches == 1  # the batch of the first stanza is running
        await bob.deliver(second)  # queued while that batch runs
    async with asyncio.timeout(5):
        await bob.idle()
    texts = [e.text for e in bob.events if isinstance(e, Message)]
    assert texts == ["w0", "w1"]
    assert bob.receiver.batches == 2


async def test_address_locks_are_released_when_a_waiter_is_cancelled() -> None:
    locks = AddressLocks()
    a, b = locks.get("a"), locks.get("b")  # (kept: the registry holds locks weakly)
    async with locks.hold(["b"]):
        waiter = asyncio.ensure_future(locks.hold(["a", "b"]).__aenter__())
        await asyncio.sleep(0.01)
        assert a.locked()  # taken first (sorted order), waiting for "b"
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert not a.locked()
    async with locks.hold(["b", "a", "b"]):
        assert a.locked()
        assert b.locked()
    assert not a.locked()
    assert not b.locked()


async def test_done_marks_ride_on_the_next_receive_commit() -> None:
    """While messages flow, the done marks of handled entries are written by the next
    receive transaction that finds ``carry_min`` of them (none of their own); the rest by
    the delayed flush or idle()."""
    server = FakeServer()
    alice = await server.add("15550001", 1)
    bob = await server.add("15550002", 1)
    inbox = bob.inbox
    assert inbox.carry_min > 1
    inbox.carry_min = 2
    handled: list[Message] = []
    bob.dispatcher.add(Message, handled.append)
    for text in ("one", "two", "three"):
        await send_message(alice.ctx, BOB, e2e_pb2.Message(conversation=text))
        await bob.receiver.idle()
        await asyncio.sleep(0.01)  # the handler's task has finished: its mark waits
    third = handled[2]
    # "two"'s commit found one mark (not carried); "three"'s found two and carried them
    assert [e.seq for e in await bob.account.inbox.pending()] == [third.seq]
    await bob.idle()  # writes the last one's mark at once (no flush delay to wait for)
    assert await bob.account.inbox.pending() == []
    assert [m.text for m in handled] == ["one", "two", "three"]


async def test_a_pair_learned_twice_at_once_is_written_once() -> None:
    """A receive batch and a group send learning the same LID at once write it once (two
    concurrent replacements of one row collide on PostgreSQL)."""
    account = await MemoryStore().new_account(new_credentials())
    book = AddressBook(account)
    writes: list[list[tuple[str, str]]] = []
    put_many = account.lid_map.put_many

    async def slow_put_many(rows: list[tuple[str, str]]) -> None:
        writes.append(list(rows))
        await asyncio.sleep(0)  # the other caller runs meanwhile
        await put_many(rows)

    account.lid_map.put_many = slow_put_many  # type: ignore[method-assign]
    lid, pn = JID("9001", "lid"), JID("15550001", "s.whatsapp.net")
    await asyncio.gather(book.remember([(lid, pn)]), book.remember([(lid, pn)]))
    assert writes == [[("9001", "15550001")]]
    assert await book.lid_user("15550001") == "9001"
