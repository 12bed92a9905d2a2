"""Property tests of the Signal core: delivery orders, skip bounds, tampering, sender keys."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.unit.signal_helpers import Party, connected
from wamd.errors import DuplicateMessage, InvalidMessage, NoSession
from wamd.signal import group as group_ops
from wamd.signal.state import Limits

# every test runs on both implementations of the ratchet's symmetric step (conftest)
pytestmark = pytest.mark.usefixtures("signal_impl")

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(st.data(), st.integers(1, 30), st.integers(1, 12))
def test_any_order_within_the_skip_bound_decrypts(data: st.DataObject, n: int, bound: int) -> None:
    """Deliver n messages of one chain in an arbitrary order with max_skip = bound: a message
    decrypts iff it is behind the chain (its key was stored) or at most ``bound`` ahead of it;
    otherwise InvalidMessage and an unchanged state."""
    alice, bob = connected(Limits(max_skip=bound))
    sent = [alice.send(f"m{i}".encode()) for i in range(n)]
    order = data.draw(st.permutations(range(n)))
    index = 0  # the chain's next index: one past the highest counter delivered
    for i in order:
        before = bob.snapshot()
        if i < index or i - index <= bound:
            assert bob.receive(*sent[i]) == f"m{i}".encode()
            index = max(index, i + 1)
        else:
            try:
                bob.receive(*sent[i])
            except InvalidMessage:
                assert bob.snapshot() == before
            else:
                raise AssertionError("a message beyond the skip bound decrypted")


@SETTINGS
@given(st.data())
def test_interleaved_ratchet_steps_in_any_order(data: st.DataObject) -> None:
    """Several chains in both directions; each side receives everything in any order."""
    alice, bob = connected()
    to_bob: list[tuple[tuple[str, bytes], bytes]] = []
    to_alice: list[tuple[tuple[str, bytes], bytes]] = []
    for round_ in range(data.draw(st.integers(1, 4))):
        for i in range(data.draw(st.integers(1, 4))):
            text = f"a{round_}.{i}".encode()
            to_bob.append((alice.send(text), text))
        # deliver one message so that Bob steps the ratchet and answers on a new chain
        (item, text) = to_bob.pop(data.draw(st.integers(0, len(to_bob) - 1)))
        assert bob.receive(*item) == text
        for i in range(data.draw(st.integers(1, 4))):
            text = f"b{round_}.{i}".encode()
            to_alice.append((bob.send(text), text))
        (item, text) = to_alice.pop(data.draw(st.integers(0, len(to_alice) - 1)))
        assert alice.receive(*item) == text
    for receiver, queue in ((bob, to_bob), (alice, to_alice)):
        for k in data.draw(st.permutations(range(len(queue)))):
            item, text = queue[k]
            assert receiver.receive(*item) == text
        for item, _ in queue:
            try:
                receiver.receive(*item)
            except DuplicateMessage:
                continue
            raise AssertionError("a replayed message decrypted twice")


@SETTINGS
@given(st.data())
def test_tampered_msg_fails_typed_and_leaves_state(data: st.DataObject) -> None:
    alice, bob = connected()
    for _ in range(data.draw(st.integers(0, 3))):
        bob.receive(*alice.send(b"warm-up"))
    enc_type, msg = alice.send(data.draw(st.binary(max_size=64)))
    position = data.draw(st.integers(0, 10**6)) % len(msg)
    mask = data.draw(st.integers(1, 255))
    bad = msg[:position] + bytes([msg[position] ^ mask]) + msg[position + 1 :]
    before = bob.snapshot()
    try:
        bob.receive(enc_type, bad)
    except (InvalidMessage, DuplicateMessage, NoSession):
        pass
    else:
        raise AssertionError("a tampered message decrypted")
    assert bob.snapshot() == before


@SETTINGS
@given(st.binary(max_size=200))
def test_random_bytes_never_crash_decryption(junk: bytes) -> None:
    alice, bob = connected()
    before = bob.snapshot()
    for enc_type, payload in (("msg", junk), ("msg", b"\x33" + junk), ("pkmsg", b"\x33" + junk)):
        try:
            bob.receive(enc_type, payload)
        except (InvalidMessage, DuplicateMessage, NoSession):
            pass
        else:
            raise AssertionError("junk decrypted")
        assert bob.snapshot() == before
    assert alice.record is not None


@SETTINGS
@given(st.data(), st.integers(1, 25), st.integers(1, 10))
def test_sender_key_orders_bounds_and_tampering(data: st.DataObject, n: int, bound: int) -> None:
    limits = Limits(max_skip=bound)
    own = group_ops.create_sender_key()
    theirs = group_ops.process_distribution(None, group_ops.distribution_message(own))
    sent = []
    for i in range(n):
        own, msg = group_ops.group_encrypt(own, f"g{i}".encode())
        sent.append(msg)
    index = 0
    for i in data.draw(st.permutations(range(n))):
        before = theirs.serialize()
        # key ids are random, so lengths vary between runs: draw independently of them
        position = data.draw(st.integers(0, 10**6)) % len(sent[i])
        bad = sent[i][:position] + bytes([sent[i][position] ^ 0x10]) + sent[i][position + 1 :]
        try:
            group_ops.group_decrypt(theirs, bad, limits)
        except (InvalidMessage, NoSession):
            assert theirs.serialize() == before
        else:
            raise AssertionError("a tampered group message decrypted")
        if i < index or i - index <= bound:
            theirs, plaintext = group_ops.group_decrypt(theirs, sent[i], limits)
            assert plaintext == f"g{i}".encode()
            index = max(index, i + 1)
        else:
            try:
                group_ops.group_decrypt(theirs, sent[i], limits)
            except InvalidMessage:
                assert theirs.serialize() == before
            else:
                raise AssertionError("a group message beyond the skip bound decrypted")


def test_party_helper_is_sound() -> None:
    alice, bob = Party(), Party()
    alice.start(bob)
    assert bob.receive(*alice.send(b"x")) == b"x"


def _pb_reading(payload: bytes) -> tuple[bytes, int, int, bytes] | None:
    """What protobuf itself reads from a SignalMessage payload (None: invalid for us).

    wamd's reader is stricter in two ways that legitimate senders never meet: it refuses
    unknown fields of the deprecated group wire types and counters above 2**32 - 1 (which
    protobuf truncates). Such payloads count as invalid here.
    """
    from google.protobuf import unknown_fields
    from google.protobuf.message import DecodeError

    from wamd.proto import signal_pb2

    try:
        msg = signal_pb2.SignalMessage.FromString(payload)
    except DecodeError:
        return None
    if any(f.wire_type in (3, 4) for f in unknown_fields.UnknownFieldSet(msg)):
        return None
    if not (msg.HasField("ratchet_key") and msg.HasField("counter") and msg.HasField("ciphertext")):
        return None
    if len(msg.ratchet_key) != 33 or msg.ratchet_key[0] != 5:
        return None
    return msg.ratchet_key[1:], msg.counter, msg.previous_counter, msg.ciphertext


def _check_same_reading(payload: bytes) -> None:
    from wamd.signal import wire

    data = b"\x33" + payload + bytes(8)
    try:
        ours = wire.parse_signal_message(data)
    except InvalidMessage:
        ours = None
    theirs = _pb_reading(payload)
    if ours is None:
        # otherwise stricter than protobuf only about out-of-range counters (long varints)
        if theirs is not None:
            assert any(b > 0x7F for b in payload)
        return
    assert theirs == (ours.ratchet_key, ours.counter, ours.previous_counter, ours.ciphertext)
    assert ours.signed == data[:-8]


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=120))
def test_signal_message_reader_agrees_with_protobuf_on_junk(payload: bytes) -> None:
    _check_same_reading(payload)


@settings(max_examples=300, deadline=None)
@given(
    st.binary(min_size=32, max_size=32),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.binary(max_size=60),
    st.lists(
        st.tuples(st.integers(5, 3000), st.sampled_from([0, 1, 2, 5]), st.binary(max_size=9)),
        max_size=3,
    ),
    st.booleans(),
    st.integers(0, 10),
)
def test_signal_message_reader_agrees_with_protobuf(
    key: bytes,
    counter: int,
    previous: int,
    ciphertext: bytes,
    unknown: list[tuple[int, int, bytes]],
    reorder: bool,
    cut: int,
) -> None:
    from wamd.proto import signal_pb2

    msg = signal_pb2.SignalMessage(
        ratchet_key=b"\x05" + key, counter=counter, previous_counter=previous, ciphertext=ciphertext
    )
    extra = b""
    for number, wire_type, raw in unknown:
        tag = _varint_bytes(number << 3 | wire_type)
        if wire_type == 0:
            extra += tag + _varint_bytes(int.from_bytes(raw, "little") & (2**63 - 1))
        elif wire_type == 1:
            extra += tag + raw.ljust(8, b"\0")[:8]
        elif wire_type == 5:
            extra += tag + raw.ljust(4, b"\0")[:4]
        else:
            extra += tag + _varint_bytes(len(raw)) + raw
    body = msg.SerializeToString()
    payload = extra + body if reorder else body + extra
    _check_same_reading(payload)
    if cut:
        _check_same_reading(payload[:-cut])  # truncated: both refuse, or both read the same


def _varint_bytes(n: int) -> bytes:
    from wamd.signal._pbwrite import varint

    return varint(n)
