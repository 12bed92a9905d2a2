"""Snapshots as real media blobs: the server core publishes encrypted snapshots on the
sandbox's media host (HTTPS), the engine downloads and verifies them with wamd's media client.
A tampered blob is an integrity error that leaves nothing applied."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.appstate.harness import Backend, share_key
from tests.media.conftest import client_for
from wamd.appstate import actions
from wamd.appstate import events as ev
from wamd.errors import IntegrityError
from wamd.proto import appstate_pb2 as pb
from wamd.sandbox.appstate_blobs import MediaBlobPublisher
from wamd.sandbox.media_http import MediaServer, blob_id_of
from wamd.types import JID


async def test_snapshot_over_the_media_host(tmp_path: Path) -> None:
    async with MediaServer(tmp_path) as media, client_for(media) as client:
        backend = Backend()
        backend.server.publish_blob = MediaBlobPublisher(media)
        backend.download = client.download  # type: ignore[method-assign]
        a = await backend.device()
        key = await share_key(a)
        for i in range(4):
            await a.push(actions.pin(JID.parse(f"1555000000{i}@s.whatsapp.net")))
        c = await backend.device()
        await share_key(c, key=key)
        events = await c.engine.sync(["regular_low"])
        assert len([e for e in events if isinstance(e, ev.Pin)]) == 4
        assert c.engine.failures == {}
        assert await c.account.app_state.get_version(
            "regular_low"
        ) == await a.account.app_state.get_version("regular_low")

        # a corrupted blob on the host: the download's MAC check refuses it, nothing applied
        d = await backend.device()
        await share_key(d, key=key)
        publisher = MediaBlobPublisher(media)

        async def publish_corrupted(raw: bytes) -> pb.ExternalBlobReference:
            ref = await publisher(raw)
            blob_id = blob_id_of(ref.direct_path)
            assert blob_id is not None
            path = media.store.blob_path(blob_id)
            data = bytearray(path.read_bytes())
            data[5] ^= 1
            path.write_bytes(bytes(data))
            return ref

        backend.server.publish_blob = publish_corrupted
        with pytest.raises(IntegrityError):
            await d.engine.sync_collection("regular_low")
        assert (await d.account.app_state.get_version("regular_low")).version == 0


async def test_history_blob_over_the_media_host(tmp_path: Path) -> None:
    import zlib

    from wamd.history.parse import fetch_history
    from wamd.media import MediaType
    from wamd.proto import e2e_pb2, history_pb2
    from wamd.sandbox.appstate_blobs import store_encrypted

    sync = history_pb2.HistorySync(sync_type=history_pb2.HistorySync.RECENT)
    conv = sync.conversations.add(id="15550001111@s.whatsapp.net")
    for i in range(50):
        item = conv.messages.add(msg_order_id=i)
        item.message.key.id = f"M{i}"
        item.message.message.conversation = "history " * 20
    blob = zlib.compress(sync.SerializeToString())
    async with MediaServer(tmp_path) as media, client_for(media) as client:
        key, path, sha256, enc_sha256 = await store_encrypted(media, blob, MediaType.HISTORY)
        note = e2e_pb2.HistorySyncNotification(
            media_key=key,
            direct_path=path,
            file_sha256=sha256,
            file_enc_sha256=enc_sha256,
            file_length=len(blob),
            sync_type=e2e_pb2.RECENT,
        )
        data = await fetch_history(note, client.download)
        assert data.message_count == 50
        note.media_key = bytes(32)  # the wrong key: the MAC check refuses the blob
        with pytest.raises(IntegrityError):
            await fetch_history(note, client.download)
