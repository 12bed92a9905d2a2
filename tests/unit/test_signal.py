"""The Signal core: keys, X3DH, the Double Ratchet, records, sender keys, padding, wire."""

from __future__ import annotations

import pytest

from tests.unit.signal_helpers import Party, connected
from wamd.crypto import KeyPair, djb_encode, verify_signature
from wamd.errors import CryptoError, DuplicateMessage, InvalidMessage, NoSession, StoreError
from wamd.signal import group as group_ops
from wamd.signal import keys, wire
from wamd.signal.padding import pad, unpad
from wamd.signal.session_cipher import decrypt_signal_message, encrypt
from wamd.signal.state import Limits, SessionRecord

# every test runs on both implementations of the ratchet's symmetric step (conftest)
pytestmark = pytest.mark.usefixtures("signal_impl")

# --- keys ---------------------------------------------------------------------------------------


def test_registration_ids_and_prekey_ids() -> None:
    ids = {keys.generate_registration_id() for _ in range(2000)}
    assert min(ids) >= 1
    assert max(ids) <= 16380
    assert keys.next_prekey_id(0xFFFFFF) == 1
    assert keys.next_prekey_id(5, 3) == 8
    batch = keys.generate_prekeys(0xFFFFFE, 3)
    assert [p.key_id for p in batch] == [0xFFFFFE, 0xFFFFFF, 1]
    assert len({p.key_pair.public for p in batch}) == 3
    with pytest.raises(ValueError, match="24 bits"):
        keys.PreKey(0x1000000, KeyPair.generate())


def test_signed_prekey_and_bundle_checks() -> None:
    identity = KeyPair.generate()
    spk = keys.generate_signed_prekey(identity, 9)
    assert verify_signature(identity.public, djb_encode(spk.key_pair.public), spk.signature)
    bundle = keys.PreKeyBundle(1, identity.public, 9, spk.key_pair.public, spk.signature)
    bundle.verify()
    bad = keys.PreKeyBundle(
        1,
        identity.public,
        9,
        spk.key_pair.public,
        bytes([spk.signature[0] ^ 1]) + spk.signature[1:],
    )
    with pytest.raises(CryptoError, match="signature"):
        bad.verify()
    other = keys.PreKeyBundle(1, KeyPair.generate().public, 9, spk.key_pair.public, spk.signature)
    with pytest.raises(CryptoError):
        other.verify()
    half = keys.PreKeyBundle(1, identity.public, 9, spk.key_pair.public, spk.signature, 3, None)
    with pytest.raises(CryptoError):
        half.verify()


# --- sessions -----------------------------------------------------------------------------------


@pytest.mark.parametrize("prekey_id", [1, 0xFFFFFF, None])
def test_session_setup_and_conversation(prekey_id: int | None) -> None:
    alice, bob = Party(), Party()
    alice.start(bob, prekey_id)
    first = [alice.send(f"m{i}".encode()) for i in range(3)]
    assert [t for t, _ in first] == ["pkmsg"] * 3
    # Bob gets them out of order; the repeated X3DH header reuses the session made by the first.
    assert bob.receive(*first[2]) == b"m2"
    assert bob.receive(*first[0]) == b"m0"
    assert bob.receive(*first[1]) == b"m1"
    if prekey_id is None:
        assert len(bob.prekeys) == 4
    else:
        assert prekey_id not in bob.prekeys
    for round_ in range(5):
        replies = [bob.send(f"r{round_}.{i}".encode()) for i in range(round_ + 1)]
        assert all(t == "msg" for t, _ in replies)
        for i, item in enumerate(replies):
            assert alice.receive(*item) == f"r{round_}.{i}".encode()
        t, data = alice.send(f"a{round_}".encode())
        assert t == "msg"
        assert bob.receive(t, data) == f"a{round_}".encode()


def test_pkmsg_ids_and_registration_on_the_wire() -> None:
    alice, bob = Party(), Party()
    alice.start(bob, 2)
    enc_type, data = alice.send(b"x")
    assert enc_type == "pkmsg"
    assert data[0] == 0x33
    parsed = wire.parse_prekey_message(data)
    assert parsed.pre_key_id == 2
    assert parsed.signed_pre_key_id == 5
    assert parsed.registration_id == alice.local.registration_id
    assert parsed.identity_key == alice.local.key_pair.public
    inner = wire.parse_signal_message(parsed.message)
    assert inner.counter == 0
    assert len(inner.mac) == 8


def test_duplicates_are_detected() -> None:
    alice, bob = Party(), Party()
    alice.start(bob)
    pk = alice.send(b"one")
    assert bob.receive(*pk) == b"one"
    with pytest.raises(DuplicateMessage):
        bob.receive(*pk)
    msgs = [bob.send(b"a"), bob.send(b"b")]
    assert alice.receive(*msgs[1]) == b"b"
    assert alice.receive(*msgs[0]) == b"a"
    for m in msgs:
        with pytest.raises(DuplicateMessage):
            alice.receive(*m)


