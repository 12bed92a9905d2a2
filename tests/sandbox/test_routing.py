"""Two (and more) wamd clients talking through the sandbox: fan-out, own devices, receipts,
offline delivery, a sandbox restart with queued messages, retry receipts both ways."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.sandbox.routing_helpers import Peer, history_downloaded, pair, reconnect
from wamd.messaging import ReceiptType
from wamd.proto import e2e_pb2
from wamd.sandbox import Sandbox
from wamd.sandbox.messaging import router_of
from wamd.types import JID

A, B = "15550001", "15550002"
A_PN, B_PN = JID(A, "s.whatsapp.net"), JID(B, "s.whatsapp.net")


def text(value: str) -> e2e_pb2.Message:
    return e2e_pb2.Message(conversation=value)


async def drained(sandbox: Sandbox, peer: Peer) -> None:
    """Wait until the sandbox has nothing left queued for ``peer`` (all acknowledged)."""
    jid = peer.client.jid
    assert jid is not None
    router = router_of(sandbox)
    async with asyncio.timeout(10):
        while True:  # the queue lives in SQLite: poll it
            if not await router.queued(jid.user, jid.device):
                return
            await asyncio.sleep(0.05)


async def forget_sessions(peer: Peer, other: str) -> None:
    account = peer.client.device.account
    lid = await account.lid_map.lid_for_pn(other)
    await account.sessions.delete_user(f"{lid}_1")
    await account.sessions.delete_user(other)
    peer.client.messaging.context().cipher.clear_cache()


async def close(*peers: Peer) -> None:
    for peer in peers:
        await peer.client.close()


async def test_two_clients_both_ways_with_receipts(sandbox: Sandbox) -> None:
    alice = await pair(sandbox, A)
    bob = await pair(sandbox, B)
    try:
        sent = await alice.client.send_message(B_PN, text("hello bob"))
        assert sent.server_phash is None
        await bob.wait(lambda: bob.texts == ["hello bob"])
        got = bob.messages[0]
        assert (got.id, got.chat, got.from_me) == (sent.id, A_PN, False)
        assert got.sender == alice.client.jid
        assert got.sender_alt is not None
        assert got.sender_alt.is_lid
        await alice.wait(lambda: any(sent.id in r.ids for r in alice.receipts))
        receipt = next(r for r in alice.receipts if sent.id in r.ids)
        assert receipt.type in (ReceiptType.DELIVERED, ReceiptType.INACTIVE)
        assert receipt.sender == bob.client.jid
        for i in range(3):
            await bob.client.send_message(A_PN, text(f"reply {i}"))
        await alice.wait(lambda: alice.texts == [f"reply {i}" for i in range(3)])
        await drained(sandbox, bob)
        await drained(sandbox, alice)
    finally:
        await close(alice, bob)


async def test_three_devices_fan_out(sandbox: Sandbox) -> None:
    a1 = await pair(sandbox, A)
    a2 = await pair(sandbox, A)
    a3 = await pair(sandbox, A)
    b1 = await pair(sandbox, B)
    try:
        sent = await a1.client.send_message(B_PN, text("to bob from a1"))
        assert set(sent.recipients) >= {a2.client.jid, a3.client.jid, b1.client.jid}
        assert sent.server_phash is None
        await b1.wait(lambda: b1.texts == ["to bob from a1"])
        for own in (a2, a3):
            await own.wait(lambda own=own: own.texts == ["to bob from a1"])  # type: ignore[misc]
            assert own.messages[0].from_me
            assert own.messages[0].chat == B_PN
        await b1.client.send_message(A_PN, text("to all of alice"))
        for peer in (a1, a2, a3):
            await peer.wait(lambda peer=peer: "to all of alice" in peer.texts)  # type: ignore[misc]
        assert a1.texts == ["to all of alice"]
    finally:
        await close(a1, a2, a3, b1)


async def test_offline_delivery_after_reconnect(sandbox: Sandbox) -> None:
    alice = await pair(sandbox, A)
    bob = await pair(sandbox, B)
    try:
        await bob.client.disconnect()
        for i in range(4):
            await alice.client.send_message(B_PN, text(f"offline {i}"))
        assert bob.texts == []
        await reconnect(bob)
        await bob.wait(lambda: bob.texts == [f"offline {i}" for i in range(4)])
        await bob.client.messaging.idle()
    finally:
        await close(alice, bob)


async def test_queued_messages_survive_a_sandbox_restart(tmp_path: Path) -> None:
    state = tmp_path / "sandbox"
    async with Sandbox(state_dir=state, port=0) as first:
        port = first.port
        alice = await pair(first, A)
        bob = await pair(first, B)
        await bob.client.disconnect()
        await alice.client.send_message(B_PN, text("kept across restarts"))
        await alice.client.close()
    async with Sandbox(state_dir=state, port=port):
        await reconnect(bob)
        try:
            await bob.wait(lambda: bob.texts == ["kept across restarts"])
        finally:
            await close(bob)


async def test_retry_receipts_both_ways(sandbox: Sandbox) -> None:
    alice = await pair(sandbox, A)
    bob = await pair(sandbox, B)
    try:
        await alice.client.send_message(B_PN, text("one"))
        await bob.wait(lambda: bob.texts == ["one"])
        await bob.client.send_message(A_PN, text("two"))
        await alice.wait(lambda: alice.texts == ["two"])
        # bob loses his sessions with alice (e.g. a restored backup): alice's next message
        # cannot be decrypted until bob's retry receipts get it sent again
        await forget_sessions(bob, A)
        await alice.client.send_message(B_PN, text("three"))
        await bob.wait(lambda: bob.texts == ["one", "three"])
        # and the other way round
        await forget_sessions(alice, B)
        await bob.client.send_message(A_PN, text("four"))
        await alice.wait(lambda: alice.texts == ["two", "four"])
        assert alice.client.messaging.retry.resent >= 1
        assert bob.client.messaging.retry.resent >= 1
        assert any(r.type == ReceiptType.RETRY for r in alice.receipts)
        assert any(r.type == ReceiptType.RETRY for r in bob.receipts)
    finally:
        await close(alice, bob)


async def test_prekeys_uploaded_at_login_and_refilled_on_a_low_count(sandbox: Sandbox) -> None:
    from wamd.binary import Node
    from wamd.sandbox.prekeys import prekey_count
    from wamd.types import SERVER_JID

    alice = await pair(sandbox, A)
    try:
        jid = alice.client.jid
        assert jid is not None

        async def count() -> int:
            return await sandbox.state.run(lambda db: prekey_count(db, A, jid.device))

        assert await count() == 812
        await sandbox.state.run(
            lambda db: db.execute(
                "DELETE FROM prekeys WHERE phone = ? AND device = ? AND key_id > "
                "(SELECT MIN(key_id) + 1 FROM prekeys WHERE phone = ? AND device = ?)",
                (A, jid.device, A, jid.device),
            )
        )
        assert await count() == 2
        session = sandbox.session_for(jid)
        assert session is not None
        await session.send(
            Node(
                "notification",
                {"from": SERVER_JID, "type": "encrypt", "id": "low-1", "t": "1"},
                [Node("count", {"value": "2"})],
            )
        )
        async with asyncio.timeout(10):
            while True:  # the client answers with an upload
                if await count() != 2:
                    break
                await asyncio.sleep(0.05)
        assert await count() == 52
        stored = await alice.client.device.account.prekeys.count(uploaded=True)
        assert stored >= 52
    finally:
        await close(alice)


async def test_device_notifications_keep_device_lists_current(sandbox: Sandbox) -> None:
    alice = await pair(sandbox, A)
    bob = await pair(sandbox, B)
    extra = None
    try:
        await alice.client.send_message(B_PN, text("before"))
        await bob.wait(lambda: bob.texts == ["before"])
        devices = alice.client.messaging.context().devices
        before = devices.cached(B_PN)
        assert before is not None
        extra = await pair(sandbox, B)  # bob links another device
        new_jid = extra.client.jid
        assert new_jid is not None
        async with asyncio.timeout(10):
            while True:  # the devices notification reaches alice
                listing = devices.cached(B_PN)
                if listing is not None and new_jid in listing.devices:
                    break
                await asyncio.sleep(0.05)
        sent = await alice.client.send_message(B_PN, text("to both"))
        assert new_jid in sent.recipients
        assert sent.server_phash is None
        await extra.wait(lambda: extra is not None and extra.texts == ["to both"])
        await sandbox.admin.remove_device(new_jid)
        async with asyncio.timeout(10):
            while True:  # ... and so does its removal
                listing = devices.cached(B_PN)
                if listing is None or new_jid not in listing.devices:
                    break
                await asyncio.sleep(0.05)
        after = await alice.client.send_message(B_PN, text("after"))
        assert new_jid not in after.recipients
        assert after.server_phash is None
    finally:
        await close(alice, bob)
        if extra is not None:
            await extra.client.close()


async def test_handlers_may_send_while_handling(sandbox: Sandbox) -> None:
    """An echo bot whose handlers await send_message, with a pool of two handlers and a
    small in-flight bound: no deadlock, every message echoed."""
    from wamd.messaging import Message

    alice = await pair(sandbox, A)
    bob = await pair(sandbox, B, max_handlers=2, max_inflight=4, batch_size=2)

    @bob.client.on(Message)
    async def echo(evt: Message) -> None:
        if not evt.from_me:
            await bob.client.send_message(evt.chat, text(f"echo {evt.text}"))

    try:
        for i in range(20):
            await alice.client.send_message(B_PN, text(str(i)))
        await alice.wait(lambda: len(alice.texts) == 20)
        assert sorted(alice.texts) == sorted(f"echo {i}" for i in range(20))  # type: ignore[type-var]
    finally:
        await close(alice, bob)


async def test_paired_peers_download_their_history(sandbox: Sandbox) -> None:
    """The helpers give clients the media host's CA: the history sync after pairing is
    downloaded (without it: CERTIFICATE_VERIFY_FAILED, "history chunk ... not processed")."""
    peer = await pair(sandbox, "15550990")
    try:
        await history_downloaded(sandbox)
    finally:
        await peer.client.close()
