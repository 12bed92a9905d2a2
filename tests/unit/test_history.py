"""History sync: bounded inflate, parsing to typed results, notifications."""

from __future__ import annotations

import contextlib
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamd.errors import HistorySyncError, HistorySyncTooLarge
from wamd.history.inflate import inflate
from wamd.history.parse import (
    HistoryNotification,
    HistorySyncType,
    fetch_history,
    parse_history_sync,
)
from wamd.proto import e2e_pb2, history_pb2, web_pb2
from wamd.types import JID


def test_inflate_round_trip_and_exact_limit() -> None:
    data = b"hello history " * 1000
    packed = zlib.compress(data)
    assert inflate(packed) == data
    assert inflate(packed, limit=len(data)) == data
    with pytest.raises(HistorySyncTooLarge):
        inflate(packed, limit=len(data) - 1)


def test_zip_bomb_is_refused_without_inflating_it() -> None:
    bomb = zlib.compress(bytes(64 * 1024 * 1024), 9)  # 64 MiB of zeros in ~64 KiB
    with pytest.raises(HistorySyncTooLarge):
        inflate(bomb, limit=1024 * 1024)


@pytest.mark.parametrize(
    "data",
    [b"", b"not zlib", zlib.compress(b"x" * 100)[:-5], zlib.compress(b"abc") + b"trailing"],
)
def test_bad_streams(data: bytes) -> None:
    with pytest.raises(HistorySyncError):
        inflate(data)


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_garbage_only_raises_typed_errors(data: bytes) -> None:
    with contextlib.suppress(HistorySyncError):
        parse_history_sync(data)
    with contextlib.suppress(HistorySyncError):
        parse_history_sync(data, compressed=False)


def _message(chat: str, msg_id: str, text: str, from_me: bool) -> web_pb2.WebMessageInfo:
    info = web_pb2.WebMessageInfo()
    info.key.remote_jid = chat
    info.key.id = msg_id
    info.key.from_me = from_me
    info.message.conversation = text
    info.message_timestamp = 1_700_000_000
    return info


def _sample() -> history_pb2.HistorySync:
    sync = history_pb2.HistorySync(sync_type=history_pb2.HistorySync.INITIAL_BOOTSTRAP, progress=40)
    conv = sync.conversations.add(id="15550001111@s.whatsapp.net", name="Ann", unread_count=2)
    conv.lid_jid = "99887766@lid"
    conv.messages.add(message=_message(conv.id, "A1", "hi", False), msg_order_id=1)
    conv.messages.add(message=_message(conv.id, "A2", "hello", True), msg_order_id=2)
    sync.conversations.add(id="not a jid@@")
    lid_chat = sync.conversations.add(id="12345@lid", pn_jid="15550002222@s.whatsapp.net")
    lid_chat.archived = True
    sync.pushnames.add(id="15550001111@s.whatsapp.net", pushname="Annie")
    sync.phone_number_to_lid_mappings.add(pn_jid="15550003333@s.whatsapp.net", lid_jid="555@lid")
    return sync


def test_parse_typed_results() -> None:
    blob = zlib.compress(_sample().SerializeToString())
    data = parse_history_sync(blob)
    assert data.sync_type is HistorySyncType.INITIAL_BOOTSTRAP
    assert data.progress == 40
    assert data.skipped == 1
    assert [c.id for c in data.conversations] == [
        JID.parse("15550001111@s.whatsapp.net"),
        JID.parse("12345@lid"),
    ]
    ann = data.conversations[0]
    assert ann.name == "Ann"
    assert ann.unread_count == 2
    assert [m.message.conversation for m in ann.messages] == ["hi", "hello"]
    assert data.message_count == 2
    assert data.conversations[1].archived
    assert data.push_names == {JID.parse("15550001111@s.whatsapp.net"): "Annie"}
    assert set(data.lid_pn) == {
        (JID.parse("99887766@lid"), JID.parse("15550001111@s.whatsapp.net")),
        (JID.parse("12345@lid"), JID.parse("15550002222@s.whatsapp.net")),
        (JID.parse("555@lid"), JID.parse("15550003333@s.whatsapp.net")),
    }


async def test_fetch_inline_and_downloaded() -> None:
    blob = zlib.compress(_sample().SerializeToString())
    inline = e2e_pb2.HistorySyncNotification(
        initial_hist_bootstrap_inline_payload=blob, sync_type=e2e_pb2.INITIAL_BOOTSTRAP
    )

    async def never(_: e2e_pb2.HistorySyncNotification) -> bytes:
        raise AssertionError("inline payloads need no download")

    assert (await fetch_history(inline, never)).message_count == 2
    remote = e2e_pb2.HistorySyncNotification(direct_path="/v/t62/x", chunk_order=3, progress=90)
    seen: list[str] = []

    async def download(note: e2e_pb2.HistorySyncNotification) -> bytes:
        seen.append(note.direct_path)
        return blob

    assert (await fetch_history(remote, download)).message_count == 2
    assert seen == ["/v/t62/x"]
    info = HistoryNotification.from_proto(remote)
    assert (info.chunk_order, info.progress, info.inline) == (3, 90, False)
    with pytest.raises(HistorySyncError):
        await fetch_history(e2e_pb2.HistorySyncNotification(), download)
    with pytest.raises(HistorySyncTooLarge):
        await fetch_history(inline, never, limit=10)


async def test_handle_notification_remembers_names_and_lids() -> None:
    from tests.store.conftest import make_credentials
    from wamd.history.handler import handle_notification
    from wamd.store import MemoryStore

    account = await MemoryStore().new_account(make_credentials())
    blob = zlib.compress(_sample().SerializeToString())
    note = e2e_pb2.HistorySyncNotification(
        initial_hist_bootstrap_inline_payload=blob, sync_type=e2e_pb2.INITIAL_BOOTSTRAP
    )

    async def never(_: e2e_pb2.HistorySyncNotification) -> bytes:
        raise AssertionError("inline")

    event = await handle_notification(account, note, never)
    assert event.data.message_count == 2
    assert event.notification.sync_type is HistorySyncType.INITIAL_BOOTSTRAP
    contact = await account.contacts.get("15550001111@s.whatsapp.net")
    assert contact is not None
    assert contact.push_name == "Annie"
    assert await account.lid_map.pn_for_lid("555") == "15550003333"
    assert await account.lid_map.lid_for_pn("15550001111") == "99887766"
