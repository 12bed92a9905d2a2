"""Applying snapshots and patches to a collection, verifying every MAC (sans-I/O).

The order of checks follows WhatsApp's clients: first the new LTHash is computed from the
claimed value MACs and checked against the patch's snapshot MAC, then the patch MAC over all
value MACs, then each mutation's value MAC (before decrypting) and index MAC (after). Any
failure raises a typed :class:`wamd.errors.AppStateError` and nothing is returned, so the
caller's store is never half-updated: apply a :class:`SyncResult` in one transaction or not at
all.

External blobs (a snapshot, or a patch whose mutations were too large to inline) are fetched
by the I/O layer first: :func:`resolve_external_mutations` fills a patch from the downloaded
bytes, :func:`parse_snapshot` parses a downloaded snapshot.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Sequence
from typing import TypeVar

from google.protobuf.message import DecodeError as ProtoDecodeError

from wamd.appstate.crypto import Operation, decrypt_value, index_mac, patch_mac, snapshot_mac
from wamd.appstate.crypto import split_value as _split_value
from wamd.appstate.keys import Keyring
from wamd.appstate.lthash import EMPTY_HASH, subtract_then_add
from wamd.appstate.state import (
    CollectionState,
    MACChanges,
    MACOverlay,
    MACView,
    Mutation,
    SyncResult,
)
from wamd.errors import (
    AppStateKeyMissing,
    AppStateMACMismatch,
    AppStateMalformed,
    AppStateVersionError,
)
from wamd.proto import appstate_pb2 as pb

_INDEX_MAC_SIZE = 32


def parse_snapshot(data: bytes) -> pb.SyncdSnapshot:
    """Parse a downloaded ``SyncdSnapshot``."""
    return _parse(pb.SyncdSnapshot, data, "snapshot")


def parse_patch(data: bytes) -> pb.SyncdPatch:
    """Parse one ``SyncdPatch`` (the content of a ``<patch>`` node)."""
    return _parse(pb.SyncdPatch, data, "patch")


def resolve_external_mutations(patch: pb.SyncdPatch, data: bytes) -> None:
    """Fill ``patch.mutations`` from the downloaded blob its ``external_mutations`` names."""
    downloaded = _parse(pb.SyncdMutations, data, "external mutations")
    if not downloaded.mutations:
        raise AppStateMalformed("external mutations blob holds no mutation")
    del patch.mutations[:]
    patch.mutations.extend(downloaded.mutations)
    patch.ClearField("external_mutations")


def key_ids_needed(
    snapshot: pb.SyncdSnapshot | None, patches: Iterable[pb.SyncdPatch] = ()
) -> set[bytes]:
    """Every app-state sync key id that decoding ``snapshot`` and ``patches`` will use."""
    ids: set[bytes] = set()
    if snapshot is not None:
        ids.add(snapshot.key_id.id)
        ids.update(record.key_id.id for record in snapshot.records)
    for patch in patches:
        ids.add(patch.key_id.id)
        ids.update(m.record.key_id.id for m in patch.mutations)
    ids.discard(b"")
    return ids


def index_macs_needed(patches: Iterable[pb.SyncdPatch]) -> set[bytes]:
    """Every index MAC the patches touch: load these entries of the MAC map before applying."""
    return {m.record.index.blob for patch in patches for m in patch.mutations}


def apply_snapshot(name: str, snapshot: pb.SyncdSnapshot, keyring: Keyring) -> SyncResult:
    """Verify a full snapshot of collection ``name`` and return the state it establishes.

    The result's ``macs.replace`` is set: the collection's stored MAC map is replaced.
    """
    if not snapshot.HasField("version"):
        raise AppStateMalformed(f"snapshot of {name!r} has no version")
    _require_keys(keyring, key_ids_needed(snapshot))
    version = snapshot.version.version
    records = list(snapshot.records)
    value_macs = [_record_value_mac(record) for record in records]
    new_hash = subtract_then_add(EMPTY_HASH, (), value_macs)
    keys = keyring.get(snapshot.key_id.id)
    expected = snapshot_mac(new_hash, version, name, keys.snapshot_mac)
    if not hmac.compare_digest(expected, snapshot.mac):
        raise AppStateMACMismatch("snapshot", name, version, "LTHash of the snapshot records")
    result = SyncResult(CollectionState(name, version, new_hash), macs=MACChanges(replace=True))
    for record, value_mac in zip(records, value_macs, strict=True):
        mutation = _decode_record(name, version, Operation.SET, record, value_mac, keyring)
        result.mutations.append(mutation)
        result.macs.set(mutation.index_mac, value_mac)
    return result


def apply_patches(
    state: CollectionState,
    patches: Sequence[pb.SyncdPatch],
    keyring: Keyring,
    macs: MACView,
) -> SyncResult:
    """Apply ``patches`` in order on top of ``state``.

    ``macs`` must hold the stored value MAC of every index MAC the patches touch (see
    :func:`index_macs_needed`); an index missing from it is taken as never SET.
    """
    _require_keys(keyring, key_ids_needed(None, patches))
    result = SyncResult(state)
    overlay = MACOverlay(macs, result.macs)
    for patch in patches:
        result.state = _apply_patch(result.state, patch, keyring, overlay, result)
    return result


def _apply_patch(
    state: CollectionState,
    patch: pb.SyncdPatch,
    keyring: Keyring,
    overlay: MACOverlay,
    result: SyncResult,
) -> CollectionState:
    name = state.name
    version = patch.version.version if patch.HasField("version") else state.version + 1
    if version <= state.version:
        raise AppStateVersionError(
            f"patch v{version} of {name!r} does not follow the current v{state.version}"
        )
    if patch.HasField("external_mutations") and not patch.mutations:
        raise AppStateMalformed(f"patch v{version} of {name!r}: external mutations not downloaded")
    mutations = [(_operation(m.operation), m.record) for m in patch.mutations]
    value_macs = [_record_value_mac(record) for _, record in mutations]

    new_hash, orphans = overlay.advance(
        state.hash,
        (
            (operation, _record_index_mac(record), value_mac)
            for (operation, record), value_mac in zip(mutations, value_macs, strict=True)
        ),
    )
    result.warnings.extend(
        f"{name} v{version}: REMOVE of an index holding no value ({key.hex()})" for key in orphans
    )

    keys = keyring.get(patch.key_id.id)
    expected_snapshot = snapshot_mac(new_hash, version, name, keys.snapshot_mac)
    if not hmac.compare_digest(expected_snapshot, patch.snapshot_mac):
        raise AppStateMACMismatch("snapshot", name, version, "LTHash after the patch")
    expected_patch = patch_mac(patch.snapshot_mac, value_macs, version, name, keys.patch_mac)
    if not hmac.compare_digest(expected_patch, patch.patch_mac):
        raise AppStateMACMismatch("patch", name, version)

    for (operation, record), value_mac in zip(mutations, value_macs, strict=True):
        mutation = _decode_record(name, version, operation, record, value_mac, keyring)
        result.mutations.append(mutation)
    return CollectionState(name, version, new_hash)


def _decode_record(
    name: str,
    version: int,
    operation: Operation,
    record: pb.SyncdRecord,
    value_mac: bytes,
    keyring: Keyring,
) -> Mutation:
    key_id = record.key_id.id
    keys = keyring.get(key_id)
    plaintext = decrypt_value(
        keys, key_id, operation, record.value.blob, collection=name, version=version
    )
    data = _parse(pb.SyncActionData, plaintext, "mutation")
    record_index_mac = _record_index_mac(record)
    if not hmac.compare_digest(index_mac(keys.index, data.index), record_index_mac):
        raise AppStateMACMismatch("index", name, version)
    return Mutation(
        collection=name,
        operation=operation,
        index=parse_index(data.index),
        action=data.value,
        api_version=data.version,
        patch_version=version,
        index_mac=record_index_mac,
        value_mac=value_mac,
        key_id=key_id,
    )


def _require_keys(keyring: Keyring, key_ids: set[bytes]) -> None:
    missing = sorted(k for k in key_ids if k not in keyring)
    if missing:
        raise AppStateKeyMissing(missing)


def parse_index(raw: bytes) -> tuple[str, ...]:
    """A mutation's JSON index as a tuple of strings; raises
    :class:`~wamd.errors.AppStateMalformed` for anything else."""
    try:
        index = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise AppStateMalformed("mutation index is not JSON") from None
    if not isinstance(index, list) or not index or not all(isinstance(p, str) for p in index):
        raise AppStateMalformed("mutation index is not a non-empty JSON array of strings")
    return tuple(index)


def _operation(raw: int) -> Operation:
    try:
        return Operation(raw)
    except ValueError:
        raise AppStateMalformed(f"unknown mutation operation {raw}") from None


def _record_value_mac(record: pb.SyncdRecord) -> bytes:
    return _split_value(record.value.blob)[1]


def _record_index_mac(record: pb.SyncdRecord) -> bytes:
    blob = record.index.blob
    if len(blob) != _INDEX_MAC_SIZE:
        raise AppStateMalformed(f"index MAC of {len(blob)} bytes (expected 32)")
    return blob


_M = TypeVar("_M", pb.SyncdSnapshot, pb.SyncdPatch, pb.SyncdMutations, pb.SyncActionData)


def _parse(cls: type[_M], data: bytes, what: str) -> _M:
    try:
        return cls.FromString(data)
    except ProtoDecodeError:
        raise AppStateMalformed(f"{what} is not a valid protobuf") from None
