"""Fatal-error recovery from the primary device: the phone's answer (built from the server's
live records, as the sandbox's phone builds it) restores a device's collection; anything
inconsistent or unasked is refused with a typed error and changes nothing."""

from __future__ import annotations

import gzip
import os

import pytest

from tests.appstate.harness import PHONE, Backend, share_key
from wamd.appstate import actions
from wamd.appstate import events as ev
from wamd.appstate import recovery as rec
from wamd.appstate.keys import Keyring
from wamd.errors import AppStateKeyMissing, AppStateMACMismatch, AppStateMalformed
from wamd.proto import appstate_pb2 as pb
from wamd.types import JID

CHAT = JID.parse("15550004444@s.whatsapp.net")


async def _recovery_of(
    backend: Backend, name: str, keys: dict[bytes, bytes]
) -> pb.SyncdSnapshotRecovery:
    snapshot = await backend.server.snapshot(PHONE, name)
    assert snapshot is not None
    return rec.recovery_from_snapshot(snapshot, name, keys)


async def test_the_phones_answer_restores_a_broken_collection() -> None:
    backend = Backend()
    a, b = await backend.device(), await backend.device()
    key = await share_key(a, b)
    await a.push(actions.mute(CHAT))
    await a.push(actions.star(actions.MessageRef(CHAT, "M1", from_me=True, timestamp=1)))
    await a.push(actions.mute(CHAT, until_ms=1_900_000_000_000))
    await backend.server.corrupt_patch_mac(PHONE, "regular_high", 2)
    await backend.server.corrupt_snapshot_mac(PHONE, "regular_high")

    with pytest.raises(AppStateMACMismatch):
        await b.engine.sync_collection("regular_high")
    assert b.recoveries == ["regular_high"]
    assert (await b.account.app_state.get_version("regular_high")).version == 0

    answer = rec.recovery_response_message(
        await _recovery_of(backend, "regular_high", {key.key_id: key.key_data}), "REQ1"
    )
    assert rec.is_recovery_response(answer)
    [recovery] = rec.recoveries_in(answer)
    events = await b.engine.apply_recovery(recovery)
    assert isinstance(events[-1], ev.AppStateSyncComplete)
    assert events[-1].recovery
    assert events[-1].version == 3
    assert {type(e) for e in events[:-1]} == {ev.Mute, ev.Star}
    assert all(e.full_sync for e in events)
    assert b.engine.recovering == {}
    ours = await b.account.app_state.get_version("regular_high")
    assert ours == await a.account.app_state.get_version("regular_high")
    # the recovered state is the one the next patch builds on: a verifies b's push
    await b.push(actions.mute(CHAT, False))
    await a.handle_notifications()
    assert isinstance(a.events[-1], ev.Mute)
    assert a.events[-1].muted is False


async def test_bad_or_unasked_recoveries_change_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    backend = Backend()
    a, b = await backend.device(), await backend.device()
    key = await share_key(a, b)
    await a.push(actions.mute(CHAT))
    good = await _recovery_of(backend, "regular_high", {key.key_id: key.key_data})

    with pytest.raises(AppStateMalformed, match="not asked"):
        await b.engine.apply_recovery(good)
    b.engine.recovering["regular_high"] = 0.0

    tampered = pb.SyncdSnapshotRecovery()
    tampered.CopyFrom(good)
    tampered.collection_lthash = bytes(128)
    with pytest.raises(AppStateMACMismatch):
        await b.engine.apply_recovery(tampered)
    keyring = Keyring({key.key_id: key.key_data})
    with pytest.raises(AppStateMalformed, match="asked"):
        rec.apply_recovery("regular_low", good, keyring)
    with pytest.raises(AppStateKeyMissing):
        rec.apply_recovery("regular_high", good, Keyring({os.urandom(6): os.urandom(32)}))
    short = pb.SyncdSnapshotRecovery()
    short.CopyFrom(good)
    short.collection_lthash = b"x"
    with pytest.raises(AppStateMalformed, match="LTHash"):
        rec.apply_recovery("regular_high", short, keyring)
    twice = pb.SyncdSnapshotRecovery()
    twice.CopyFrom(good)
    twice.mutation_records.add().CopyFrom(good.mutation_records[0])
    with pytest.raises(AppStateMalformed, match="twice"):
        rec.apply_recovery("regular_high", twice, keyring)

    monkeypatch.setattr(rec, "MAX_RECOVERY_SIZE", 1000)
    bomb = rec.recovery_response_message(good, "REQ2")
    result = bomb.protocol_message.peer_data_operation_request_response_message
    result.peer_data_operation_result[
        0
    ].syncd_snapshot_fatal_recovery_response.collection_snapshot = gzip.compress(bytes(10_000))
    with pytest.raises(AppStateMalformed, match="recovery payload"):
        rec.recoveries_in(bomb)
    garbage = rec.recovery_response_message(good, "REQ3", compress=False)
    result = garbage.protocol_message.peer_data_operation_request_response_message
    result.peer_data_operation_result[
        0
    ].syncd_snapshot_fatal_recovery_response.collection_snapshot = b"\xff\xff\xff"
    with pytest.raises(AppStateMalformed):
        rec.recoveries_in(garbage)

    assert (await b.account.app_state.get_version("regular_high")).version == 0
    events = await b.engine.apply_recovery(good)  # the good one still applies
    assert isinstance(events[0], ev.Mute)
