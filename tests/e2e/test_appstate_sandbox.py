"""App state end to end, through the :class:`wamd.Client` facade only: two wamd devices of one
account paired with the sandbox by QR, over real loopback WebSockets, each with its own SQLite
store. The sandbox's phone shares the app-state sync key with each new device (end-to-end
encrypted); every action on one device arrives as the right event on the other, and the state
survives restarts of both (close + a new ``Client`` on the same store).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from wamd.appstate import events as ev
from wamd.appstate.actions import MessageRef
from wamd.client import Client
from wamd.events import Event
from wamd.sandbox import Sandbox
from wamd.sandbox.appstate import server_of
from wamd.sandbox.testing import pair, running_sandbox, server_info
from wamd.types import JID

PHONE = "15557770000"
CHAT = JID.parse("15551230000@s.whatsapp.net")
OTHER = JID.parse("15551239999@s.whatsapp.net")
WAIT = 30.0


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with running_sandbox() as box:
        yield box


class Device:
    """One wamd device of the account: a Client on an SQLite store, its events queued."""

    def __init__(self, sandbox: Sandbox, path: Path) -> None:
        self.sandbox = sandbox
        self.path = path
        self.client = self._new_client()

    def _new_client(self) -> Client:
        client = Client(self.path, server=server_info(self.sandbox))
        self.events: asyncio.Queue[Event] = asyncio.Queue()
        client.add_event_handler(ev.AppStateEvent, self.events.put)
        return client

    async def pair(self) -> None:
        await pair(self.sandbox, self.client, PHONE)
        await until(self.has_key)

    async def has_key(self) -> bool:
        return await self.client.device.account.app_state_keys.latest() is not None

    async def restart(self) -> None:
        """Close the client and start a new one on the same store (its session logs in)."""
        await self.client.close()
        self.client = self._new_client()
        await self.client.connect()
        await self.client.wait_until_connected(timeout=WAIT)

    async def next(self, kind: type[ev.AppStateEvent], **expected: object) -> ev.AppStateEvent:
        """The next event of ``kind`` with these field values (others are skipped)."""
        async with asyncio.timeout(WAIT):
            while True:
                got = await self.events.get()
                if isinstance(got, kind) and all(getattr(got, k) == v for k, v in expected.items()):
                    return got


@pytest.fixture
async def devices(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[tuple[Device, Device]]:
    """Two devices of the account, paired (each with the sync key); closed at the end."""
    a, b = Device(sandbox, tmp_path / "a.sqlite"), Device(sandbox, tmp_path / "b.sqlite")
    try:
        await a.pair()
        await b.pair()
        yield a, b
    finally:
        await a.client.close()
        await b.client.close()


async def until(check: Callable[[], Awaitable[bool]]) -> None:
    for _ in range(int(WAIT / 0.05)):
        if await check():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{check} still false after {WAIT} s")


async def test_actions_arrive_on_the_other_device_and_survive_restarts(
    sandbox: Sandbox, devices: tuple[Device, Device]
) -> None:
    a, b = devices
    message = MessageRef(CHAT, "3EB0STARRED", from_me=False, timestamp=1_700_000_000)

    await a.client.mute_chat(CHAT)
    mute = await b.next(ev.Mute)
    assert (mute.chat, mute.muted, mute.until_ms) == (CHAT, True, -1)
    await a.client.pin_chat(CHAT)
    await b.next(ev.Pin, chat=CHAT, pinned=True)
    await a.client.archive_chat(OTHER)
    await b.next(ev.Archive, chat=OTHER, archived=True)
    await a.client.star_message(message)
    star = await b.next(ev.Star, message_id="3EB0STARRED")
    assert (star.chat, star.starred, star.from_me) == (CHAT, True, False)
    await a.client.edit_label("7", "Customers", color=3)
    label = await b.next(ev.LabelEdit, label_id="7")
    assert (label.name, label.color, label.deleted) == ("Customers", 3, False)
    await a.client.label_chat(CHAT, "7")
    await b.next(ev.LabelAssociation, label_id="7", chat=CHAT, labeled=True)
    await a.client.mark_chat_unread(CHAT)
    await b.next(ev.MarkChatAsRead, chat=CHAT, read=False)
    await a.client.delete_for_me(message, delete_media=True)
    gone = await b.next(ev.DeleteForMe, message_id="3EB0STARRED")
    assert (gone.chat, gone.delete_media, gone.message_timestamp) == (CHAT, True, 1_700_000_000)
    await a.client.save_contact(OTHER, full_name="Ann Lee", first_name="Ann")
    contact = await b.next(ev.Contact, jid=OTHER)
    assert (contact.full_name, contact.first_name, contact.removed) == ("Ann Lee", "Ann", False)
    await a.client.set_push_name("Appwire")
    await b.next(ev.PushName, name="Appwire")
    await a.client.clear_chat(OTHER)
    await b.next(ev.ClearChat, chat=OTHER)
    await a.client.delete_chat(OTHER)
    await b.next(ev.DeleteChat, chat=OTHER)
    # ...and the other way round
    await b.client.mark_chat_read(CHAT)
    await a.next(ev.MarkChatAsRead, chat=CHAT, read=True)
    await b.client.mute_chat(CHAT, False)
    await a.next(ev.Mute, chat=CHAT, muted=False)

    # both restart from their stores: nothing is lost or restated
    await a.restart()
    await b.restart()
    for device in (a, b):
        settings = await device.client.device.account.chat_settings.get(str(CHAT))
        assert (settings.muted_until, settings.pinned) == (0, True)
        other = await device.client.device.account.chat_settings.get(str(OTHER))
        assert other.archived
        saved = await device.client.device.account.contacts.get(str(OTHER))
        assert saved is not None
        assert saved.full_name == "Ann Lee"
    versions = await server_of(sandbox).versions(PHONE)
    for name, version in versions.items():
        for device in (a, b):
            stored = await device.client.device.account.app_state.get_version(name)
            assert stored.version == version, (name, device.path.name)

    # after the restart, the devices keep talking
    await b.client.pin_chat(CHAT, False)
    await a.next(ev.Pin, chat=CHAT, pinned=False)
    # a change made while b is offline reaches b at its next login
    await b.client.close()
    await a.client.archive_chat(OTHER, False)
    await b.restart()
    unarchived = await b.next(ev.Archive, chat=OTHER)
    assert unarchived.archived is False


async def test_a_corrupted_patch_is_repaired_from_a_snapshot(
    sandbox: Sandbox, devices: tuple[Device, Device], caplog: pytest.LogCaptureFixture
) -> None:
    # snapshots travel as encrypted blobs on the sandbox's media host (HTTPS), fetched by the
    # client's own media client
    assert server_of(sandbox).publish_blob is not None
    a, b = devices
    await a.client.mute_chat(CHAT)
    await a.client.archive_chat(CHAT)
    await b.next(ev.Archive, chat=CHAT)
    assert (await b.client.device.account.app_state.get_version("regular_high")).version == 1
    await b.client.close()  # b goes offline (its store persists)
    await a.client.mute_chat(CHAT, False)
    await a.client.pin_chat(CHAT)
    await a.client.mute_chat(CHAT, until_ms=1_900_000_000_000)
    await server_of(sandbox).corrupt_patch_mac(PHONE, "regular_high", 2)

    # b logs in again: the login sync finds the corrupt regular_high v2 (patch MAC), and
    # resyncs that collection from a snapshot, ending where a is
    await b.restart()
    await b.next(ev.Mute, until_ms=1_900_000_000_000)
    await b.next(ev.AppStateSyncComplete, collection="regular_high")
    assert b.client.appstate.engine.failures == {}
    for name in ("regular_high", "regular_low"):
        ours = await b.client.device.account.app_state.get_version(name)
        theirs = await a.client.device.account.app_state.get_version(name)
        assert ours == theirs
    settings = await b.client.device.account.chat_settings.get(str(CHAT))
    assert (settings.muted_until, settings.archived, settings.pinned) == (
        1_900_000_000,
        True,
        True,
    )
    assert "regular_high failed" in caplog.text  # the corrupt v2 was caught...
    assert "resyncing from a snapshot" in caplog.text  # ...and repaired
    # and the repaired device pushes on top of the repaired state
    await b.client.mute_chat(CHAT, False)
    await a.next(ev.Mute, chat=CHAT, muted=False)


async def test_when_the_snapshot_is_bad_too_the_phone_recovers_the_collection(
    sandbox: Sandbox, devices: tuple[Device, Device], caplog: pytest.LogCaptureFixture
) -> None:
    """Patch MAC and snapshot MAC both corrupt: the device asks its phone (a peer request,
    end-to-end encrypted), the sandbox's phone answers with the collection in plaintext, and
    the device ends where the other device is, able to push again."""
    a, b = devices
    await a.client.mute_chat(CHAT)
    await b.next(ev.Mute, chat=CHAT)
    await b.client.close()
    await a.client.star_message(MessageRef(CHAT, "3EB0KEPT", from_me=True, timestamp=1_700_000_001))
    await a.client.mute_chat(CHAT, until_ms=1_900_000_000_000)
    await server_of(sandbox).corrupt_patch_mac(PHONE, "regular_high", 2)
    await server_of(sandbox).corrupt_snapshot_mac(PHONE, "regular_high")

    await b.restart()
    done = await b.next(ev.AppStateSyncComplete, collection="regular_high", recovery=True)
    assert done.version == 3
    assert "asking for a recovery" in caplog.text
    assert b.client.appstate.engine.recovering == {}
    ours = await b.client.device.account.app_state.get_version("regular_high")
    theirs = await a.client.device.account.app_state.get_version("regular_high")
    assert ours == theirs
    settings = await b.client.device.account.chat_settings.get(str(CHAT))
    assert settings.muted_until == 1_900_000_000
    # the recovered state is one a's device verifies b's next patch against
    await b.client.mute_chat(CHAT, False)
    await a.next(ev.Mute, chat=CHAT, muted=False)
    assert a.client.appstate.engine.failures == {}


async def test_an_event_whose_handler_did_not_finish_comes_again_after_a_restart(
    devices: tuple[Device, Device],
) -> None:
    """App-state events are durable inbox entries committed with the collection's version:
    closed while a handler runs, the device dispatches the event again at its next login
    (``redelivered``, the same entry), although the sync will not fetch that change again;
    once handled, never again."""
    a, b = devices
    hang = asyncio.Event()  # never set: the handler is cut by the close
    b.client.add_event_handler(ev.Pin, lambda _: hang.wait())
    await a.client.pin_chat(OTHER)
    first = await b.next(ev.Pin, chat=OTHER)
    assert first.seq > 0
    assert not first.redelivered
    await b.restart()
    again = await b.next(ev.Pin, chat=OTHER)
    assert (again.seq, again.redelivered, again.pinned) == (first.seq, True, True)
    assert again.mutation.index == first.mutation.index
    assert again.mutation.value_mac == first.mutation.value_mac
    await b.restart()
    await a.client.pin_chat(CHAT)
    assert (await b.next(ev.Pin)).chat == CHAT  # the OTHER pin did not come a third time
