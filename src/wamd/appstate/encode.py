"""Encoding our own app-state changes as a ``SyncdPatch`` (sans-I/O).

A patch is built against the collection's current state: each mutation's ``SyncActionData``
is encrypted under the newest sync key, its index and value MACs computed, the LTHash moved
forward (subtracting the value each index held before), and the snapshot and patch MACs
computed for ``version + 1``. The server assigns that version when it accepts the patch; the
client then fetches the collection to confirm (and to pick up anything it raced with).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field

from wamd.appstate.crypto import Operation, encrypt_value, index_mac, patch_mac, snapshot_mac
from wamd.appstate.keys import ExpandedKeys, Keyring
from wamd.appstate.lthash import EMPTY_HASH, subtract_then_add
from wamd.appstate.state import (
    CollectionState,
    MACChanges,
    MACOverlay,
    MACView,
    Mutation,
    SyncResult,
)
from wamd.proto import appstate_pb2 as pb


@dataclass(slots=True)
class MutationInfo:
    """One change to encode: the index, the action, its API version and the operation."""

    index: tuple[str, ...]
    action: pb.SyncActionValue = field(repr=False)
    api_version: int
    operation: Operation = Operation.SET


@dataclass(slots=True)
class PatchInfo:
    """A patch to encode: its collection and its mutations (all in that collection)."""

    collection: str
    mutations: list[MutationInfo]


def index_bytes(index: Sequence[str]) -> bytes:
    """The JSON form of an index exactly as WhatsApp writes it (no spaces, UTF-8)."""
    return json.dumps(list(index), separators=(",", ":"), ensure_ascii=False).encode()


def _seal(
    keys: ExpandedKeys, key_id: bytes, item: MutationInfo, timestamp_ms: int, iv: bytes | None
) -> tuple[pb.SyncActionValue, bytes, bytes]:
    """Timestamp, serialize and encrypt one mutation: ``(action, index MAC, value blob)``."""
    raw_index = index_bytes(item.index)
    action = pb.SyncActionValue()
    action.CopyFrom(item.action)
    action.timestamp = timestamp_ms
    data = pb.SyncActionData(index=raw_index, value=action, padding=b"", version=item.api_version)
    blob = encrypt_value(keys, key_id, item.operation, data.SerializeToString(), iv=iv)
    return action, index_mac(keys.index, raw_index), blob


@dataclass(slots=True)
class EncodedPatch:
    """An encoded patch and the state it leads to once the server accepts it."""

    patch: pb.SyncdPatch
    result: SyncResult

    def serialize(self) -> bytes:
        """The patch bytes to send in ``<patch>`` (without the version the server assigns)."""
        return self.patch.SerializeToString()


def encode_patch(
    state: CollectionState,
    info: PatchInfo,
    keyring: Keyring,
    key_id: bytes,
    macs: MACView,
    *,
    timestamp_ms: int,
    ivs: Sequence[bytes] | None = None,
) -> EncodedPatch:
    """Encode ``info`` on top of ``state`` with the sync key ``key_id``.

    ``macs`` holds the stored value MAC of each index the mutations touch. Every action gets
    ``timestamp_ms`` as its timestamp. ``ivs`` fixes the AES IVs (tests only).
    """
    if info.collection != state.name:
        raise ValueError(f"patch for {info.collection!r} built on the state of {state.name!r}")
    if not info.mutations:
        raise ValueError("a patch needs at least one mutation")
    keys = keyring.get(key_id)
    version = state.version + 1
    changes = MACChanges()
    overlay = MACOverlay(macs, changes)
    patch = pb.SyncdPatch()
    patch.key_id.id = key_id
    result_mutations: list[Mutation] = []
    for i, item in enumerate(info.mutations):
        action, imac, blob = _seal(keys, key_id, item, timestamp_ms, ivs[i] if ivs else None)
        value_mac = blob[-32:]
        mutation = patch.mutations.add()
        mutation.operation = (
            pb.SyncdMutation.SET if item.operation is Operation.SET else pb.SyncdMutation.REMOVE
        )
        mutation.record.index.blob = imac
        mutation.record.value.blob = blob
        mutation.record.key_id.id = key_id
        result_mutations.append(
            Mutation(
                collection=state.name,
                operation=item.operation,
                index=tuple(item.index),
                action=action,
                api_version=item.api_version,
                patch_version=version,
                index_mac=imac,
                value_mac=value_mac,
                key_id=key_id,
            )
        )
    new_hash, _ = overlay.advance(
        state.hash, ((m.operation, m.index_mac, m.value_mac) for m in result_mutations)
    )
    patch.snapshot_mac = snapshot_mac(new_hash, version, state.name, keys.snapshot_mac)
    patch.patch_mac = patch_mac(
        patch.snapshot_mac,
        [m.value_mac for m in result_mutations],
        version,
        state.name,
        keys.patch_mac,
    )
    result = SyncResult(CollectionState(state.name, version, new_hash), result_mutations, changes)
    return EncodedPatch(patch, result)


def encode_snapshot(
    name: str,
    version: int,
    mutations: Sequence[MutationInfo],
    keyring: Keyring,
    key_id: bytes,
    *,
    timestamp_ms: int,
) -> pb.SyncdSnapshot:
    """Encode a full snapshot of collection ``name`` at ``version`` holding ``mutations``.

    Every mutation must be a SET (a snapshot holds only live values). The server never needs
    this (it builds snapshots from the records and MACs of stored patches); it is here for
    tests and tools that fabricate a collection from scratch.
    """
    if any(m.operation is not Operation.SET for m in mutations):
        raise ValueError("a snapshot holds only SET mutations")
    keys = keyring.get(key_id)
    snapshot = pb.SyncdSnapshot()
    snapshot.version.version = version
    snapshot.key_id.id = key_id
    value_macs: list[bytes] = []
    for item in mutations:
        _, imac, blob = _seal(keys, key_id, item, timestamp_ms, None)
        record = snapshot.records.add()
        record.index.blob = imac
        record.value.blob = blob
        record.key_id.id = key_id
        value_macs.append(blob[-32:])
    lthash = subtract_then_add(EMPTY_HASH, (), value_macs)
    snapshot.mac = snapshot_mac(lthash, version, name, keys.snapshot_mac)
    return snapshot
