"""The message path end to end through an in-memory server (no sockets)."""

from __future__ import annotations

from tests.messaging.harness import FakeServer, Party
from wamd.messaging.events import Message, Receipt, UndecryptableMessage
from wamd.messaging.send import send_message
from wamd.proto import e2e_pb2
from wamd.types import JID


def _text(text: str) -> e2e_pb2.Message:
    return e2e_pb2.Message(conversation=text)


def _messages(party: Party) -> list[Message]:
    return [e for e in party.events if isinstance(e, Message)]


async def test_two_users_both_ways() -> None:
    server = FakeServer()
    alice = await server.add("15550001", 1)
    bob = await server.add("15550002", 1)
    first = await send_message(alice.ctx, JID("15550002", "s.whatsapp.net"), _text("hi bob"))
    await bob.idle()
    got = _messages(bob)
    assert [m.text for m in got] == ["hi bob"]
    assert got[0].id == first.id
    assert got[0].sender == alice.jid
    assert got[0].sender_alt == alice.lid
    assert not got[0].from_me
    assert bob.jid in first.recipients
    await send_message(bob.ctx, JID("15550001", "s.whatsapp.net"), _text("hi alice"))
    await send_message(bob.ctx, JID("15550001", "s.whatsapp.net"), _text("again"))
    await alice.idle()
    assert [m.text for m in _messages(alice)] == ["hi alice", "again"]
    receipts = [e for e in alice.events if isinstance(e, Receipt)]
    assert first.id in {i for r in receipts for i in r.ids}
    assert await bob.account.inbox.pending() == []


async def test_fan_out_to_three_devices_and_own_devices() -> None:
    server = FakeServer()
    a1 = await server.add("15550001", 1)
    a2 = await server.add("15550001", 2)
    a3 = await server.add("15550001", 3)
    b1 = await server.add("15550002", 1)
    b2 = await server.add("15550002", 4)
    result = await send_message(a1.ctx, JID("15550002", "s.whatsapp.net"), _text("fan"))
    for party in (a2, a3, b1, b2):
        await party.idle()
    assert set(result.recipients) == {a2.jid, a3.jid, b1.jid, b2.jid}
    for party in (b1, b2):
        (msg,) = _messages(party)
        assert (msg.text, msg.from_me, msg.chat) == ("fan", False, a1.jid.to_non_ad())
    for party in (a2, a3):
        (msg,) = _messages(party)
        assert msg.text == "fan"
        assert msg.from_me
        assert msg.chat == JID("15550002", "s.whatsapp.net")
    # replies from b2 reach every device of both accounts except b2
    await send_message(b2.ctx, JID("15550001", "s.whatsapp.net"), _text("back"))
    for party in (a1, a2, a3, b1):
        await party.idle()
        assert _messages(party)[-1].text == "back"


async def test_offline_delivery_and_redelivery_dedupe() -> None:
    server = FakeServer()
    alice = await server.add("15550001", 1)
    bob = await server.add("15550002", 1)
    bob.online = False
    for i in range(5):
        await send_message(alice.ctx, JID("15550002", "s.whatsapp.net"), _text(f"m{i}"))
    assert _messages(bob) == []
    queued = list(server.queues[(bob.phone, bob.device)])
    await server.reconnect(bob)
    await bob.idle()
    assert [m.text for m in _messages(bob)] == [f"m{i}" for i in range(5)]
    for node in queued:  # the server delivers them again (our receipts got lost)
        await bob.deliver(node)
    await bob.idle()
    assert len(_messages(bob)) == 5


async def test_broken_session_recovers_through_retry_receipts() -> None:
    server = FakeServer()
    alice = await server.add("15550001", 1)
    bob = await server.add("15550002", 1)
    await send_message(alice.ctx, JID("15550002", "s.whatsapp.net"), _text("one"))
    await bob.idle()
    # bob loses his session with alice (e.g. restored an old backup)
    await bob.account.sessions.delete_user(server.lids[alice.phone] + "_1")
    await bob.account.sessions.delete_user(alice.phone)
    bob.ctx.cipher.clear_cache()  # written behind the cipher's back: it must be told
    await send_message(alice.ctx, JID("15550002", "s.whatsapp.net"), _text("two"))
    await bob.idle()
    await alice.idle()
    await bob.idle()
    assert [m.text for m in _messages(bob)] == ["one", "two"]
    assert alice.retry.resent >= 1
    assert not [e for e in bob.events if isinstance(e, UndecryptableMessage)]


async def test_retry_budget_ends_in_undecryptable() -> None:
    server = FakeServer()
    alice = await server.add("15550001", 1)
    bob = await server.add("15550002", 1)

    async def corrupt(target: Party, node: object) -> object:
        from wamd.binary import Node

        assert isinstance(node, Node)
        if target is bob and node.tag == "message":
            enc = node.require_child("enc")
            data = bytearray(enc.content_bytes())
            data[-3] ^= 0xFF
            enc.content = bytes(data)
        return node

    server.tamper = corrupt  # type: ignore[assignment]
    await send_message(alice.ctx, JID("15550002", "s.whatsapp.net"), _text("lost"))
    for _ in range(8):
        await bob.idle()
        await alice.idle()
    undecryptable = [e for e in bob.events if isinstance(e, UndecryptableMessage)]
    assert len(undecryptable) == 1
    assert undecryptable[0].retry_count == 5
    assert _messages(bob) == []


async def test_a_reinstalled_contact_device_is_accepted_and_reported() -> None:
    from wamd.messaging.events import IdentityChanged

    server = FakeServer()
    alice = await server.add("15550001", 1)
    bob = await server.add("15550002", 1)
    await send_message(alice.ctx, JID("15550002", "s.whatsapp.net"), _text("before"))
    await bob.idle()
    await send_message(bob.ctx, JID("15550001", "s.whatsapp.net"), _text("hi"))
    await alice.idle()
    # alice had given bob's device her sender key in a group
    group = "120363000000000009@g.us"
    bob_device = JID("15550002", "s.whatsapp.net", device=1).signal_address
    await alice.account.sender_key_distribution.mark_sent(group, [bob_device, "someone.0:2"])
    # bob reinstalls: same device, new identity key and sessions
    server.bundles.pop(("15550002", 1))
    await server.store.delete_account(bob.account.id)
    new_bob = await server.add("15550002", 1)
    await send_message(new_bob.ctx, JID("15550001", "s.whatsapp.net"), _text("new phone"))
    await alice.idle()
    assert [m.text for m in _messages(alice)] == ["hi", "new phone"]
    changes = [e for e in alice.events if isinstance(e, IdentityChanged)]
    assert len(changes) == 1
    assert changes[0].jid.device == 1
    # the reinstalled device no longer counts as holding alice's sender key; others still do
    assert await alice.account.sender_key_distribution.sent_to(group) == {"someone.0:2"}
