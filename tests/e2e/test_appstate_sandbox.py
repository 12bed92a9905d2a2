"""App state end to end: two wamd devices of one account paired with the sandbox by QR, over
real loopback WebSockets. An action on one arrives as the right event on the other.

The sync key is placed in both devices' stores directly: the primary device's key share (an
end-to-end encrypted message) needs the messaging layer.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from wamd.appstate import events as ev
from wamd.appstate.client import AppStateClient
from wamd.client import Client
from wamd.conn.options import ServerInfo
from wamd.media import MediaClient, media_conn_fetcher
from wamd.sandbox import Sandbox
from wamd.sandbox.appstate import server_of
from wamd.sandbox.testing import pair, running_sandbox, server_info
from wamd.store import MemoryStore
from wamd.store.types import AppStateSyncKey
from wamd.types import JID

PHONE = "15557770000"
CHAT = JID.parse("15551230000@s.whatsapp.net")


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with running_sandbox() as box:
        yield box


async def _paired(sandbox: Sandbox) -> Client:
    client = Client(MemoryStore(), server=server_info(sandbox))
    await pair(sandbox, client, PHONE)
    return client


async def test_two_devices_see_each_others_actions(sandbox: Sandbox) -> None:
    a, b = await _paired(sandbox), await _paired(sandbox)
    assert sandbox.media is not None
    media_client = MediaClient(media_conn_fetcher(a.request), ca_file=sandbox.media.ca_file)
    try:
        key = AppStateSyncKey(os.urandom(6), os.urandom(32), timestamp=1)
        for client in (a, b):
            await client.device.account.app_state_keys.put(key)
        download = media_client.download
        state_a = AppStateClient(
            a, lambda: a.device.account, download=download, sync_on_login=False
        )
        state_b = AppStateClient(
            b, lambda: b.device.account, download=download, sync_on_login=False
        )
        seen: asyncio.Queue[ev.AppStateEvent] = asyncio.Queue()

        @b.on(ev.MutationEvent)
        async def collect(evt: ev.AppStateEvent) -> None:
            await seen.put(evt)

        await state_a.mute(CHAT)
        first = await asyncio.wait_for(seen.get(), 20)
        assert isinstance(first, ev.Mute)
        assert (first.chat, first.muted, first.until_ms) == (CHAT, True, -1)
        await state_a.pin(CHAT)
        pin = await asyncio.wait_for(seen.get(), 20)
        assert isinstance(pin, ev.Pin)
        assert pin.pinned
        await state_b.sync()
        assert await server_of(sandbox).versions(PHONE) == {"regular_high": 1, "regular_low": 1}
        settings = await b.device.account.chat_settings.get(str(CHAT))
        assert settings.muted_until == -1
        assert settings.pinned
    finally:
        await media_client.close()
        await a.close()
        await b.close()


async def test_offline_device_catches_up_after_restart_and_recovers(
    sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    # snapshots travel as encrypted blobs on the sandbox's media host (HTTPS), fetched with
    # wamd's media client (media_conn asked over the device's own connection)
    assert sandbox.media is not None
    assert server_of(sandbox).publish_blob is not None
    a, b = await _paired(sandbox), await _paired(sandbox)
    media_client = MediaClient(media_conn_fetcher(a.request), ca_file=sandbox.media.ca_file)
    download = media_client.download
    b_store = b.store
    key = AppStateSyncKey(os.urandom(6), os.urandom(32), timestamp=1)
    for client in (a, b):
        await client.device.account.app_state_keys.put(key)
    state_a = AppStateClient(a, lambda: a.device.account, download=download)
    state_b1 = AppStateClient(b, lambda: b.device.account, download=download)
    await state_a.mute(CHAT)
    await state_a.archive(CHAT)
    await state_b1.sync()  # b is at regular_high v1, regular_low v1
    assert (await b.device.account.app_state.get_version("regular_high")).version == 1
    await b.close()  # b goes offline (its store persists)
    await state_a.mute(CHAT, False)
    await state_a.pin(CHAT)
    await state_a.mute(CHAT, until_ms=1_900_000_000_000)
    await server_of(sandbox).corrupt_patch_mac(PHONE, "regular_high", 2)

    # b comes back from its stored session: the login hook syncs every collection; the
    # corrupt regular_high v2 fails its patch MAC, so b resyncs that collection from a snapshot
    b2 = Client(b_store, server=ServerInfo(sandbox.url, sandbox.root_public_key))
    seen: list[ev.AppStateEvent] = []
    done = asyncio.Event()

    @b2.on(ev.AppStateEvent)
    async def collect(evt: ev.AppStateEvent) -> None:
        seen.append(evt)
        if isinstance(evt, ev.Mute) and evt.until_ms == 1_900_000_000_000:
            done.set()

    state_b = AppStateClient(b2, lambda: b2.device.account, download=download)
    await b2.connect()
    try:
        await b2.wait_until_connected(timeout=30)
        await asyncio.wait_for(done.wait(), 20)
        assert state_b.engine.failures == {}
        for name in ("regular_high", "regular_low"):
            ours = await b2.device.account.app_state.get_version(name)
            theirs = await a.device.account.app_state.get_version(name)
            assert ours == theirs
        settings = await b2.device.account.chat_settings.get(str(CHAT))
        assert (settings.muted_until, settings.archived, settings.pinned) == (
            1_900_000_000,
            True,
            True,
        )
        assert any(
            isinstance(e, ev.AppStateSyncComplete) and e.collection == "regular_high" for e in seen
        )
        assert "regular_high failed" in caplog.text  # the corrupt v2 was caught...
        assert "resyncing from a snapshot" in caplog.text  # ...and repaired
    finally:
        await media_client.close()
        await a.close()
        await b2.close()
