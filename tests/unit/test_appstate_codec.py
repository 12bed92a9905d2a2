"""App-state patches and snapshots: encode, apply, and every MAC check failing loudly."""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wamd.appstate.crypto import Operation, decrypt_value, encrypt_value
from wamd.appstate.decode import (
    apply_patches,
    apply_snapshot,
    index_macs_needed,
    key_ids_needed,
    parse_patch,
    parse_snapshot,
    resolve_external_mutations,
)
from wamd.appstate.encode import MutationInfo, PatchInfo, encode_patch, encode_snapshot, index_bytes
from wamd.appstate.keys import Keyring, expand_keys
from wamd.appstate.state import CollectionState, MACChanges, SyncResult
from wamd.errors import (
    AppStateError,
    AppStateKeyMissing,
    AppStateMACMismatch,
    AppStateMalformed,
    AppStateVersionError,
)
from wamd.proto import appstate_pb2 as pb

KEY_ID = b"\x00\x00\x00\x01\x02"
NAME = "regular_high"
TS = 1_700_000_000_000


def _keyring() -> Keyring:
    return Keyring({KEY_ID: bytes(range(32)), b"other": os.urandom(32)})


def _mute(jid: str, muted: bool = True) -> MutationInfo:
    action = pb.SyncActionValue(mute_action=pb.MuteAction(muted=muted, mute_end_timestamp=-1))
    return MutationInfo(("mute", jid), action, 2)


def _remove(jid: str) -> MutationInfo:
    return MutationInfo(("mute", jid), pb.SyncActionValue(), 2, Operation.REMOVE)


class Ledger:
    """A client-side stand-in for the store: state and the index MAC -> value MAC map."""

    def __init__(self, name: str = NAME) -> None:
        self.state = CollectionState(name)
        self.macs: dict[bytes, bytes] = {}

    def commit(self, result: SyncResult) -> None:
        self.state = result.state
        _apply_changes(self.macs, result.macs)


def _apply_changes(macs: dict[bytes, bytes], changes: MACChanges) -> None:
    if changes.replace:
        macs.clear()
    for key in changes.remove:
        macs.pop(key, None)
    macs.update(changes.upsert)


def _encode(ledger: Ledger, *items: MutationInfo, keyring: Keyring | None = None) -> bytes:
    encoded = encode_patch(
        ledger.state,
        PatchInfo(ledger.state.name, list(items)),
        keyring or _keyring(),
        KEY_ID,
        ledger.macs,
        timestamp_ms=TS,
    )
    ledger.commit(encoded.result)
    encoded.patch.version.version = encoded.result.state.version
    return encoded.serialize()


def test_value_cipher_round_trip_and_mac() -> None:
    keys = expand_keys(os.urandom(32))
    blob = encrypt_value(keys, KEY_ID, Operation.SET, b"hello")
    assert decrypt_value(keys, KEY_ID, Operation.SET, blob) == b"hello"
    with pytest.raises(AppStateMACMismatch) as info:
        decrypt_value(keys, KEY_ID, Operation.REMOVE, blob)  # the op byte is covered
    assert info.value.kind == "value"
    with pytest.raises(AppStateMACMismatch):
        decrypt_value(keys, KEY_ID + b"x", Operation.SET, blob)  # so is the key id
    with pytest.raises(AppStateMalformed):
        decrypt_value(keys, KEY_ID, Operation.SET, blob[:40])


def test_index_json_is_compact() -> None:
    assert index_bytes(("mute", "1@s.whatsapp.net")) == b'["mute","1@s.whatsapp.net"]'
    assert index_bytes(("label_edit", "é")) == '["label_edit","é"]'.encode()


