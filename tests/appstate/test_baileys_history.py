"""History sync blobs against Baileys rc14: Baileys builds and compresses a HistorySync, wamd
parses it; wamd builds one, Baileys' processHistoryMessage reads it; both see the same things."""

from __future__ import annotations

import zlib
from typing import Any

import pytest

from tests.appstate.conftest import BaileysAppState, b64, unb64
from wamd.history.parse import HistorySyncType, parse_history_sync
from wamd.proto import history_pb2
from wamd.types import JID

pytestmark = pytest.mark.interop

HISTORY: dict[str, Any] = {
    "syncType": "INITIAL_BOOTSTRAP",
    "progress": 55,
    "chunkOrder": 1,
    "conversations": [
        {
            "id": "15550001111@s.whatsapp.net",
            "name": "Ann",
            "lidJid": "99887766@lid",
            "unreadCount": 3,
            "messages": [
                {
                    "msgOrderId": 1,
                    "message": {
                        "key": {
                            "remoteJid": "15550001111@s.whatsapp.net",
                            "id": "M1",
                            "fromMe": False,
                        },
                        "message": {"conversation": "hello from history"},
                        "messageTimestamp": 1_700_000_000,
                    },
                },
                {
                    "msgOrderId": 2,
                    "message": {
                        "key": {
                            "remoteJid": "15550001111@s.whatsapp.net",
                            "id": "M2",
                            "fromMe": True,
                        },
                        "message": {"conversation": "hi back"},
                        "messageTimestamp": 1_700_000_100,
                    },
                },
            ],
        },
        {"id": "120363000000000001@g.us", "name": "Team", "archived": True},
    ],
    "pushnames": [{"id": "15550001111@s.whatsapp.net", "pushname": "Annie"}],
    "phoneNumberToLidMappings": [{"pnJid": "15550002222@s.whatsapp.net", "lidJid": "4242@lid"}],
}


def test_baileys_history_parses_in_wamd(baileys: BaileysAppState) -> None:
    out = baileys.call("encodeHistory", history=HISTORY)
    data = parse_history_sync(unb64(out["compressed"]))
    assert data.sync_type is HistorySyncType.INITIAL_BOOTSTRAP
    assert (data.progress, data.chunk_order) == (55, 1)
    ann, team = data.conversations
    assert ann.id == JID.parse("15550001111@s.whatsapp.net")
    assert ann.unread_count == 3
    assert [(m.key.id, m.key.from_me, m.message.conversation) for m in ann.messages] == [
        ("M1", False, "hello from history"),
        ("M2", True, "hi back"),
    ]
    assert team.archived
    assert data.push_names == {JID.parse("15550001111@s.whatsapp.net"): "Annie"}
    theirs = baileys.call("processHistory", raw=out["raw"])
    assert {(JID.parse(m["lid"]), JID.parse(m["pn"])) for m in theirs["lidPnMappings"]} == set(
        data.lid_pn
    )
    assert [m["key"]["id"] for m in theirs["messages"]] == ["M1", "M2"]


def test_wamd_history_reads_in_baileys(baileys: BaileysAppState) -> None:
    sync = history_pb2.HistorySync(sync_type=history_pb2.HistorySync.RECENT, progress=100)
    conv = sync.conversations.add(id="15550009999@s.whatsapp.net", name="Bob")
    item = conv.messages.add(msg_order_id=7)
    item.message.key.remote_jid = conv.id
    item.message.key.id = "X9"
    item.message.key.from_me = False
    item.message.message.conversation = "from wamd"
    item.message.message_timestamp = 1_700_000_000
    sync.pushnames.add(id="15550009999@s.whatsapp.net", pushname="Bobby")
    raw = sync.SerializeToString()
    assert parse_history_sync(zlib.compress(raw)).message_count == 1
    theirs = baileys.call("processHistory", raw=b64(raw))
    assert theirs["syncType"] == 3  # RECENT
    assert theirs["chats"] == ["15550009999@s.whatsapp.net"]
    assert theirs["messages"] == [
        {
            "key": {"remoteJid": "15550009999@s.whatsapp.net", "fromMe": False, "id": "X9"},
            "text": "from wamd",
        }
    ]


def test_key_share_and_requests_read_in_baileys(baileys: BaileysAppState) -> None:
    import os

    from wamd.appstate.keyshare import key_request_message, key_share_message
    from wamd.history.requests import on_demand_request
    from wamd.store.types import AppStateSyncKey

    key = AppStateSyncKey(os.urandom(6), os.urandom(32), timestamp=1_700_000_000_000)
    share = baileys.call("decodeMessage", raw=b64(key_share_message([key]).SerializeToString()))
    protocol = share["protocolMessage"]
    assert protocol["type"] == "APP_STATE_SYNC_KEY_SHARE"
    [item] = protocol["appStateSyncKeyShare"]["keys"]
    assert unb64(item["keyId"]["keyId"]) == key.key_id
    assert unb64(item["keyData"]["keyData"]) == key.key_data
    assert int(item["keyData"]["timestamp"]) == key.timestamp
    request = baileys.call(
        "decodeMessage", raw=b64(key_request_message([key.key_id]).SerializeToString())
    )
    assert request["protocolMessage"]["type"] == "APP_STATE_SYNC_KEY_REQUEST"
    demand = baileys.call(
        "decodeMessage",
        raw=b64(
            on_demand_request(
                "1@s.whatsapp.net", "ABC", False, 1_700_000_000_000
            ).SerializeToString()
        ),
    )
    pdo = demand["protocolMessage"]["peerDataOperationRequestMessage"]
    assert pdo["peerDataOperationRequestType"] == "HISTORY_SYNC_ON_DEMAND"
    assert pdo["historySyncOnDemandRequest"] == {
        "chatJid": "1@s.whatsapp.net",
        "oldestMsgId": "ABC",
        "oldestMsgFromMe": False,
        "onDemandMsgCount": 50,
        "oldestMsgTimestampMs": 1_700_000_000_000,
    }
