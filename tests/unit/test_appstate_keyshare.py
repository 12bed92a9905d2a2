"""App-state key share/request and recovery messages."""

from __future__ import annotations

import os

import pytest

from wamd.appstate.keyshare import (
    answer_key_request,
    key_request_message,
    key_share_message,
    keys_from_share,
    recovery_request_message,
    requested_key_ids,
)
from wamd.errors import AppStateMalformed
from wamd.history.requests import on_demand_request
from wamd.proto import e2e_pb2
from wamd.store.types import AppStateSyncKey


def _key(ts: int = 5) -> AppStateSyncKey:
    fingerprint = e2e_pb2.AppStateSyncKeyFingerprint(
        raw_id=7, current_index=1, device_indexes=[0, 1]
    )
    return AppStateSyncKey(os.urandom(6), os.urandom(32), fingerprint.SerializeToString(), ts)


def test_share_round_trip() -> None:
    keys = [_key(1), _key(2)]
    message = e2e_pb2.Message.FromString(key_share_message(keys).SerializeToString())
    protocol = message.protocol_message
    assert protocol.type == e2e_pb2.ProtocolMessage.APP_STATE_SYNC_KEY_SHARE
    assert keys_from_share(protocol.app_state_sync_key_share) == keys


def test_bad_shares_are_refused() -> None:
    share = e2e_pb2.AppStateSyncKeyShare()
    item = share.keys.add()
    item.key_id.key_id = b"id"
    item.key_data.key_data = b"short"
    with pytest.raises(AppStateMalformed):
        keys_from_share(share)
    item.key_data.key_data = bytes(32)
    item.key_id.key_id = b""
    with pytest.raises(AppStateMalformed):
        keys_from_share(share)


def test_request_and_answer() -> None:
    held = [_key(), _key()]
    unknown = os.urandom(6)
    request = key_request_message([held[1].key_id, unknown, held[1].key_id])
    protocol = request.protocol_message
    assert protocol.type == e2e_pb2.ProtocolMessage.APP_STATE_SYNC_KEY_REQUEST
    assert requested_key_ids(protocol.app_state_sync_key_request) == [held[1].key_id, unknown]
    answer = answer_key_request(protocol.app_state_sync_key_request, held)
    assert keys_from_share(answer.protocol_message.app_state_sync_key_share) == [held[1]]


def test_recovery_and_on_demand_requests() -> None:
    recovery = recovery_request_message("regular_high", 1_700_000_000).protocol_message
    assert recovery.type == e2e_pb2.ProtocolMessage.PEER_DATA_OPERATION_REQUEST_MESSAGE
    pdo = recovery.peer_data_operation_request_message
    assert pdo.peer_data_operation_request_type == e2e_pb2.COMPANION_SYNCD_SNAPSHOT_FATAL_RECOVERY
    assert pdo.syncd_collection_fatal_recovery_request.collection_name == "regular_high"
    demand = on_demand_request("1@s.whatsapp.net", "ABC", True, 1_700_000_000_000, count=20)
    pdo = demand.protocol_message.peer_data_operation_request_message
    assert pdo.peer_data_operation_request_type == e2e_pb2.HISTORY_SYNC_ON_DEMAND
    assert pdo.history_sync_on_demand_request.on_demand_msg_count == 20
    with pytest.raises(ValueError, match="positive"):
        on_demand_request("1@s.whatsapp.net", "ABC", True, 1, count=0)


async def test_store_share_and_answer_from_store() -> None:
    from tests.store.conftest import make_credentials
    from wamd.appstate.keyshare import answer_request_from_store, store_key_share
    from wamd.store import MemoryStore

    account = await MemoryStore().new_account(make_credentials())
    keys = [_key(1), _key(2)]
    share = key_share_message(keys).protocol_message.app_state_sync_key_share
    assert await store_key_share(account, share) == [k.key_id for k in keys]
    latest = await account.app_state_keys.latest()
    assert latest == keys[1]
    request = key_request_message([keys[0].key_id, b"unknown"]).protocol_message
    answer = await answer_request_from_store(account, request.app_state_sync_key_request)
    assert keys_from_share(answer.protocol_message.app_state_sync_key_share) == [keys[0]]