def test_patches_round_trip_and_states_agree() -> None:
    sender, receiver = Ledger(), Ledger()
    patches = [
        _encode(sender, _mute("1@s.whatsapp.net"), _mute("2@s.whatsapp.net")),
        _encode(sender, _mute("1@s.whatsapp.net", muted=False)),
        _encode(sender, _remove("2@s.whatsapp.net")),
    ]
    parsed = [parse_patch(p) for p in patches]
    needed = index_macs_needed(parsed)
    result = apply_patches(
        receiver.state, parsed, _keyring(), {k: v for k, v in receiver.macs.items() if k in needed}
    )
    receiver.commit(result)
    assert receiver.state == sender.state
    assert receiver.macs == sender.macs
    assert len(receiver.macs) == 1
    assert result.warnings == []
    assert [(m.operation, m.index, m.patch_version) for m in result.mutations] == [
        (Operation.SET, ("mute", "1@s.whatsapp.net"), 1),
        (Operation.SET, ("mute", "2@s.whatsapp.net"), 1),
        (Operation.SET, ("mute", "1@s.whatsapp.net"), 2),
        (Operation.REMOVE, ("mute", "2@s.whatsapp.net"), 3),
    ]
    first = result.mutations[0]
    assert first.action.mute_action.muted
    assert first.timestamp == TS
    assert first.api_version == 2
    assert result.mutations[2].action.mute_action.muted is False


def test_patches_applied_one_call_at_a_time_match_a_batch() -> None:
    sender = Ledger()
    patches = [_encode(sender, _mute(f"{i % 3}@s.whatsapp.net", i % 2 == 0)) for i in range(7)]
    one_by_one = Ledger()
    for raw in patches:
        one_by_one.commit(
            apply_patches(one_by_one.state, [parse_patch(raw)], _keyring(), one_by_one.macs)
        )
    batch = Ledger()
    batch.commit(apply_patches(batch.state, [parse_patch(p) for p in patches], _keyring(), {}))
    assert one_by_one.state == batch.state == sender.state
    assert one_by_one.macs == batch.macs == sender.macs


def test_snapshot_then_patches() -> None:
    keyring = _keyring()
    snapshot = encode_snapshot(
        NAME,
        5,
        [_mute("1@s.whatsapp.net"), _mute("2@s.whatsapp.net")],
        keyring,
        KEY_ID,
        timestamp_ms=TS,
    )
    ledger = Ledger()
    result = apply_snapshot(NAME, parse_snapshot(snapshot.SerializeToString()), keyring)
    assert result.macs.replace
    assert len(result.macs.upsert) == 2
    assert result.state.version == 5
    ledger.commit(result)
    sender = Ledger()
    sender.state, sender.macs = ledger.state, dict(ledger.macs)
    raw = _encode(sender, _remove("1@s.whatsapp.net"))
    ledger.commit(apply_patches(ledger.state, [parse_patch(raw)], keyring, ledger.macs))
    assert ledger.state == sender.state
    assert ledger.state.version == 6
    assert len(ledger.macs) == 1


def _tampered(raw: bytes, edit: str) -> pb.SyncdPatch:
    patch = parse_patch(raw)
    record = patch.mutations[0].record
    if edit == "value":
        blob = bytearray(record.value.blob)
        blob[20] ^= 1
        record.value.blob = bytes(blob)
    elif edit == "value_mac":
        record.value.blob = record.value.blob[:-1] + bytes([record.value.blob[-1] ^ 1])
    elif edit == "index":
        record.index.blob = bytes(32)
    elif edit == "snapshot":
        patch.snapshot_mac = bytes(32)
    elif edit == "patch":
        patch.patch_mac = bytes(32)
    elif edit == "operation":
        patch.mutations[0].operation = pb.SyncdMutation.REMOVE
    elif edit == "drop":
        del patch.mutations[1]
    return patch


