"""The sandbox phone shares the app-state key and history with newly linked wamd devices,
end-to-end encrypted: no key is placed in any store by hand."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wamd import events
from wamd.appstate import events as ev
from wamd.appstate.actions import MessageRef
from wamd.client import Client
from wamd.history.events import HistorySync
from wamd.history.parse import HistorySyncType
from wamd.proto import history_pb2
from wamd.sandbox import Sandbox
from wamd.sandbox.phone_peer import peer_of
from wamd.sandbox.testing import running_sandbox, server_info
from wamd.store import MemoryStore, Store
from wamd.store.sqlite import SQLiteStore
from wamd.store.types import AppStateSyncKey
from wamd.types import JID

PHONE = "15554440000"
CHAT = JID.parse("15551112222@s.whatsapp.net")


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with running_sandbox() as box:
        yield box


class Linked:
    """A wamd device linked by QR: the Client wires app state and history by itself."""

    def __init__(self, sandbox: Sandbox, store: Store | None = None) -> None:
        self.client = Client(store or MemoryStore(), server=server_info(sandbox))
        self.events: asyncio.Queue[events.Event] = asyncio.Queue()
        self.client.add_event_handler(ev.MutationEvent, self.events.put)
        self.client.add_event_handler(HistorySync, self.events.put)

        @self.client.on(events.QR)
        async def scan(evt: events.QR) -> None:
            await sandbox.admin.scan_qr(evt.text, PHONE)

    async def start(self) -> None:
        await self.client.connect()
        await self.client.wait_until_connected(timeout=30)

    async def key_arrived(self) -> None:
        for _ in range(400):  # the share is handled in a handler task of its own
            if await self.client.device.account.app_state_keys.latest() is not None:
                return
            await asyncio.sleep(0.05)
        raise AssertionError("no app-state key share arrived")

    async def next(self, kind: type[events.Event]) -> events.Event:
        """The next event of ``kind`` (others skipped)."""
        async with asyncio.timeout(30):
            while not isinstance(got := await self.events.get(), kind):
                pass
        return got

    async def close(self) -> None:
        await self.client.close()


async def test_key_share_and_history_at_pairing(sandbox: Sandbox) -> None:
    history = history_pb2.HistorySync(sync_type=history_pb2.HistorySync.INITIAL_BOOTSTRAP)
    conv = history.conversations.add(id=str(CHAT), name="Old friend")
    item = conv.messages.add(msg_order_id=1)
    item.message.key.remote_jid = str(CHAT)
    item.message.key.id = "OLD1"
    item.message.message.conversation = "remember me?"
    item.message.message_timestamp = 1_600_000_000
    await sandbox.admin.create_account(PHONE)
    await peer_of(sandbox).seed_history(PHONE, history)

    a, b = Linked(sandbox), Linked(sandbox)
    try:
        await a.start()
        got = await asyncio.wait_for(a.events.get(), 20)
        assert isinstance(got, HistorySync)
        [chat] = got.data.conversations
        assert (chat.id, chat.name) == (CHAT, "Old friend")
        assert chat.messages[0].message.conversation == "remember me?"
        await a.key_arrived()
        await b.start()
        await b.key_arrived()
        assert await a.client.device.account.app_state_keys.latest() == (
            await b.client.device.account.app_state_keys.latest()
        )
        assert isinstance(await asyncio.wait_for(b.events.get(), 20), HistorySync)

        await a.client.mute_chat(CHAT)
        mute = await b.next(ev.Mute)
        assert isinstance(mute, ev.Mute)
        assert mute.chat == CHAT
    finally:
        await a.close()
        await b.close()


async def test_a_device_without_the_key_asks_its_sibling(sandbox: Sandbox) -> None:
    """a starts using a newer key that b never got: b's sync parks the collection and b asks
    its own devices; a answers with a key share (peer messages, end-to-end encrypted) and b
    catches up."""
    await sandbox.admin.create_account(PHONE)
    a, b = Linked(sandbox), Linked(sandbox)
    try:
        await a.start()
        await a.key_arrived()
        await b.start()
        await b.key_arrived()
        newer = AppStateSyncKey(
            os.urandom(6), os.urandom(32), timestamp=2**50
        )  # newer than the phone's (ms)
        await a.client.device.account.app_state_keys.put(newer)
        await a.client.pin_chat(CHAT)  # encoded with the newer key
        pin = await b.next(ev.Pin)
        assert isinstance(pin, ev.Pin)
        assert pin.chat == CHAT
        assert await b.client.device.account.app_state_keys.get(newer.key_id) == newer
        assert b.client.appstate.engine.blocked == set()
    finally:
        await a.close()
        await b.close()


async def test_a_new_device_gets_history_by_default_and_on_demand(sandbox: Sandbox) -> None:
    """Nothing seeded: the phone still sends an INITIAL_BOOTSTRAP chunk (a blob on the media
    host) with the push names and LIDs the sandbox knows; the client stores them. Then an
    on-demand request (a peer message to the phone) is answered with older messages."""
    other = await sandbox.admin.create_account("15554441111")
    await sandbox.state.update_account("15554441111", push_name="Olga")
    a = Linked(sandbox)
    try:
        await a.start()
        got = await a.next(HistorySync)
        assert isinstance(got, HistorySync)
        assert got.notification.sync_type == HistorySyncType.INITIAL_BOOTSTRAP
        assert not got.notification.inline  # downloaded from the media host
        olga = JID("15554441111", "s.whatsapp.net")
        assert got.data.push_names[olga] == "Olga"
        account = a.client.device.account
        assert (await account.contacts.get(str(olga))).push_name == "Olga"
        assert await account.lid_map.lid_for_pn("15554441111") == other.lid

        history = history_pb2.HistorySync(sync_type=history_pb2.HistorySync.INITIAL_BOOTSTRAP)
        conv = history.conversations.add(id=str(CHAT))
        for i in range(5):
            item = conv.messages.add(msg_order_id=i)
            item.message.key.remote_jid = str(CHAT)
            item.message.key.id = f"OLD{i}"
            item.message.message.conversation = f"message {i}"
            item.message.message_timestamp = 1_600_000_000 + i
        await peer_of(sandbox).seed_history(PHONE, history)
        oldest = MessageRef(CHAT, "OLD3", from_me=False, timestamp=1_600_000_003)
        request_id = await a.client.request_history(CHAT, oldest, count=2)
        answer = await a.next(HistorySync)
        assert isinstance(answer, HistorySync)
        assert answer.notification.sync_type == HistorySyncType.ON_DEMAND
        assert answer.notification.peer_data_request_session_id == request_id
        [chat] = answer.data.conversations
        assert [m.key.id for m in chat.messages] == ["OLD1", "OLD2"]
    finally:
        await a.close()


async def test_the_phone_answers_a_key_request(sandbox: Sandbox) -> None:
    """a writes with a key only it and the phone hold, then goes offline; b logs in again:
    its sync parks the collection and asks its own devices; the phone (which reads its
    companions' peer messages) answers with the key, and b catches up."""
    await sandbox.admin.create_account(PHONE)
    a, b = Linked(sandbox), Linked(sandbox)
    await a.start()
    await a.key_arrived()
    await b.start()
    await b.key_arrived()
    newer = AppStateSyncKey(os.urandom(6), os.urandom(32), timestamp=2**50)
    await peer_of(sandbox).add_app_state_key(PHONE, newer)
    b_store = b.client.store
    await b.close()
    try:
        await a.client.device.account.app_state_keys.put(newer)
        await a.client.archive_chat(CHAT)  # encoded with the newer key
    finally:
        await a.close()  # a cannot answer b: only the phone can
    b = Linked(sandbox, b_store)
    try:
        await b.start()
        archived = await b.next(ev.Archive)
        assert archived.chat == CHAT
        assert await b.client.device.account.app_state_keys.get(newer.key_id) == newer
        assert b.client.appstate.engine.blocked == set()
    finally:
        await b.close()


async def test_a_history_chunk_whose_handler_did_not_finish_comes_again_after_a_restart(
    sandbox: Sandbox, tmp_path: Path
) -> None:
    """The chunk is a durable inbox entry (committed with its push names and the announcing
    message's done mark): closed while its handler runs, the device dispatches it again,
    read back from the store, at its next login; finished, never again."""
    hang = asyncio.Event()  # never set: the handler is cut by the close
    got: list[HistorySync] = []
    for run in range(3):
        store = await SQLiteStore.open(tmp_path / "a.db")
        device = Linked(sandbox, store)
        if run == 0:
            device.client.add_event_handler(HistorySync, lambda _: hang.wait())
        try:
            await device.start()
            if run < 2:
                chunk = await device.next(HistorySync)
                assert isinstance(chunk, HistorySync)
                got.append(chunk)
            if run == 2:
                await asyncio.sleep(0.5)
                assert device.events.empty()  # finished: not dispatched again
        finally:
            await device.close()
            await store.close()
    first, again = got
    assert first.seq > 0
    assert not first.redelivered
    assert (again.seq, again.redelivered) == (first.seq, True)
    assert again.notification.sync_type == first.notification.sync_type
    assert again.data.push_names == first.data.push_names
    assert again.data.raw == first.data.raw
