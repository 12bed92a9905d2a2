"""Receipts and notifications through the durable inbox (wamd.messaging.notices): the ack
leaves after the commit, the kind's effect commits with the entry, a stanza sent again is only
acked, pending entries come back after a restart, unreadable ones are refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from tests.messaging.harness import FakeServer, Party
from wamd.binary import Node
from wamd.errors import StoreError
from wamd.messaging.events import Receipt
from wamd.messaging.inbox import Inbox
from wamd.messaging.notices import StanzaKind, StanzaRecorder, dedupe_key
from wamd.messaging.stanzas import parse_receipt
from wamd.store import Contact, SeenMessage, Transaction
from wamd.types import JID

ALICE = JID("15550001", "s.whatsapp.net", device=1)


async def _bob() -> Party:
    server = FakeServer()
    await server.add("15550001", 1)
    return await server.add("15550002", 1)


def _receipt(i: int, kind: str = "read") -> Node:
    return Node("receipt", {"id": f"R{i}", "from": ALICE, "type": kind, "t": "1700000000"})


def _kind(bob: Party, effect: Any = None) -> StanzaKind:
    def parse(node: Node) -> Receipt:
        r = parse_receipt(node, bob.ctx.own)
        return Receipt(r.chat, r.sender, r.ids, r.type, datetime.now(UTC), raw=node)

    return StanzaKind("receipt", parse, effect)


def _acks(bob: Party) -> list[tuple[str, str | None, list[int]]]:
    """Record every ack sent: (id, error, pending inbox entries at that moment)."""
    acks: list[tuple[str, str | None, list[int]]] = []
    send = bob.link.send_node

    async def spy(node: Node) -> None:
        if node.tag == "ack":
            pending = [e.seq for e in await bob.account.inbox.pending()]
            acks.append((str(node.attrs["id"]), node.attrs.get("error"), pending))  # type: ignore[arg-type]
        await send(node)

    bob.link.send_node = spy  # type: ignore[method-assign]
    return acks


async def test_each_stanza_is_stored_with_its_effect_before_its_ack() -> None:
    bob = await _bob()
    acks = _acks(bob)
    release = asyncio.Event()
    seen: list[Receipt] = []

    async def effect(tx: Transaction, evt: Receipt) -> None:
        await tx.contacts.put(Contact(f"effect-{evt.ids[0]}@test"))

    async def slow(evt: Receipt) -> None:
        seen.append(evt)
        await release.wait()

    bob.dispatcher.add(Receipt, slow)
    recorder = StanzaRecorder(bob.ctx, bob.inbox)
    kind = _kind(bob, effect)
    for i in range(5):
        await recorder.submit(_receipt(i), kind)
    await recorder.idle()
    # every ack left after its entry (and the effect) was committed, handlers still running
    assert [a[0] for a in acks] == [f"R{i}" for i in range(5)]
    entries = await bob.account.inbox.pending()
    assert len(entries) == 5
    assert all(e.kind == "receipt" for e in entries)
    for (_, error, pending), entry in zip(acks, entries, strict=True):
        assert error is None
        assert entry.seq in pending
    for i in range(5):
        assert await bob.account.contacts.get(f"effect-R{i}@test") is not None
    await asyncio.sleep(0)
    assert [e.ids[0] for e in seen] == [f"R{i}" for i in range(5)]
    assert [e.seq for e in seen] == [e.seq for e in entries]
    assert not any(e.redelivered for e in seen)

    # "kill -9": the handlers never finished. A new inbox reads the entries back...
    release.set()
    inbox = Inbox(bob.ctx)
    inbox.register(kind.name, kind.decode)
    seen.clear()
    assert await inbox.redeliver() == 5
    await inbox.wait_idle()
    assert [e.ids[0] for e in seen] == [f"R{i}" for i in range(5)]
    assert all(e.redelivered for e in seen)
    assert all(e.raw is not None and e.raw.attrs["id"] == e.ids[0] for e in seen)
    assert await bob.account.inbox.pending() == []
    # ...and the server's copies of stanzas acked (or not) before the crash are only acked
    seen.clear()
    again = StanzaRecorder(bob.ctx, inbox)
    for i in range(5):
        await again.submit(_receipt(i), kind)
    await again.idle()
    await inbox.wait_idle()
    assert seen == []
    assert [a[0] for a in acks[5:]] == [f"R{i}" for i in range(5)]


async def test_a_failing_effect_commits_nothing_and_sends_no_ack() -> None:
    bob = await _bob()
    acks = _acks(bob)
    seen: list[Receipt] = []
    bob.dispatcher.add(Receipt, seen.append)

    async def broken(tx: Transaction, evt: Receipt) -> None:
        await tx.contacts.put(Contact("half@test"))
        raise StoreError("disk full")

    recorder = StanzaRecorder(bob.ctx, bob.inbox)
    await recorder.submit(_receipt(1), _kind(bob, broken))
    await recorder.idle()
    assert acks == []  # the server keeps it and sends it again
    assert await bob.account.inbox.pending() == []
    assert await bob.account.contacts.get("half@test") is None
    assert not await bob.account.seen.contains(dedupe_key(_receipt(1)))
    await recorder.submit(_receipt(1), _kind(bob))
    await recorder.idle()
    await bob.inbox.wait_idle()
    assert [a[0] for a in acks] == ["R1"]
    assert [e.ids for e in seen] == [("R1",)]


async def test_unreadable_stanzas_are_refused_and_not_stored() -> None:
    bob = await _bob()
    acks = _acks(bob)
    recorder = StanzaRecorder(bob.ctx, bob.inbox)
    bad = Node("receipt", {"id": "BAD", "from": "junk"})
    await recorder.submit(bad, _kind(bob))
    no_id = Node("receipt", {"from": ALICE})
    await recorder.submit(no_id, _kind(bob))
    nothing = StanzaKind("nothing", lambda node: None)  # e.g. a picture of a user, not a group
    await recorder.submit(_receipt(7), nothing)
    await recorder.idle()
    assert [(a[0], a[1]) for a in acks] == [("BAD", "487"), ("", "487"), ("R7", None)]
    assert await bob.account.inbox.pending() == []
    assert not await bob.account.seen.contains(dedupe_key(_receipt(7)))


async def test_dedupe_keys_tell_senders_types_and_participants_apart() -> None:
    base = {"id": "X", "from": ALICE, "type": "read"}
    keys = {
        dedupe_key(Node("receipt", base)),
        dedupe_key(Node("receipt", {**base, "type": "played"})),
        dedupe_key(Node("receipt", {**base, "from": JID("15550003", "s.whatsapp.net")})),
        dedupe_key(Node("receipt", {**base, "participant": ALICE})),
        dedupe_key(Node("notification", base)),
    }
    assert len(keys) == 5
    assert dedupe_key(Node("receipt", dict(base))) in keys
    assert all("/" in k.chat for k in keys)  # never a chat JID: message dedupe rows differ
    assert SeenMessage("15550001@s.whatsapp.net", "", "X") not in keys