def test_no_session_errors() -> None:
    alice = Party()
    with pytest.raises(NoSession):
        encrypt(None, alice.local, b"x")
    with pytest.raises(NoSession):
        decrypt_signal_message(None, alice.local, b"\x33" + bytes(20))
    with pytest.raises(NoSession):
        alice.receive("msg", b"\x33" + bytes(20))


def test_old_session_still_decrypts_after_new_one() -> None:
    alice, bob = connected()
    late_from_bob = [bob.send(b"late-1"), bob.send(b"late-2")]
    late_from_alice = alice.send(b"old session")
    # Alice starts over from a fresh bundle: the old state is archived, not lost.
    alice.start(bob, 2)
    assert alice.record is not None
    assert alice.record.previous_count == 1
    assert alice.receive(*late_from_bob[1]) == b"late-2"
    enc_type, data = alice.send(b"new session")
    assert enc_type == "pkmsg"
    # Bob receives the new pkmsg: his old session is archived, and late messages of the old
    # session still decrypt with it, on both sides.
    assert bob.receive(enc_type, data) == b"new session"
    assert bob.record is not None
    assert bob.record.previous_count == 1
    assert bob.receive(*late_from_alice) == b"old session"
    assert alice.receive(*late_from_bob[0]) == b"late-1"
    # the new session is the one in use
    assert alice.receive(*bob.send(b"on the new one")) == b"on the new one"
    assert bob.record.current is not None
    assert bob.record.current.base_key == wire.parse_prekey_message(data).base_key


def test_archived_states_are_bounded() -> None:
    limits = Limits(max_archived_sessions=3)
    alice, bob = Party(limits=limits), Party(limits=limits)
    for _ in range(6):
        alice.start(bob, None)
    assert alice.record is not None
    assert alice.record.previous_count == 3


def test_skip_bound_and_unchanged_state() -> None:
    alice, bob = connected(Limits(max_skip=10))
    sent = [alice.send(f"{i}".encode()) for i in range(13)]
    before = bob.snapshot()
    with pytest.raises(InvalidMessage, match="ahead"):
        bob.receive(*sent[11])  # 11 ahead of index 0 > 10
    assert bob.snapshot() == before
    assert bob.receive(*sent[10]) == b"10"
    assert bob.receive(*sent[12]) == b"12"
    assert bob.receive(*sent[11]) == b"11"
    for i in range(10):
        assert bob.receive(*sent[i]) == f"{i}".encode()


def test_skipped_keys_bounded_per_chain_and_in_total() -> None:
    limits = Limits(max_skip=100, max_skipped_per_chain=30, max_skipped_total=40)
    alice, bob = connected(limits)
    first = [alice.send(b"x") for _ in range(50)]
    assert bob.receive(*first[-1]) == b"x"  # 49 keys skipped, 30 kept (the newest)
    assert bob.record is not None
    assert bob.record.current is not None
    chain = bob.record.current.receiver_chains[-1]
    assert sorted(chain.skipped) == list(range(19, 49))
    with pytest.raises(DuplicateMessage):
        bob.receive(*first[0])  # its key was dropped
    assert bob.receive(*first[30]) == b"x"
    # a ratchet step: Bob replies, Alice answers on a new chain, skipping 20 more
    assert alice.receive(*bob.send(b"r")) == b"r"
    second = [alice.send(b"y") for _ in range(21)]
    assert bob.receive(*second[-1]) == b"y"
    state = bob.record.current
    assert sum(len(c.skipped) for c in state.receiver_chains) == 40
    assert len(state.receiver_chains[-1].skipped) == 20


def test_receiver_chains_are_bounded() -> None:
    alice, bob = connected(Limits(max_receiver_chains=3))
    for i in range(6):
        assert bob.receive(*alice.send(b"a")) == b"a"
        assert alice.receive(*bob.send(b"b")) == b"b"
        assert bob.record is not None
        assert bob.record.current is not None
        assert len(bob.record.current.receiver_chains) <= 3, i


def test_tampering_any_byte_of_msg() -> None:
    alice, bob = connected()
    enc_type, data = alice.send(b"tamper me " * 3)
    before = bob.snapshot()
    for i in range(len(data)):
        for mask in (0x01, 0x80):
            bad = data[:i] + bytes([data[i] ^ mask]) + data[i + 1 :]
            with pytest.raises((InvalidMessage, DuplicateMessage, NoSession)):
                bob.receive(enc_type, bad)
            assert bob.snapshot() == before
    for bad in (data[:-1], data + b"\x00", data[:9], b"", b"\x33"):
        with pytest.raises(InvalidMessage):
            bob.receive(enc_type, bad)
    assert bob.snapshot() == before
    assert bob.receive(enc_type, data) == b"tamper me " * 3


