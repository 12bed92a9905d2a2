"""The shortcuts of the Signal receive path give what the long way gives.

States keep serialized bytes (the fields up to the sender index once written; the whole state
when parsed from bytes), and a ``pkmsg`` looks for its session among archived states only when
the current one does not match (parsing them only then).
"""

from __future__ import annotations

import pytest

from tests.unit.signal_helpers import Party, connected
from wamd.errors import StoreError
from wamd.proto import signal_pb2
from wamd.signal.state import SessionRecord, SessionState


def _fresh(state: SessionState) -> SessionState:
    """The same state with nothing kept from an earlier serialization (a plain copy)."""
    new = state.copy()
    assert new._head is None
    assert new._stored is None
    return new


def _check(record: SessionRecord | None) -> None:
    """The record's bytes are protobuf's own and those of the same states built anew."""
    assert record is not None
    data = record.serialize()
    assert signal_pb2.SessionRecord.FromString(data).SerializeToString() == data
    states = [record.previous_state(i) for i in range(record.previous_count)]
    anew = SessionRecord(
        _fresh(record.current) if record.current is not None else None,
        [_fresh(s) for s in states],
    )
    assert anew.serialize() == data


def test_kept_bytes_follow_every_change() -> None:
    alice, bob = connected()
    for party in (alice, bob):
        party.record = SessionRecord.deserialize(party.snapshot())  # states parsed from bytes
    for round_ in range(3):
        for i in range(3):  # the same chain: no DH step, the head is kept
            assert bob.receive(*alice.send(b"a%d" % i)) == b"a%d" % i
            _check(bob.record)
            _check(alice.record)
        assert alice.receive(*bob.send(b"b%d" % round_)) == b"b%d" % round_  # a DH step
        _check(alice.record)
        _check(bob.record)
    alice.start(bob, 2)  # the current state is archived: it keeps its bytes
    _check(alice.record)
    assert bob.receive(*alice.send(b"new")) == b"new"
    _check(bob.record)
    reloaded = SessionRecord.deserialize(bob.snapshot())
    assert reloaded.serialize() == bob.snapshot()
    _check(reloaded)


def test_pkmsg_parses_archived_states_only_when_needed() -> None:
    alice, bob = Party(), Party()
    alice.start(bob)
    assert bob.receive(*alice.send(b"first")) == b"first"
    assert bob.record is not None
    assert bob.record.current is not None
    # an archived state that cannot be parsed: the current state matches, it is never read
    bob.record = SessionRecord(bob.record.current, [b"\xff\xff"])
    assert bob.receive(*alice.send(b"second")) == b"second"
    assert bob.record.previous_count == 1
    # a pkmsg of another session than the current one reaches the archived state
    carol_side = Party()
    carol_side.local = alice.local
    carol_side.start(bob, None)
    with pytest.raises(StoreError):
        bob.receive(*carol_side.send(b"third"))


def test_pkmsg_for_an_archived_session() -> None:
    alice, bob = Party(), Party()
    alice.start(bob)
    early = alice.send(b"early")
    assert bob.receive(*alice.send(b"first")) == b"first"
    second = Party()
    second.local = alice.local
    second.start(bob, 2)
    assert bob.receive(*second.send(b"new session")) == b"new session"
    assert bob.record is not None
    assert bob.record.previous_count == 1
    bob.record = SessionRecord.deserialize(bob.snapshot())  # archived state as bytes
    assert bob.receive(*early) == b"early"  # decrypted by the archived session
    _check(bob.record)
    assert bob.receive(*second.send(b"again")) == b"again"