@pytest.mark.parametrize(
    ("edit", "kind"),
    [
        ("value", "value"),  # the claimed value MAC still adds up: the content MAC catches it
        ("value_mac", "snapshot"),
        ("index", "index"),  # a fresh index holds no previous value: the index MAC catches it
        ("snapshot", "snapshot"),
        ("patch", "patch"),
        ("operation", "snapshot"),
        ("drop", "snapshot"),
    ],
)
def test_every_tampering_is_caught(edit: str, kind: str) -> None:
    sender = Ledger()
    raw = _encode(sender, _mute("1@s.whatsapp.net"), _mute("2@s.whatsapp.net"))
    receiver = Ledger()
    with pytest.raises(AppStateMACMismatch) as info:
        apply_patches(receiver.state, [_tampered(raw, edit)], _keyring(), receiver.macs)
    assert info.value.kind == kind
    assert info.value.collection == NAME
    assert info.value.version == 1


def test_tampering_with_consistent_outer_macs_is_caught_by_inner_macs() -> None:
    # A forger who knows the snapshot/patch keys but not the value MAC or index keys: re-MAC the
    # patch around a changed ciphertext or index MAC; the per-mutation checks still fail.
    from wamd.appstate.crypto import patch_mac, snapshot_mac
    from wamd.appstate.lthash import EMPTY_HASH, subtract_then_add

    keyring = _keyring()
    keys = keyring.get(KEY_ID)
    sender = Ledger()
    raw = _encode(sender, _mute("1@s.whatsapp.net"))
    for edit, kind in (("value", "value"), ("index", "index")):
        patch = parse_patch(raw)
        record = patch.mutations[0].record
        if edit == "value":
            blob = bytearray(record.value.blob)
            blob[20] ^= 1
            record.value.blob = bytes(blob)
        else:
            record.index.blob = os.urandom(32)
        lthash = subtract_then_add(EMPTY_HASH, (), [record.value.blob[-32:]])
        patch.snapshot_mac = snapshot_mac(lthash, 1, NAME, keys.snapshot_mac)
        patch.patch_mac = patch_mac(
            patch.snapshot_mac, [record.value.blob[-32:]], 1, NAME, keys.patch_mac
        )
        with pytest.raises(AppStateMACMismatch) as info:
            apply_patches(CollectionState(NAME), [patch], keyring, {})
        assert info.value.kind == kind


def test_snapshot_tampering() -> None:
    keyring = _keyring()
    snapshot = encode_snapshot(
        NAME, 3, [_mute("1@s.whatsapp.net")], keyring, KEY_ID, timestamp_ms=TS
    )
    snapshot.mac = bytes(32)
    with pytest.raises(AppStateMACMismatch) as info:
        apply_snapshot(NAME, snapshot, keyring)
    assert info.value.kind == "snapshot"
    snapshot = encode_snapshot(
        NAME, 3, [_mute("1@s.whatsapp.net")], keyring, KEY_ID, timestamp_ms=TS
    )
    with pytest.raises(AppStateMACMismatch):
        apply_snapshot("regular_low", snapshot, keyring)  # the collection name is covered
    with pytest.raises(AppStateMalformed):
        apply_snapshot(NAME, pb.SyncdSnapshot(), keyring)


def test_missing_keys_are_listed() -> None:
    sender = Ledger()
    raw = _encode(sender, _mute("1@s.whatsapp.net"))
    patch = parse_patch(raw)
    assert key_ids_needed(None, [patch]) == {KEY_ID}
    with pytest.raises(AppStateKeyMissing) as info:
        apply_patches(CollectionState(NAME), [patch], Keyring({b"other": os.urandom(32)}), {})
    assert info.value.key_ids == [KEY_ID]
    assert "AAAAAQI=" in str(info.value)


def test_versions_must_advance() -> None:
    sender = Ledger()
    raw = _encode(sender, _mute("1@s.whatsapp.net"))
    with pytest.raises(AppStateVersionError):
        apply_patches(CollectionState(NAME, version=1), [parse_patch(raw)], _keyring(), {})