def test_tampering_any_byte_of_pkmsg() -> None:
    """Every byte of a pkmsg is authenticated except the registration id, which the protocol
    carries in the clear (libsignal stores it; nothing can check it)."""
    alice, bob = Party(), Party()
    alice.start(bob)
    enc_type, data = alice.send(b"first message")
    reg = alice.local.registration_id
    body = data[1:]
    marker = b"\x28"  # field 5, varint
    reg_start = body.index(marker + _varint(reg)) + 1 + 1
    reg_span = range(reg_start, reg_start + len(_varint(reg)))
    for i in range(len(data)):
        for mask in (0x01, 0x40):
            bad = data[:i] + bytes([data[i] ^ mask]) + data[i + 1 :]
            fresh = Party(local=bob.local, signed=bob.signed)
            fresh.signed, fresh.prekeys = bob.signed, dict(bob.prekeys)
            try:
                fresh.receive(enc_type, bad)
            except (InvalidMessage, DuplicateMessage, NoSession):
                assert fresh.record is None
                assert len(fresh.prekeys) == len(bob.prekeys)
                continue
            assert i in reg_span, f"tampered byte {i} was accepted"
    assert bob.receive(enc_type, data) == b"first message"


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def test_record_serialization_roundtrip_and_continue() -> None:
    alice, bob = connected()
    skipped = [alice.send(b"s1"), alice.send(b"s2")]
    assert bob.receive(*alice.send(b"s3")) == b"s3"
    for party in (alice, bob):
        data = party.snapshot()
        restored = SessionRecord.deserialize(data)
        assert restored.serialize() == data
        party.record = restored
    assert bob.receive(*skipped[1]) == b"s2"
    assert alice.receive(*bob.send(b"after reload")) == b"after reload"
    assert bob.receive(*skipped[0]) == b"s1"
    alice.start(bob, 2)  # archive a state and reload again
    restored = SessionRecord.deserialize(alice.snapshot())
    assert restored.previous_count == 1
    assert restored.serialize() == alice.snapshot()


@pytest.mark.parametrize("data", [b"\xff\xff", b"\x0a\x05abc", b"\x0a\x03\x08\x07\x00"])
def test_corrupt_records_raise_store_error(data: bytes) -> None:
    with pytest.raises(StoreError):
        SessionRecord.deserialize(data)
    with pytest.raises(StoreError):
        group_ops.SenderKeyRecord.deserialize(data)


def test_reprs_hold_no_secrets() -> None:
    alice, _bob = connected()
    assert alice.record is not None
    state = alice.record.current
    assert state is not None
    text = repr(alice.record) + repr(state) + repr(state.receiver_chains)
    for secret in (
        state.root_key,
        state.sender_ratchet.private,
        state.sender_chain_key or b"",
        state.receiver_chains[0].chain_key,
    ):
        assert secret.hex() not in text
        assert repr(secret) not in text
    record = group_ops.create_sender_key()
    latest = record.latest
    assert latest is not None
    assert latest.signing_key is not None
    text = repr(record)
    assert latest.chain_key.hex() not in text
    assert latest.signing_key.private.hex() not in text


# --- sender keys --------------------------------------------------------------------------------


def test_sender_keys_roundtrip_out_of_order_and_duplicates() -> None:
    own = group_ops.create_sender_key()
    skdm = group_ops.distribution_message(own)
    theirs = group_ops.process_distribution(None, skdm)
    sent = []
    for i in range(20):
        own, data = group_ops.group_encrypt(own, f"g{i}".encode())
        sent.append(data)
    order = [5, 0, 19, 1, 2, 18, 3, 4, *range(6, 18)]
    for i in order:
        theirs, plaintext = group_ops.group_decrypt(theirs, sent[i])
        assert plaintext == f"g{i}".encode()
    with pytest.raises(DuplicateMessage):
        group_ops.group_decrypt(theirs, sent[7])
    restored = group_ops.SenderKeyRecord.deserialize(theirs.serialize())
    assert restored.serialize() == theirs.serialize()
    own2 = group_ops.SenderKeyRecord.deserialize(own.serialize())
    own2, data = group_ops.group_encrypt(own2, b"after reload")
    assert group_ops.group_decrypt(restored, data)[1] == b"after reload"


