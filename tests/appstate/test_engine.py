"""The engine against the server core, in memory: two devices of one account stay in sync,
restarts keep state, a corrupted patch leads to recovery, missing keys park a collection."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from tests.appstate.harness import PHONE, Backend, share_key
from wamd.appstate import actions
from wamd.appstate import events as ev
from wamd.appstate.crypto import index_mac
from wamd.appstate.encode import index_bytes
from wamd.appstate.keys import expand_keys
from wamd.appstate.state import ALL_COLLECTIONS
from wamd.errors import AppStateKeyMissing
from wamd.store.types import ChatSettings
from wamd.types import JID

CHAT = JID.parse("15559990000@s.whatsapp.net")
MSG = actions.MessageRef(CHAT, "3EB0C0FFEE", False, 1_700_000_000)


def _of(events: list[ev.AppStateEvent], kind: type[ev.AppStateEvent]) -> list[ev.AppStateEvent]:
    return [e for e in events if isinstance(e, kind)]


async def test_actions_on_one_device_arrive_as_events_on_the_other() -> None:
    backend = Backend()
    a, b = await backend.device(), await backend.device()
    await share_key(a, b)
    for info in (
        actions.mute(CHAT),
        actions.pin(CHAT),
        actions.label_edit("1", "x"),
        actions.contact(CHAT),
        actions.push_name("first"),
    ):
        await a.push(info)
    first = await b.engine.sync()  # b starts from nothing: snapshots, restating old state
    assert all(e.full_sync for e in first)
    assert len(_of(first, ev.AppStateSyncComplete)) == 5
    b.pending.clear()
    a.events.clear()
    for info in (
        actions.mute(CHAT, until_ms=1_900_000_000_000),
        actions.pin(CHAT),
        actions.archive(CHAT),
        actions.star(MSG),
        actions.label_edit("3", "Leads", color=2),
        actions.label_chat(CHAT, "3"),
        actions.mark_read(CHAT, False),
        actions.contact(CHAT, full_name="Zed Zero", first_name="Zed", lid="4455@lid"),
        actions.push_name("My Bot"),
    ):
        await a.push(info)
    await b.handle_notifications()
    kinds = [type(e) for e in b.events]
    # grouped by collection, in the order the notifications named them
    assert kinds == [
        ev.Mute,
        ev.Star,
        ev.Pin,
        ev.Archive,
        ev.Pin,
        ev.MarkChatAsRead,
        ev.LabelEdit,
        ev.LabelAssociation,
        ev.Contact,
        ev.PushName,
    ]
    assert all(not e.full_sync for e in b.events)
    [mute] = _of(b.events, ev.Mute)
    assert isinstance(mute, ev.Mute)
    assert (mute.chat, mute.muted, mute.until_ms) == (CHAT, True, 1_900_000_000_000)
    # a saw its own changes come back from the server, too (in push order)
    assert sorted(t.__name__ for t in (type(e) for e in a.events)) == sorted(
        t.__name__ for t in kinds
    )
    # the side effects are in both stores, and the versions agree
    for device in (a, b):
        settings = await device.account.chat_settings.get(str(CHAT))
        assert settings == ChatSettings(muted_until=1_900_000_000, pinned=False, archived=True)
        assert await device.account.lid_map.lid_for_pn(CHAT.user) == "4455"
        contact = await device.account.contacts.get(str(CHAT))
        assert contact is not None
        assert contact.full_name == "Zed Zero"
    for name in ALL_COLLECTIONS:
        va = await a.account.app_state.get_version(str(name))
        vb = await b.account.app_state.get_version(str(name))
        assert va == vb
    assert await backend.server.versions(PHONE) == {
        "regular_high": 3,
        "regular_low": 4,
        "regular": 3,
        "critical_unblock_low": 2,
        "critical_block": 2,
    }


async def test_a_new_device_gets_everything_from_a_snapshot_and_survives_restart() -> None:
    backend = Backend()
    a = await backend.device()
    key = await share_key(a)
    for i in range(5):
        await a.push(actions.mute(JID.parse(f"1555000000{i}@s.whatsapp.net"), until_ms=i + 1))
    await a.push(actions.mute(JID.parse("15550000000@s.whatsapp.net"), False))
    c = await backend.device()
    await share_key(c, key=key)
    blobs_before = len(backend.blobs)
    events = await c.engine.sync()
    mutes = _of(events, ev.Mute)
    assert len(mutes) == 5  # the snapshot holds the live values only
    assert all(e.full_sync for e in events)
    assert {type(e) for e in events} == {ev.Mute, ev.AppStateSyncComplete}
    assert len(backend.blobs) == blobs_before + 1  # regular_high came as a snapshot blob
    # "restart": a new engine over the same store account continues from the stored version
    c.engine = c.new_engine()
    assert await c.engine.sync() == []
    await a.push(actions.pin(JID.parse("15550000001@s.whatsapp.net")))
    await c.handle_notifications()
    # regular_low was empty until now, so c starts it from a snapshot too
    assert [type(e) for e in c.events] == [ev.Pin, ev.AppStateSyncComplete]
    await a.push(actions.mute(JID.parse("15550000001@s.whatsapp.net")))
    await c.handle_notifications()
    assert [(type(e), e.full_sync) for e in c.events[2:]] == [(ev.Mute, False)]


async def test_without_snapshots_a_new_device_replays_patches_across_pages() -> None:
    backend = Backend(snapshots=False)
    backend.server._page_size = 3
    a = await backend.device()
    key = await share_key(a)
    for i in range(8):
        await a.push(actions.star(actions.MessageRef(CHAT, f"M{i}", True, 1), i % 2 == 0))
    c = await backend.device()
    await share_key(c, key=key)
    events = await c.engine.sync(["regular_high"])
    assert len(_of(events, ev.Star)) == 8
    assert await c.account.app_state.get_version(
        "regular_high"
    ) == await a.account.app_state.get_version("regular_high")


async def test_corrupted_patch_mac_leads_to_recovery_not_a_stuck_account() -> None:
    backend = Backend()
    a, b = await backend.device(), await backend.device()
    await share_key(a, b)
    await a.push(actions.mute(CHAT))
    await b.handle_notifications()
    await a.push(actions.mute(CHAT, False))
    await a.push(actions.pin(CHAT))
    await backend.server.corrupt_patch_mac(PHONE, "regular_high", 2)
    await b.handle_notifications()  # regular_high v2 fails its patch MAC -> snapshot resync
    assert b.recoveries == []
    assert await b.account.app_state.get_version(
        "regular_high"
    ) == await a.account.app_state.get_version("regular_high")
    mutes = _of(b.events, ev.Mute)
    assert [m.muted for m in mutes] == [True, False]  # type: ignore[attr-defined]
    assert mutes[-1].full_sync  # it came from the snapshot
    # b keeps working afterwards
    await a.push(actions.mute(CHAT, until_ms=5))
    await b.handle_notifications()
    assert _of(b.events, ev.Mute)[-1].until_ms == 5  # type: ignore[attr-defined]


async def test_corruption_that_a_snapshot_cannot_fix_asks_for_recovery() -> None:
    backend = Backend(snapshots=False)  # the resync replays the same corrupt patch
    a, b = await backend.device(), await backend.device()
    await share_key(a, b)
    await a.push(actions.mute(CHAT))
    await backend.server.corrupt_patch_mac(PHONE, "regular_high", 1)
    from wamd.errors import AppStateMACMismatch

    with pytest.raises(AppStateMACMismatch):
        await b.engine.sync_collection("regular_high")
    assert b.recoveries == ["regular_high"]
    assert (
        await b.account.app_state.get_version("regular_high")
    ).version == 0  # nothing half-applied


async def test_missing_keys_park_the_collection_until_they_arrive() -> None:
    backend = Backend()
    a, b = await backend.device(), await backend.device()
    key = await share_key(a)
    await a.push(actions.pin(CHAT))
    events = await b.engine.sync()
    assert events == [] or all(isinstance(e, ev.AppStateSyncComplete) for e in events)
    assert "regular_low" in b.engine.blocked
    assert b.key_requests == [[key.key_id]]
    with pytest.raises(AppStateKeyMissing):
        await b.engine.sync_collection("regular_low")
    await share_key(b, key=key)
    events = await b.engine.keys_arrived()
    assert [type(e) for e in events if not isinstance(e, ev.AppStateSyncComplete)] == [ev.Pin]
    assert b.engine.blocked == set()


async def test_push_without_any_key_is_a_typed_error() -> None:
    backend = Backend()
    a = await backend.device()
    with pytest.raises(AppStateKeyMissing):
        await a.engine.push(actions.pin(CHAT))


async def test_concurrent_pushes_from_two_devices_both_land() -> None:
    import asyncio

    backend = Backend()
    a, b = await backend.device(), await backend.device()
    await share_key(a, b)
    await asyncio.gather(
        a.push(actions.pin(CHAT)), b.push(actions.archive(JID.parse("15551110000@s.whatsapp.net")))
    )
    await a.handle_notifications()
    await b.handle_notifications()
    va = await a.account.app_state.get_version("regular_low")
    vb = await b.account.app_state.get_version("regular_low")
    assert va == vb
    assert va.version == 2


async def test_hostile_answers_are_typed_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    from wamd.appstate import engine as engine_module
    from wamd.appstate.engine import AppStateServerError
    from wamd.binary import Node
    from wamd.errors import AppStateError, AppStateMalformed

    monkeypatch.setattr(engine_module, "RECOVERY_RETRY", 0.0)  # ask again at every failure
    backend = Backend()
    a = await backend.device()
    await share_key(a)
    answers: list[Node] = []

    async def scripted(iq: Node) -> Node:
        return answers.pop(0) if len(answers) > 1 else answers[0]

    a.engine._send_iq = scripted  # type: ignore[method-assign]

    def answer(*collections: Node) -> Node:
        return Node("iq", {"type": "result"}, [Node("sync", {}, list(collections))])

    answers[:] = [answer()]
    with pytest.raises(AppStateMalformed, match="no collection"):
        await a.engine.sync_collection("regular")
    answers[:] = [
        answer(
            Node(
                "collection",
                {"name": "regular", "version": "0", "type": "error"},
                [Node("error", {"code": "500"})],
            )
        )
    ]
    with pytest.raises(AppStateServerError) as info:
        await a.engine.sync_collection("regular")
    assert info.value.code == 500
    monkeypatch.setattr(engine_module, "MAX_ROUNDS", 3)
    answers[:] = [
        answer(Node("collection", {"name": "regular", "version": "0", "has_more_patches": "true"}))
    ]
    with pytest.raises(AppStateError, match="more patches"):
        await a.engine.sync_collection("regular")
    answers[:] = [
        answer(
            Node(
                "collection",
                {"name": "regular", "version": "0"},
                [Node("patches", {}, [Node("patch", {}, b"\xff\xff")])],
            )
        )
    ]
    with pytest.raises(AppStateMalformed):
        await a.engine.sync_collection("regular")
    assert a.recoveries == ["regular", "regular"]  # malformed twice: resync failed, recovery
    assert (await a.account.app_state.get_version("regular")).version == 0


async def test_sqlite_store_survives_reopen_and_failed_commits_leave_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from wamd.store.sqlite import SQLiteStore

    backend = Backend()
    a = await backend.device()
    path = tmp_path / "b.db"
    store = await SQLiteStore.open(path)
    b = await backend.device(store)
    key = await share_key(a, b)
    await a.push(actions.mute(CHAT))
    await b.handle_notifications()
    synced = await b.account.app_state.get_version("regular_high")
    assert synced.version == 1
    mute_index = index_mac(expand_keys(key.key_data).index, index_bytes(("mute", str(CHAT))))
    macs_before = await b.account.app_state.get_macs("regular_high", [mute_index])
    assert len(macs_before) == 1
    await store.close()

    # reopen: the version, LTHash and MACs are all there; an incremental sync follows
    store = await SQLiteStore.open(path)
    account = await store.account(b.account.id)
    assert await account.app_state.get_version("regular_high") == synced
    b2 = await backend.device(store, account)
    await a.push(actions.mute(CHAT, False))

    # a commit that dies half-way (after the MACs, before the version) leaves nothing behind
    original = type(account).transaction

    @contextlib.asynccontextmanager
    async def failing(self: Any) -> AsyncIterator[Any]:
        async with original(self) as tx:

            async def boom(*_: object) -> None:
                raise OSError("disk full")

            tx.app_state.put_version = boom
            yield tx

    monkeypatch.setattr(type(account), "transaction", failing)
    with pytest.raises(OSError, match="disk full"):
        await b2.engine.sync_collection("regular_high")
    monkeypatch.undo()
    assert await account.app_state.get_version("regular_high") == synced
    assert await account.app_state.get_macs("regular_high", [mute_index]) == macs_before
    events = await b2.engine.sync_collection("regular_high")
    assert [type(e) for e in events] == [ev.Mute]
    assert await account.app_state.get_version(
        "regular_high"
    ) == await a.account.app_state.get_version("regular_high")
    assert await account.app_state.get_macs("regular_high", [mute_index]) != macs_before
    await store.close()