def test_missing_patch_version_means_next() -> None:
    sender = Ledger()
    patch = parse_patch(_encode(sender, _mute("1@s.whatsapp.net")))
    patch.ClearField("version")
    assert apply_patches(CollectionState(NAME), [patch], _keyring(), {}).state == sender.state


def test_remove_of_unknown_index_is_a_warning() -> None:
    sender = Ledger()
    raw = _encode(sender, _remove("9@s.whatsapp.net"))
    result = apply_patches(CollectionState(NAME), [parse_patch(raw)], _keyring(), {})
    assert result.state == sender.state
    assert len(result.warnings) == 1
    assert "REMOVE" in result.warnings[0]


def test_external_mutations() -> None:
    sender = Ledger()
    patch = parse_patch(_encode(sender, _mute("1@s.whatsapp.net")))
    blob = pb.SyncdMutations(mutations=patch.mutations).SerializeToString()
    outer = pb.SyncdPatch()
    outer.CopyFrom(patch)
    del outer.mutations[:]
    outer.external_mutations.direct_path = "/v/t62/x"
    with pytest.raises(AppStateMalformed, match="not downloaded"):
        apply_patches(CollectionState(NAME), [outer], _keyring(), {})
    resolve_external_mutations(outer, blob)
    assert apply_patches(CollectionState(NAME), [outer], _keyring(), {}).state == sender.state
    with pytest.raises(AppStateMalformed):
        resolve_external_mutations(outer, b"\xff\xff")
    with pytest.raises(AppStateMalformed):
        resolve_external_mutations(outer, b"")


def test_bad_index_json_is_malformed() -> None:
    keyring = _keyring()
    keys = keyring.get(KEY_ID)
    from wamd.appstate.crypto import index_mac, patch_mac, snapshot_mac
    from wamd.appstate.lthash import EMPTY_HASH, subtract_then_add

    for raw_index in (b"not json", b'{"a":1}', b"[]", b"[1]"):
        data = pb.SyncActionData(index=raw_index, value=pb.SyncActionValue(), version=1)
        blob = encrypt_value(keys, KEY_ID, Operation.SET, data.SerializeToString())
        patch = pb.SyncdPatch()
        patch.version.version = 1
        patch.key_id.id = KEY_ID
        m = patch.mutations.add()
        m.operation = pb.SyncdMutation.SET
        m.record.index.blob = index_mac(keys.index, raw_index)
        m.record.value.blob = blob
        m.record.key_id.id = KEY_ID
        lthash = subtract_then_add(EMPTY_HASH, (), [blob[-32:]])
        patch.snapshot_mac = snapshot_mac(lthash, 1, NAME, keys.snapshot_mac)
        patch.patch_mac = patch_mac(patch.snapshot_mac, [blob[-32:]], 1, NAME, keys.patch_mac)
        with pytest.raises(AppStateMalformed):
            apply_patches(CollectionState(NAME), [patch], keyring, {})


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=400))
def test_garbage_patches_only_raise_typed_errors(data: bytes) -> None:
    try:
        patch = parse_patch(data)
        apply_patches(CollectionState(NAME), [patch], _keyring(), {})
    except AppStateError:
        pass


@settings(max_examples=200)
@given(st.data())
def test_mutated_valid_patch_never_applies(data: st.DataObject) -> None:
    sender = Ledger()
    raw = bytearray(_encode(sender, _mute("1@s.whatsapp.net"), _mute("2@s.whatsapp.net")))
    pos = data.draw(st.integers(0, len(raw) - 1))
    raw[pos] ^= data.draw(st.integers(1, 255))
    try:
        result = apply_patches(CollectionState(NAME), [parse_patch(bytes(raw))], _keyring(), {})
    except AppStateError:
        return
    # A flip that leaves a valid patch can only touch bytes outside every MAC's coverage
    # (e.g. the optional version field turning into another unknown field): same outcome.
    assert result.state == sender.state
