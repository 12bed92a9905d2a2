"""Fatal-error recovery of one collection from the primary device (sans-I/O).

When a collection cannot be repaired from the server's snapshot either, a companion asks its
primary device (``PEER_DATA_OPERATION_REQUEST_MESSAGE`` of type
``COMPANION_SYNCD_SNAPSHOT_FATAL_RECOVERY``,
:func:`wamd.appstate.keyshare.recovery_request_message`).
The phone answers with a ``PEER_DATA_OPERATION_REQUEST_RESPONSE_MESSAGE`` whose result holds a
``SyncdSnapshotRecovery``: the collection's version, LTHash and every live record in plaintext
(the action data, the id of the key that encrypted it and its value MAC), serialized and
usually gzip-compressed.

:func:`apply_recovery` checks it (the collection asked for, a 128-byte LTHash equal to the sum
of the records' value MACs, known keys, parsable indexes) and returns the state that replaces
the collection, like a snapshot. :func:`recovery_response_message` and
:func:`recovery_from_records` are the phone's side (the sandbox's simulated phone).
"""

from __future__ import annotations

import gzip
import hmac
from collections.abc import Iterable, Mapping

from google.protobuf.message import DecodeError as ProtobufDecodeError

from wamd.appstate.crypto import Operation, decrypt_value, index_mac, split_value
from wamd.appstate.decode import parse_index
from wamd.appstate.keys import Keyring
from wamd.appstate.lthash import EMPTY_HASH, HASH_SIZE, subtract_then_add
from wamd.appstate.state import CollectionState, MACChanges, Mutation, SyncResult
from wamd.errors import AppStateKeyMissing, AppStateMACMismatch, AppStateMalformed, WamdError
from wamd.history.inflate import inflate
from wamd.proto import appstate_pb2 as pb
from wamd.proto import e2e_pb2

__all__ = [
    "MAX_RECOVERY_SIZE",
    "apply_recovery",
    "is_recovery_response",
    "recoveries_in",
    "recovery_from_records",
    "recovery_from_snapshot",
    "recovery_key_ids",
    "recovery_response_message",
]

MAX_RECOVERY_SIZE = 64 * 1024 * 1024
"""Bound on an inflated recovery payload (64 MiB)."""

_VALUE_MAC_SIZE = 32
_FATAL = e2e_pb2.COMPANION_SYNCD_SNAPSHOT_FATAL_RECOVERY
_RESPONSE = e2e_pb2.ProtocolMessage.PEER_DATA_OPERATION_REQUEST_RESPONSE_MESSAGE


def is_recovery_response(message: e2e_pb2.Message) -> bool:
    """Whether ``message`` is a primary device's answer to a fatal-recovery request."""
    if not message.HasField("protocol_message"):
        return False
    protocol = message.protocol_message
    return (
        protocol.type == _RESPONSE
        and protocol.peer_data_operation_request_response_message.peer_data_operation_request_type
        == _FATAL
    )


def recoveries_in(message: e2e_pb2.Message) -> list[pb.SyncdSnapshotRecovery]:
    """The ``SyncdSnapshotRecovery`` payloads of a recovery answer, decompressed and parsed.

    Raises :class:`~wamd.errors.AppStateMalformed` for a payload that does not inflate (or
    inflates past :data:`MAX_RECOVERY_SIZE`) or does not parse.
    """
    response = message.protocol_message.peer_data_operation_request_response_message
    found: list[pb.SyncdSnapshotRecovery] = []
    for result in response.peer_data_operation_result:
        if not result.HasField("syncd_snapshot_fatal_recovery_response"):
            continue
        answer = result.syncd_snapshot_fatal_recovery_response
        data = answer.collection_snapshot
        if answer.is_compressed:
            try:
                data = inflate(data, MAX_RECOVERY_SIZE, gzip=True)
            except WamdError as exc:
                raise AppStateMalformed(f"recovery payload: {exc}") from None
        try:
            found.append(pb.SyncdSnapshotRecovery.FromString(data))
        except ProtobufDecodeError:
            raise AppStateMalformed("recovery payload is not a SyncdSnapshotRecovery") from None
    return found


