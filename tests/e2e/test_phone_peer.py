"""The sandbox phone shares the app-state key and history with newly linked wamd devices,
end-to-end encrypted: no key is placed in any store by hand."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from wamd import events
from wamd.appstate import events as ev
from wamd.appstate.client import AppStateClient
from wamd.appstate.peer import send_to_own_devices
from wamd.client import Client
from wamd.conn.options import ServerInfo
from wamd.history.client import HistoryClient
from wamd.history.events import HistorySync
from wamd.media import MediaClient, media_conn_fetcher
from wamd.messaging.events import Message
from wamd.proto import history_pb2
from wamd.sandbox import Sandbox
from wamd.sandbox.phone_peer import peer_of
from wamd.sandbox.server import DEFAULT_MODULES
from wamd.sandbox.testing import running_sandbox
from wamd.store import MemoryStore
from wamd.store.types import AppStateSyncKey
from wamd.types import JID

PHONE = "15554440000"
CHAT = JID.parse("15551112222@s.whatsapp.net")


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with running_sandbox(modules=(*DEFAULT_MODULES, "wamd.sandbox.phone_peer")) as box:
        yield box


class Linked:
    """A wamd device linked by QR, with app state and history wired to its messages."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.client = Client(MemoryStore(), server=ServerInfo(sandbox.url, sandbox.root_public_key))
        assert sandbox.media is not None
        self.media = MediaClient(
            media_conn_fetcher(self.client.request), ca_file=sandbox.media.ca_file
        )
        self.app_state = AppStateClient(
            self.client,
            lambda: self.client.device.account,
            download=self.media.download,
            send_to_own=lambda message: send_to_own_devices(self.client, message),
        )
        self.history = HistoryClient(
            self.client, lambda: self.client.device.account, download=self.media.download
        )
        self.client.add_event_handler(Message, self.app_state.on_message)
        self.client.add_event_handler(Message, self.history.on_message)
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

    async def close(self) -> None:
        await self.media.close()
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

        await a.app_state.mute(CHAT)
        mute = await asyncio.wait_for(b.events.get(), 20)
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
        await a.app_state.pin(CHAT)  # encoded with the newer key
        pin = await asyncio.wait_for(b.events.get(), 30)
        assert isinstance(pin, ev.Pin)
        assert pin.chat == CHAT
        assert await b.client.device.account.app_state_keys.get(newer.key_id) == newer
        assert b.app_state.engine.blocked == set()
    finally:
        await a.close()
        await b.close()
