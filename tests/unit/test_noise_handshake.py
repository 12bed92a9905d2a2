"""The Noise handshake and connections, both roles wired together in memory, plus hostile peers."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wamd.crypto import KeyPair
from wamd.errors import CertificateError, FrameError, HandshakeError, NotConnected, WamdError
from wamd.noise import (
    NOISE_PROTOCOL_NAME,
    ConnectionState,
    FrameReceived,
    HandshakeComplete,
    InitiatorHandshake,
    NoiseClientConnection,
    NoiseServerConnection,
    ResponderHandshake,
    generate_certificate_chain,
)
from wamd.noise.framing import encode_frame
from wamd.noise.handshake import HandshakeStep, SymmetricState
from wamd.noise.transport import TransportCipher
from wamd.proto import handshake_pb2

PAYLOAD = b"client payload"


class Pair:
    """A client and a server connection wired together in memory."""

    def __init__(self, *, chain: bytes | None = None, routing_info: bytes | None = None) -> None:
        self.root = KeyPair.generate()
        self.intermediate = KeyPair.generate()
        self.server_static = KeyPair.generate()
        self.client_static = KeyPair.generate()
        self.chain = chain or generate_certificate_chain(
            root=self.root, intermediate=self.intermediate, leaf_key=self.server_static.public
        )
        self.client = NoiseClientConnection(
            static_key=self.client_static,
            client_payload=PAYLOAD,
            root_public_key=self.root.public,
            routing_info=routing_info,
        )
        self.server = NoiseServerConnection(
            static_key=self.server_static, certificate_chain=self.chain
        )

    def handshake(self) -> tuple[HandshakeComplete, HandshakeComplete]:
        self.client.start()
        assert self.server.receive_data(self.client.data_to_send()) == []
        (client_done,) = self.client.receive_data(self.server.data_to_send())
        (server_done,) = self.server.receive_data(self.client.data_to_send())
        assert isinstance(client_done, HandshakeComplete)
        assert isinstance(server_done, HandshakeComplete)
        return client_done, server_done


def test_protocol_name_is_32_bytes_so_h_is_the_name() -> None:
    assert len(NOISE_PROTOCOL_NAME) == 32
    assert SymmetricState().handshake_hash == NOISE_PROTOCOL_NAME


def test_handshake_in_memory() -> None:
    pair = Pair(routing_info=b"\x08\x01")
    client_done, server_done = pair.handshake()
    assert client_done.remote_static == pair.server_static.public
    assert client_done.certificate is not None
    assert client_done.certificate.leaf.key == pair.server_static.public
    assert server_done.remote_static == pair.client_static.public
    assert server_done.client_payload == PAYLOAD
    assert server_done.routing_info == b"\x08\x01"
    assert pair.client.state is pair.server.state is ConnectionState.OPEN
    assert pair.client.server_static == pair.server_static.public
    assert pair.server.client_static == pair.client_static.public


def test_transport_both_ways_with_independent_counters() -> None:
    pair = Pair()
    pair.handshake()
    for i in range(3):
        pair.client.send(b"up %d" % i)
    pair.server.send(b"down")
    assert pair.server.receive_data(pair.client.data_to_send()) == [
        FrameReceived(b"up 0"),
        FrameReceived(b"up 1"),
        FrameReceived(b"up 2"),
    ]
    assert pair.client.receive_data(pair.server.data_to_send()) == [FrameReceived(b"down")]
    assert (pair.client.frames_sent, pair.client.frames_received) == (3, 1)
    assert (pair.server.frames_sent, pair.server.frames_received) == (1, 3)


def test_byte_by_byte_delivery() -> None:
    pair = Pair()
    pair.client.start()
    events = []
    for byte in pair.client.data_to_send():
        events += pair.server.receive_data(bytes([byte]))
    assert events == []
    for byte in pair.server.data_to_send():
        events += pair.client.receive_data(bytes([byte]))
    assert len(events) == 1
    pair.client.send(b"x" * 1000)
    data = pair.client.data_to_send()
    events = []
    for byte in data:
        events += pair.server.receive_data(bytes([byte]))
    assert [type(e) for e in events] == [HandshakeComplete, FrameReceived]


def test_client_finish_and_frames_packed_in_one_message() -> None:
    pair = Pair()
    pair.client.start()
    pair.server.receive_data(pair.client.data_to_send())
    pair.client.receive_data(pair.server.data_to_send())
    pair.client.send(b"first")
    pair.client.send(b"y" * 100_000)  # beyond the handshake frame limit: allowed once open
    events = pair.server.receive_data(pair.client.data_to_send())
    assert [type(e) for e in events] == [HandshakeComplete, FrameReceived, FrameReceived]
    assert events[2] == FrameReceived(b"y" * 100_000)


def test_handshake_hashes_agree() -> None:
    root, intermediate, server_static = (KeyPair.generate() for _ in range(3))
    chain = generate_certificate_chain(
        root=root, intermediate=intermediate, leaf_key=server_static.public
    )
    initiator = InitiatorHandshake(KeyPair.generate(), root_public_key=root.public)
    responder = ResponderHandshake(server_static, chain)
    responder.read_client_hello(initiator.client_hello())
    initiator.read_server_hello(responder.server_hello())
    assert responder.read_client_finish(initiator.client_finish(b"p")) == b"p"
    assert initiator.handshake_hash == responder.handshake_hash
    assert initiator.step is responder.step is HandshakeStep.DONE
    a, b = initiator.transport(), responder.transport()
    assert b.decrypt(a.encrypt(b"hello")) == b"hello"
    assert a.decrypt(b.encrypt(b"world")) == b"world"


def test_steps_out_of_order_are_handshake_errors() -> None:
    initiator = InitiatorHandshake(KeyPair.generate())
    with pytest.raises(HandshakeError, match="attempted"):
        initiator.client_finish(b"")
    with pytest.raises(HandshakeError, match="attempted"):
        initiator.transport()
    responder = ResponderHandshake(KeyPair.generate(), b"")
    with pytest.raises(HandshakeError, match="attempted"):
        responder.server_hello()


def test_send_before_open_is_not_connected() -> None:
    pair = Pair()
    with pytest.raises(NotConnected):
        pair.client.send(b"early")
    with pytest.raises(NotConnected):
        pair.server.send(b"early")


def test_start_twice_and_data_before_start() -> None:
    pair = Pair()
    with pytest.raises(HandshakeError, match="before the handshake"):
        pair.client.receive_data(b"\x00")
    pair.client.start()
    with pytest.raises(HandshakeError, match="already started"):
        pair.client.start()


# --- hostile servers ------------------------------------------------------------------------


def _failing_client(pair: Pair, error: type[WamdError], match: str) -> None:
    pair.client.start()
    pair.server.receive_data(pair.client.data_to_send())
    with pytest.raises(error, match=match):
        pair.client.receive_data(pair.server.data_to_send())
    assert pair.client.state is ConnectionState.FAILED
    with pytest.raises(FrameError, match="already failed"):
        pair.client.receive_data(b"more")


def test_wrong_root_key_is_a_certificate_error() -> None:
    pair = Pair()
    pair.client = NoiseClientConnection(
        static_key=pair.client_static, client_payload=b"", root_public_key=KeyPair.generate().public
    )
    _failing_client(pair, CertificateError, "pinned root")


def test_production_root_rejects_a_sandbox_chain() -> None:
    pair = Pair()
    pair.client = NoiseClientConnection(static_key=pair.client_static, client_payload=b"")
    _failing_client(pair, CertificateError, "pinned root")


def test_server_with_a_static_key_other_than_the_certified_one() -> None:
    pair = Pair()
    pair.server = NoiseServerConnection(static_key=KeyPair.generate(), certificate_chain=pair.chain)
    _failing_client(pair, CertificateError, "not the server's static key")


def test_expired_chain_via_the_clock() -> None:
    pair = Pair()
    pair.client = NoiseClientConnection(
        static_key=pair.client_static,
        client_payload=b"",
        root_public_key=pair.root.public,
        clock=lambda: 4_000_000_000.0,
    )
    _failing_client(pair, CertificateError, "expired")


def test_server_hello_with_a_bad_chain() -> None:
    pair = Pair(chain=b"\x0a\x02garbage")
    _failing_client(pair, CertificateError, "malformed")


def test_tampered_server_hello_is_a_handshake_error() -> None:
    pair = Pair()
    pair.client.start()
    pair.server.receive_data(pair.client.data_to_send())
    data = bytearray(pair.server.data_to_send())
    data[-5] ^= 0x40  # inside the encrypted certificate chain
    with pytest.raises(HandshakeError, match="failed to decrypt"):
        pair.client.receive_data(bytes(data))


def _server_hello(**fields: bytes) -> bytes:
    message = handshake_pb2.HandshakeMessage()
    for name, value in fields.items():
        setattr(message.server_hello, name, value)
    return encode_frame(message.SerializeToString())


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (encode_frame(b"\xff\xff\xff"), "malformed handshake message"),
        (encode_frame(b""), "expected a server hello"),
        (_server_hello(ephemeral=b"short", static=b"s", payload=b"p"), "ephemeral key is not 32"),
        (_server_hello(ephemeral=b"e" * 32, payload=b"p"), "lacks its static key"),
        (_server_hello(ephemeral=b"\x00" * 32, static=b"s" * 48, payload=b"p"), "invalid public"),
        (_server_hello(ephemeral=b"e" * 32, static=b"s" * 48, payload=b"p" * 40), "decrypt"),
    ],
)
def test_malformed_server_hellos(data: bytes, match: str) -> None:
    client = NoiseClientConnection(static_key=KeyPair.generate(), client_payload=b"")
    client.start()
    with pytest.raises(HandshakeError, match=match):
        client.receive_data(data)
    assert client.state is ConnectionState.FAILED


def test_oversized_handshake_frame_is_refused_early() -> None:
    client = NoiseClientConnection(static_key=KeyPair.generate(), client_payload=b"")
    client.start()
    with pytest.raises(FrameError, match="exceeds"):
        client.receive_data(b"\x01\x00\x01")


def test_truncated_server_hello_waits_then_completes() -> None:
    pair = Pair()
    pair.client.start()
    pair.server.receive_data(pair.client.data_to_send())
    hello = pair.server.data_to_send()
    assert pair.client.receive_data(hello[:-1]) == []
    assert pair.client.state is ConnectionState.HANDSHAKE
    assert len(pair.client.receive_data(hello[-1:])) == 1


def test_server_data_packed_after_its_hello_is_a_violation() -> None:
    pair = Pair()
    pair.client.start()
    pair.server.receive_data(pair.client.data_to_send())
    with pytest.raises(FrameError, match="before the handshake completed"):
        pair.client.receive_data(pair.server.data_to_send() + encode_frame(b"early"))


def test_garbage_after_the_handshake() -> None:
    pair = Pair()
    pair.handshake()
    with pytest.raises(FrameError, match="failed to authenticate"):
        pair.client.receive_data(encode_frame(b"\x00" * 40))
    with pytest.raises(FrameError, match="already failed"):
        pair.client.receive_data(b"")
    with pytest.raises(FrameError, match="shorter than a tag"):
        pair.server.receive_data(encode_frame(b"tiny"))


def test_replayed_frame_fails() -> None:
    pair = Pair()
    pair.handshake()
    pair.server.send(b"once")
    data = pair.server.data_to_send()
    assert pair.client.receive_data(data) == [FrameReceived(b"once")]
    with pytest.raises(FrameError):
        pair.client.receive_data(data)


def test_oversized_transport_frame() -> None:
    pair = Pair()
    pair.client = NoiseClientConnection(
        static_key=pair.client_static,
        client_payload=b"",
        root_public_key=pair.root.public,
        max_frame_size=1000,
    )
    pair.handshake()
    with pytest.raises(FrameError, match="exceeds the 1000-byte limit"):
        pair.client.receive_data(b"\x00\x03\xe9")


# --- hostile clients ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "error", "match"),
    [
        (b"GET / HTTP/1.1", HandshakeError, "unsupported stream header"),
        (b"WA\x06\x03" + encode_frame(b"\xff"), HandshakeError, "malformed"),
        (b"WA\x06\x03" + encode_frame(b""), HandshakeError, "expected a client hello"),
        (b"WA\x06\x03\x7f\xff\xff", FrameError, "exceeds"),
    ],
)
def test_malformed_client_openings(data: bytes, error: type[WamdError], match: str) -> None:
    server = NoiseServerConnection(static_key=KeyPair.generate(), certificate_chain=b"")
    with pytest.raises(error, match=match):
        server.receive_data(data)
    assert server.state is ConnectionState.FAILED


def test_low_order_client_ephemeral() -> None:
    message = handshake_pb2.HandshakeMessage()
    message.client_hello.ephemeral = b"\x00" * 32
    server = NoiseServerConnection(static_key=KeyPair.generate(), certificate_chain=b"")
    with pytest.raises(HandshakeError, match="invalid public key"):
        server.receive_data(b"WA\x06\x03" + encode_frame(message.SerializeToString()))


def test_tampered_client_finish() -> None:
    pair = Pair()
    pair.client.start()
    pair.server.receive_data(pair.client.data_to_send())
    pair.client.receive_data(pair.server.data_to_send())
    finish = bytearray(pair.client.data_to_send())
    finish[-3] ^= 1
    with pytest.raises(HandshakeError, match="failed to decrypt"):
        pair.server.receive_data(bytes(finish))


def test_second_client_hello_instead_of_finish() -> None:
    pair = Pair()
    pair.client.start()
    opening = pair.client.data_to_send()
    pair.server.receive_data(opening)
    with pytest.raises(HandshakeError, match="expected a client finish"):
        pair.server.receive_data(opening[4:])


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200), st.booleans())
def test_random_bytes_never_escape_as_untyped_errors(data: bytes, with_header: bool) -> None:
    server = NoiseServerConnection(static_key=KeyPair.generate(), certificate_chain=b"")
    with contextlib.suppress(WamdError):
        server.receive_data((b"WA\x06\x03" if with_header else b"") + data)
    client = NoiseClientConnection(static_key=KeyPair.generate(), client_payload=b"")
    client.start()
    with contextlib.suppress(WamdError):
        client.receive_data(data)


# --- transport details ----------------------------------------------------------------------


def test_transport_counter_exhaustion() -> None:
    cipher = TransportCipher(b"k" * 32)
    cipher.counter = 0xFFFFFFFF
    cipher.encrypt(b"last")
    with pytest.raises(FrameError, match="exhausted"):
        cipher.encrypt(b"one too many")


def test_transport_iv_is_zero_padded_counter() -> None:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    key = bytes(range(32))
    cipher = TransportCipher(key)
    cipher.encrypt(b"a")
    expected = AESGCM(key).encrypt(b"\x00" * 8 + b"\x00\x00\x00\x01", b"b", None)
    assert cipher.encrypt(b"b") == expected


def test_reprs_do_not_leak_keys() -> None:
    pair = Pair()
    pair.handshake()
    key = bytes(range(32))
    cipher = TransportCipher(key)
    assert key.hex() not in repr(cipher)
    assert "counter=0" in repr(cipher)
    assert repr(pair.client) == "NoiseClientConnection(state=open)"


def test_seal_is_send_then_data_to_send() -> None:
    pair = Pair()
    pair.handshake()
    sealed = pair.client.seal(b"one")  # empty queue: the frame alone
    pair.client.send(b"two")
    both = pair.client.seal(b"three")  # queued frame first, then the sealed one
    assert pair.client.data_to_send() == b""
    assert pair.server.receive_data(sealed + both) == [
        FrameReceived(b"one"),
        FrameReceived(b"two"),
        FrameReceived(b"three"),
    ]
    with pytest.raises(NotConnected):
        NoiseClientConnection(
            static_key=pair.client_static, client_payload=PAYLOAD, root_public_key=pair.root.public
        ).seal(b"x")


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(0, 300), min_size=1, max_size=5), cuts=st.data())
def test_receive_frames_matches_receive_data(sizes: list[int], cuts: st.DataObject) -> None:
    """Whole frames, several frames and split frames: the reader's path gives the payloads
    that receive_data gives, in order."""
    pair = Pair()
    pair.handshake()
    payloads = [bytes([i]) * size for i, size in enumerate(sizes)]
    for payload in payloads:
        pair.server.send(payload)
    stream = pair.server.data_to_send()
    cut = cuts.draw(st.integers(0, len(stream)))
    got = pair.client.receive_frames(stream[:cut]) + pair.client.receive_frames(stream[cut:])
    assert got == payloads


def test_receive_frames_fails_the_connection_on_a_bad_frame() -> None:
    pair = Pair()
    pair.handshake()
    pair.server.send(b"hello")
    frame = bytearray(pair.server.data_to_send())
    frame[-1] ^= 1
    with pytest.raises(FrameError):
        pair.client.receive_frames(bytes(frame))
    assert pair.client.state is ConnectionState.FAILED
    with pytest.raises(FrameError):
        pair.client.receive_frames(b"")
    oversized = (1 << 20).to_bytes(3, "big")
    fresh = Pair()
    fresh.handshake()
    fresh.client._decoder.max_frame_size = 1000
    with pytest.raises(FrameError):
        fresh.client.receive_frames(oversized + bytes(10))