def apply_recovery(name: str, recovery: pb.SyncdSnapshotRecovery, keyring: Keyring) -> SyncResult:
    """Check a recovery of collection ``name`` and return the state that replaces it.

    ``keyring`` must hold every key the records name (:func:`recovery_key_ids`). The result
    has ``macs.replace`` set and one SET mutation per record. Raises
    :class:`~wamd.errors.AppStateMalformed` (another collection, bad LTHash length, bad
    record), :class:`~wamd.errors.AppStateKeyMissing` and
    :class:`~wamd.errors.AppStateMACMismatch` (``kind="snapshot"``: the LTHash is not the
    sum of the records' value MACs).
    """
    if recovery.collection_name != name:
        raise AppStateMalformed(
            f"recovery of {recovery.collection_name!r} answers no request for it (asked: {name!r})"
        )
    lthash = recovery.collection_lthash
    if len(lthash) != HASH_SIZE:
        raise AppStateMalformed(f"recovery LTHash of {len(lthash)} bytes")
    version = recovery.version.version
    if version <= 0:
        raise AppStateMalformed(f"recovery of {name!r} has no version")
    missing = sorted(k for k in recovery_key_ids(recovery) if k not in keyring)
    if missing:
        raise AppStateKeyMissing(missing)
    result = SyncResult(CollectionState(name, version, lthash), macs=MACChanges(replace=True))
    value_macs: list[bytes] = []
    for record in recovery.mutation_records:
        if len(record.mac) != _VALUE_MAC_SIZE or not record.value.index:
            raise AppStateMalformed(f"recovery of {name!r}: a record without index or value MAC")
        keys = keyring.get(record.key_id)
        record_index_mac = index_mac(keys.index, record.value.index)
        if record_index_mac in result.macs.upsert:
            raise AppStateMalformed(f"recovery of {name!r}: an index appears twice")
        result.macs.set(record_index_mac, record.mac)
        value_macs.append(record.mac)
        result.mutations.append(
            Mutation(
                collection=name,
                operation=Operation.SET,
                index=parse_index(record.value.index),
                action=record.value.value,
                api_version=record.value.version,
                patch_version=version,
                index_mac=record_index_mac,
                value_mac=record.mac,
                key_id=record.key_id,
            )
        )
    if not hmac.compare_digest(subtract_then_add(EMPTY_HASH, (), value_macs), lthash):
        raise AppStateMACMismatch("snapshot", name, version, "LTHash of the recovery records")
    return result


def recovery_key_ids(recovery: pb.SyncdSnapshotRecovery) -> set[bytes]:
    """The key ids a recovery's records name."""
    return {record.key_id for record in recovery.mutation_records}


# --- the primary device's side ------------------------------------------------------------


def recovery_from_records(
    name: str, version: int, records: Iterable[tuple[pb.SyncActionData, bytes, bytes]]
) -> pb.SyncdSnapshotRecovery:
    """A recovery of ``name`` at ``version`` from ``(action data, key id, value MAC)`` of
    every live record (the LTHash is computed from the value MACs)."""
    recovery = pb.SyncdSnapshotRecovery(collection_name=name)
    recovery.version.version = version
    macs: list[bytes] = []
    for data, key_id, value_mac in records:
        recovery.mutation_records.add(value=data, key_id=key_id, mac=value_mac)
        macs.append(value_mac)
    recovery.collection_lthash = subtract_then_add(EMPTY_HASH, (), macs)
    return recovery


def recovery_from_snapshot(
    snapshot: pb.SyncdSnapshot, name: str, keys: Mapping[bytes, bytes]
) -> pb.SyncdSnapshotRecovery:
    """What a primary device holding the sync keys ``keys`` (id -> key data) answers from the
    live state ``snapshot`` of ``name``: each record decrypted (its value MAC verified).

    Raises :class:`~wamd.errors.AppStateKeyMissing` when a record's key is not held and
    :class:`~wamd.errors.AppStateError` for a record that does not verify or decrypt.
    """
    keyring = Keyring(keys)
    version = snapshot.version.version
    records: list[tuple[pb.SyncActionData, bytes, bytes]] = []
    for record in snapshot.records:
        key_id = record.key_id.id
        if key_id not in keyring:
            raise AppStateKeyMissing([key_id])
        plaintext = decrypt_value(
            keyring.get(key_id),
            key_id,
            Operation.SET,
            record.value.blob,
            collection=name,
            version=version,
        )
        try:
            data = pb.SyncActionData.FromString(plaintext)
        except ProtobufDecodeError:
            raise AppStateMalformed("a record's value is not a SyncActionData") from None
        records.append((data, key_id, split_value(record.value.blob)[1]))
    return recovery_from_records(name, version, records)


def recovery_response_message(
    recovery: pb.SyncdSnapshotRecovery, request_id: str, *, compress: bool = True
) -> e2e_pb2.Message:
    """The primary device's answer (to the request message ``request_id``) carrying
    ``recovery`` (gzip-compressed unless ``compress`` is false)."""
    data = recovery.SerializeToString()
    message = e2e_pb2.Message()
    protocol = message.protocol_message
    protocol.type = _RESPONSE
    response = protocol.peer_data_operation_request_response_message
    response.peer_data_operation_request_type = _FATAL
    response.stanza_id = request_id
    answer = response.peer_data_operation_result.add().syncd_snapshot_fatal_recovery_response
    answer.collection_snapshot = gzip.compress(data) if compress else data
    answer.is_compressed = compress
    return message
