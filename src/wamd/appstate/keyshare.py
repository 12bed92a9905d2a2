"""App-state sync keys between one's own devices, and recovery requests (sans-I/O).

Keys travel in end-to-end encrypted ``protocolMessage``\\ s sent only to one's own devices:
``APP_STATE_SYNC_KEY_SHARE`` (the primary device shares keys with a new companion, or answers a
request) and ``APP_STATE_SYNC_KEY_REQUEST`` (a device lacking a key asks the others). A device
that cannot repair a collection from a snapshot asks the primary device for a fatal-error
recovery with a ``PEER_DATA_OPERATION_REQUEST_MESSAGE``.

These functions build and read the messages; sending them (encrypted, to own devices only)
and accepting shares only from own devices is the messaging layer's job.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from wamd.errors import AppStateMalformed
from wamd.proto import e2e_pb2
from wamd.store import Account
from wamd.store.types import AppStateSyncKey

KEY_DATA_SIZE = 32


def key_share_message(keys: Iterable[AppStateSyncKey]) -> e2e_pb2.Message:
    """A ``Message`` sharing ``keys`` (an empty share answers a request for unknown keys)."""
    share = e2e_pb2.AppStateSyncKeyShare()
    for key in keys:
        item = share.keys.add()
        item.key_id.key_id = key.key_id
        item.key_data.key_data = key.key_data
        item.key_data.timestamp = key.timestamp
        if key.fingerprint:
            item.key_data.fingerprint.ParseFromString(key.fingerprint)
    message = e2e_pb2.Message()
    message.protocol_message.type = e2e_pb2.ProtocolMessage.APP_STATE_SYNC_KEY_SHARE
    message.protocol_message.app_state_sync_key_share.CopyFrom(share)
    return message


def key_request_message(key_ids: Iterable[bytes]) -> e2e_pb2.Message:
    """A ``Message`` asking one's other devices for the keys ``key_ids``."""
    message = e2e_pb2.Message()
    protocol = message.protocol_message
    protocol.type = e2e_pb2.ProtocolMessage.APP_STATE_SYNC_KEY_REQUEST
    for key_id in key_ids:
        protocol.app_state_sync_key_request.key_ids.add().key_id = key_id
    return message


def keys_from_share(share: e2e_pb2.AppStateSyncKeyShare) -> list[AppStateSyncKey]:
    """The keys of a share, checked (an id and 32 bytes of key data each).

    Raises :class:`~wamd.errors.AppStateMalformed` for a key without id or with bad data.
    """
    keys: list[AppStateSyncKey] = []
    for item in share.keys:
        key_id = item.key_id.key_id
        data = item.key_data.key_data
        if not key_id or len(data) != KEY_DATA_SIZE:
            raise AppStateMalformed("app-state key share holds a key without id or 32-byte data")
        fingerprint = (
            item.key_data.fingerprint.SerializeToString()
            if item.key_data.HasField("fingerprint")
            else b""
        )
        keys.append(AppStateSyncKey(key_id, data, fingerprint, item.key_data.timestamp))
    return keys


def requested_key_ids(request: e2e_pb2.AppStateSyncKeyRequest) -> list[bytes]:
    """The key ids a request asks for (empty ids dropped, duplicates removed, order kept)."""
    return list(dict.fromkeys(k.key_id for k in request.key_ids if k.key_id))


def answer_key_request(
    request: e2e_pb2.AppStateSyncKeyRequest, held: Sequence[AppStateSyncKey]
) -> e2e_pb2.Message:
    """The share answering ``request`` with the requested keys found in ``held``."""
    by_id = {key.key_id: key for key in held}
    return key_share_message(by_id[k] for k in requested_key_ids(request) if k in by_id)


def recovery_request_message(collection: str, timestamp: int) -> e2e_pb2.Message:
    """A ``Message`` asking the primary device to rebuild ``collection`` (unix seconds)."""
    message = e2e_pb2.Message()
    protocol = message.protocol_message
    protocol.type = e2e_pb2.ProtocolMessage.PEER_DATA_OPERATION_REQUEST_MESSAGE
    request = protocol.peer_data_operation_request_message
    request.peer_data_operation_request_type = e2e_pb2.COMPANION_SYNCD_SNAPSHOT_FATAL_RECOVERY
    request.syncd_collection_fatal_recovery_request.collection_name = collection
    request.syncd_collection_fatal_recovery_request.timestamp = timestamp
    return message


async def store_key_share(account: Account, share: e2e_pb2.AppStateSyncKeyShare) -> list[bytes]:
    """Store the keys of a share (received from one of one's own devices); returns their ids.

    The caller must have checked that the share came from one's own account (a key from
    anyone else must never be stored). Then call ``AppStateClient.keys_arrived()``.
    """
    keys = keys_from_share(share)
    if keys:
        await account.app_state_keys.put_many(keys)
    return [key.key_id for key in keys]


async def answer_request_from_store(
    account: Account, request: e2e_pb2.AppStateSyncKeyRequest
) -> e2e_pb2.Message:
    """The share answering a request from one's own device with the keys held in the store."""
    held = [
        key
        for key in [await account.app_state_keys.get(k) for k in requested_key_ids(request)]
        if key is not None
    ]
    return key_share_message(held)