def test_sender_key_late_joiner_and_skip_bound() -> None:
    own = group_ops.create_sender_key()
    for _ in range(5):
        own, _unused = group_ops.group_encrypt(own, b"before")
    theirs = group_ops.process_distribution(None, group_ops.distribution_message(own))
    early_distribution = theirs
    sent = []
    for i in range(15):
        own, data = group_ops.group_encrypt(own, f"{i}".encode())
        sent.append(data)
    limits = Limits(max_skip=10)
    with pytest.raises(InvalidMessage, match="ahead"):
        group_ops.group_decrypt(theirs, sent[11], limits)
    theirs, plaintext = group_ops.group_decrypt(theirs, sent[10], limits)
    assert plaintext == b"10"
    # a replayed distribution does not rewind the chain
    replay = group_ops.process_distribution(theirs, group_ops.distribution_message(own))
    assert replay is theirs
    assert early_distribution.latest is not None


def test_sender_key_tampering_and_unknown_key_id() -> None:
    own = group_ops.create_sender_key()
    theirs = group_ops.process_distribution(None, group_ops.distribution_message(own))
    own, data = group_ops.group_encrypt(own, b"signed")
    before = theirs.serialize()
    for i in range(len(data)):
        bad = data[:i] + bytes([data[i] ^ 0x01]) + data[i + 1 :]
        with pytest.raises((InvalidMessage, NoSession)):
            group_ops.group_decrypt(theirs, bad)
    assert theirs.serialize() == before
    other = group_ops.create_sender_key()
    _, foreign = group_ops.group_encrypt(other, b"x")
    with pytest.raises(NoSession):
        group_ops.group_decrypt(theirs, foreign)
    with pytest.raises(NoSession):
        group_ops.group_encrypt(theirs, b"not ours")


def test_sender_key_states_are_bounded() -> None:
    record = None
    for _ in range(8):
        record = group_ops.process_distribution(
            record, group_ops.distribution_message(group_ops.create_sender_key())
        )
    assert record is not None
    assert len(record.states) == 5


def test_distribution_message_format() -> None:
    own = group_ops.create_sender_key()
    data = group_ops.distribution_message(own)
    assert data[0] == 0x33
    dist = wire.parse_sender_key_distribution(data)
    latest = own.latest
    assert latest is not None
    assert (dist.key_id, dist.iteration, dist.chain_key, dist.signing_key) == (
        latest.key_id,
        0,
        latest.chain_key,
        latest.signing_public,
    )
    assert 1 <= dist.key_id < 2**31


# --- padding and wire -----------------------------------------------------------------------------


def test_padding() -> None:
    lengths = set()
    for _ in range(600):
        padded = pad(b"abc")
        n = len(padded) - 3
        lengths.add(n)
        assert padded[3:] == bytes([n]) * n
        assert unpad(padded) == b"abc"
    assert lengths == set(range(1, 16))
    for bad in (b"", b"abc\x00", b"ab\x05", b"abc\x02\x03"):
        with pytest.raises(InvalidMessage):
            unpad(bad)


@pytest.mark.parametrize(
    "parse",
    [
        wire.parse_signal_message,
        wire.parse_prekey_message,
        wire.parse_sender_key_message,
        wire.parse_sender_key_distribution,
    ],
)
def test_wire_parsers_reject_garbage(parse: object) -> None:
    assert callable(parse)
    for data in (b"", b"\x33", b"\x23" + bytes(80), b"\x33" + b"\xff" * 80, b"\x33\x0a\x21\x05"):
        with pytest.raises(InvalidMessage):
            parse(data)


def test_record_bytes_are_what_protobuf_writes() -> None:
    """The hand-written record encoder emits exactly protobuf's canonical bytes."""
    from wamd.proto import signal_pb2

    alice, bob = Party(), Party()
    alice.local = type(alice.local)(alice.local.key_pair, 16000)  # two-byte varint
    alice.start(bob, 0xFFFFFF)  # a three-byte-varint prekey id, pending header
    pending = alice.snapshot()
    skipped = [alice.send(b"x") for _ in range(300)]  # indexes beyond one varint byte
    assert bob.receive(*skipped[-1]) == b"x"
    alice.start(bob, None)  # an archived state, a header without a one-time prekey
    for data in (pending, alice.snapshot(), bob.snapshot()):
        assert signal_pb2.SessionRecord.FromString(data).SerializeToString() == data
        assert SessionRecord.deserialize(data).serialize() == data
    own = group_ops.create_sender_key()
    theirs = group_ops.process_distribution(None, group_ops.distribution_message(own))
    sent = []
    for _ in range(200):
        own, msg = group_ops.group_encrypt(own, b"g")
        sent.append(msg)
    theirs, _plain = group_ops.group_decrypt(theirs, sent[-1])
    for record in (own, theirs):
        data = record.serialize()
        assert signal_pb2.SenderKeyRecord.FromString(data).SerializeToString() == data
        assert group_ops.SenderKeyRecord.deserialize(data).serialize() == data
