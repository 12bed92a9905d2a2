"""Sans-I/O Noise connections: the whole byte stream of one WebSocket, either role.

A connection object turns the bytes of received WebSocket messages into events and queues the
bytes to send; it never touches a socket and never awaits (the model is python-websockets'
``protocol.py``). A driver does::

    conn = NoiseClientConnection(static_key=noise_key, client_payload=payload,
                                 root_public_key=root)
    conn.start()
    await ws.send_bytes(conn.data_to_send())
    async for message in ws:
        for event in conn.receive_data(message.data):
            ...                      # HandshakeComplete, then FrameReceived
        if out := conn.data_to_send():
            await ws.send_bytes(out)

and, once open, ``conn.send(plaintext)`` followed by sending ``data_to_send()``. The server side,
:class:`NoiseServerConnection`, answers the client hello by itself and reports the client's
static key and payload in :class:`HandshakeComplete`.

Any malformed or hostile input raises a typed error (:class:`~wamd.errors.FrameError`,
:class:`~wamd.errors.HandshakeError`, :class:`~wamd.errors.CertificateError`) and moves the
connection to :attr:`ConnectionState.FAILED`; the driver then closes the socket. Bytes that
form only part of a frame are buffered (bounded by the frame-size limit) until the rest
arrives; deadlines are the driver's business.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass

from wamd.crypto import KeyPair
from wamd.errors import FrameError, HandshakeError, NotConnected, WamdError
from wamd.noise.certificates import PRODUCTION_ROOT_PUBLIC_KEY, VerifiedChain
from wamd.noise.framing import (
    FRAME_HEADER_SIZE,
    MAX_FRAME_SIZE,
    WA_HEADER,
    FrameDecoder,
    Intro,
    IntroParser,
    build_intro,
    encode_frame,
)
from wamd.noise.handshake import HandshakeStep, InitiatorHandshake, ResponderHandshake
from wamd.noise.transport import NoiseTransport

HANDSHAKE_MAX_FRAME_SIZE = 64 * 1024
"""Handshake messages are a few hundred bytes; larger ones are refused before buffering."""


class ConnectionState(enum.Enum):
    """Life cycle of a Noise connection."""

    IDLE = "idle"
    """Client only: :meth:`NoiseClientConnection.start` not yet called."""
    HANDSHAKE = "handshake"
    OPEN = "open"
    """Handshake done: frames flow both ways."""
    FAILED = "failed"
    """A typed error was raised; the connection is unusable."""


@dataclass(frozen=True, slots=True)
class HandshakeComplete:
    """The handshake finished; transport frames follow."""

    remote_static: bytes
    """The peer's static Noise key (the server's leaf key, or the client's noise key)."""
    client_payload: bytes = b""
    """Server side: the decrypted, serialized ``ClientPayload``. Empty on the client side."""
    certificate: VerifiedChain | None = None
    """Client side: the verified certificate chain."""
    routing_info: bytes | None = None
    """Server side: the routing info the client put in its intro, if any."""


@dataclass(frozen=True, slots=True)
class FrameReceived:
    """One decrypted transport frame (flag byte + binary node, see :mod:`wamd.binary`)."""

    payload: bytes


NoiseEvent = HandshakeComplete | FrameReceived


class _NoiseConnection:
    def __init__(self, max_frame_size: int) -> None:
        self.state = ConnectionState.IDLE
        self._max_frame_size = max_frame_size
        self._decoder = FrameDecoder(min(HANDSHAKE_MAX_FRAME_SIZE, max_frame_size))
        self._outgoing = bytearray()
        self._transport: NoiseTransport | None = None
        self._error: WamdError | None = None

    def __repr__(self) -> str:
        return f"{type(self).__name__}(state={self.state.value})"

    def data_to_send(self) -> bytes:
        """The bytes queued for the peer (to send as one WebSocket message); clears the queue."""
        data = bytes(self._outgoing)
        self._outgoing.clear()
        return data

    def send(self, plaintext: bytes) -> None:
        """Encrypt ``plaintext`` as one frame and queue it. Needs an open connection."""
        if self.state is not ConnectionState.OPEN or self._transport is None:
            raise NotConnected(f"cannot send on a Noise connection in state {self.state.value}")
        self._outgoing += encode_frame(self._transport.encrypt(plaintext))

    def seal(self, plaintext: bytes) -> bytes:
        """Encrypt ``plaintext`` as one frame and return everything queued for the peer with it
        (:meth:`send` then :meth:`data_to_send`, without the queue when it is empty)."""
        transport = self._transport
        if self.state is not ConnectionState.OPEN or transport is None:
            raise NotConnected(f"cannot send on a Noise connection in state {self.state.value}")
        frame = encode_frame(transport.sender.encrypt(plaintext))
        if not self._outgoing:
            return frame
        self._outgoing += frame
        return self.data_to_send()

    @property
    def frames_sent(self) -> int:
        """Transport frames sent so far."""
        return self._transport.sender.counter if self._transport else 0

    @property
    def frames_received(self) -> int:
        """Transport frames received so far."""
        return self._transport.receiver.counter if self._transport else 0

    def _queue_frame(self, payload: bytes) -> None:
        self._outgoing += encode_frame(payload)

    def _open(self, transport: NoiseTransport) -> None:
        self._transport = transport
        self._decoder.max_frame_size = self._max_frame_size
        self.state = ConnectionState.OPEN

    def _check_usable(self) -> None:
        if self.state is ConnectionState.FAILED:
            raise FrameError("the Noise connection has already failed") from self._error

    def _transport_events(self) -> list[NoiseEvent]:
        assert self._transport is not None
        decrypt = self._transport.decrypt
        return [FrameReceived(decrypt(frame)) for frame in self._decoder.feed(b"")]

    def receive_data(self, data: bytes) -> list[NoiseEvent]:
        """Feed bytes received from the peer; return the events they complete."""
        raise NotImplementedError

    def receive_frames(self, data: bytes) -> list[bytes]:
        """Feed bytes received from the peer; return the decrypted frame payloads they
        complete (what :meth:`receive_data` returns as :class:`FrameReceived` events).

        Once the connection is open, this is the reader's path: a WebSocket message that
        carries exactly one whole frame (the usual case) is decrypted without copying it
        through the reassembly buffer. Errors are those of :meth:`receive_data` (after one,
        the connection has failed)."""
        transport = self._transport
        decoder = self._decoder
        if (
            self.state is ConnectionState.OPEN
            and transport is not None
            and len(data) >= FRAME_HEADER_SIZE
            and not decoder.buffered
        ):
            size = int.from_bytes(data[:FRAME_HEADER_SIZE], "big")
            if size + FRAME_HEADER_SIZE == len(data) and size <= decoder.max_frame_size:
                try:
                    return [transport.receiver.decrypt(data[FRAME_HEADER_SIZE:])]
                except WamdError as exc:
                    self.state = ConnectionState.FAILED
                    self._error = exc
                    raise
        return [e.payload for e in self.receive_data(data) if isinstance(e, FrameReceived)]

    def _guard(self, step: Callable[[], list[NoiseEvent]]) -> list[NoiseEvent]:
        try:
            return step()
        except WamdError as exc:
            self.state = ConnectionState.FAILED
            self._error = exc
            raise


class NoiseClientConnection(_NoiseConnection):
    """The initiator's connection: intro, handshake, then encrypted frames.

    ``static_key`` is the client's Noise key pair; ``client_payload`` the serialized
    ``ClientPayload`` sent in the client finish. ``root_public_key`` pins the certificate root
    (production by default). ``routing_info`` (from a previous ``<edge_routing>``) goes in the
    intro. ``clock`` (Unix seconds) is used for the certificate validity check.
    """

    def __init__(
        self,
        *,
        static_key: KeyPair,
        client_payload: bytes,
        root_public_key: bytes = PRODUCTION_ROOT_PUBLIC_KEY,
        routing_info: bytes | None = None,
        header: bytes = WA_HEADER,
        ephemeral_key: KeyPair | None = None,
        max_frame_size: int = MAX_FRAME_SIZE,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(max_frame_size)
        self._payload = bytes(client_payload)
        self._intro = build_intro(header, routing_info)
        self._handshake = InitiatorHandshake(
            static_key,
            root_public_key=root_public_key,
            prologue=header,
            ephemeral=ephemeral_key,
            clock=clock,
        )

    @property
    def server_static(self) -> bytes | None:
        """The server's verified static key, once known."""
        return self._handshake.server_static

    def start(self) -> None:
        """Queue the intro and the client hello (one WebSocket message)."""
        if self.state is not ConnectionState.IDLE:
            raise HandshakeError("the handshake was already started")
        self._outgoing += self._intro
        self._queue_frame(self._handshake.client_hello())
        self.state = ConnectionState.HANDSHAKE

    def receive_data(self, data: bytes) -> list[NoiseEvent]:
        """Feed bytes received from the server; return the events they complete."""
        self._check_usable()
        if self.state is ConnectionState.IDLE:
            raise HandshakeError("data received before the handshake was started")
        return self._guard(lambda: self._receive(data))

    def _receive(self, data: bytes) -> list[NoiseEvent]:
        decoder = self._decoder
        decoder.push(data)
        events: list[NoiseEvent] = []
        if self.state is ConnectionState.HANDSHAKE:
            frame = decoder.pop()
            if frame is None:
                return events
            handshake = self._handshake
            certificate = handshake.read_server_hello(frame)
            self._queue_frame(handshake.client_finish(self._payload))
            assert handshake.server_static is not None
            self._open(handshake.transport())
            events.append(HandshakeComplete(handshake.server_static, certificate=certificate))
            # The server cannot have encrypted anything for a transport it could not derive
            # before our client finish: bytes packed after its hello are a protocol violation.
            if decoder.buffered:
                raise FrameError("server sent data before the handshake completed")
            return events
        return self._transport_events()


class NoiseServerConnection(_NoiseConnection):
    """The responder's connection: reads the intro and the client hello, answers with the server
    hello (our static key and ``certificate_chain``), reads the client finish, then frames.
    """

    def __init__(
        self,
        *,
        static_key: KeyPair,
        certificate_chain: bytes,
        accepted_headers: tuple[bytes, ...] = (WA_HEADER,),
        ephemeral_key: KeyPair | None = None,
        max_frame_size: int = MAX_FRAME_SIZE,
    ) -> None:
        super().__init__(max_frame_size)
        self.state = ConnectionState.HANDSHAKE
        self._static = static_key
        self._chain = bytes(certificate_chain)
        self._ephemeral = ephemeral_key
        self._intro_parser: IntroParser | None = IntroParser(accepted_headers)
        self.intro: Intro | None = None
        """The client's intro, once received."""
        self._handshake: ResponderHandshake | None = None

    @property
    def client_static(self) -> bytes | None:
        """The client's static Noise key, once the handshake is done."""
        return self._handshake.client_static if self._handshake else None

    def receive_data(self, data: bytes) -> list[NoiseEvent]:
        """Feed bytes received from the client; return the events they complete."""
        self._check_usable()
        return self._guard(lambda: self._receive(data))

    def _receive(self, data: bytes) -> list[NoiseEvent]:
        if self._intro_parser is not None:
            parsed = self._intro_parser.feed(data)
            if parsed is None:
                return []
            self.intro, data = parsed
            self._intro_parser = None
            self._handshake = ResponderHandshake(
                self._static, self._chain, prologue=self.intro.header, ephemeral=self._ephemeral
            )
        decoder = self._decoder
        decoder.push(data)
        handshake = self._handshake
        assert handshake is not None
        assert self.intro is not None
        events: list[NoiseEvent] = []
        while self.state is ConnectionState.HANDSHAKE:
            frame = decoder.pop()
            if frame is None:
                return events
            if handshake.step is HandshakeStep.AWAIT_CLIENT_HELLO:
                handshake.read_client_hello(frame)
                self._queue_frame(handshake.server_hello())
                continue
            payload = handshake.read_client_finish(frame)
            assert handshake.client_static is not None
            self._open(handshake.transport())
            events.append(
                HandshakeComplete(
                    handshake.client_static,
                    client_payload=payload,
                    routing_info=self.intro.routing_info,
                )
            )
        events.extend(self._transport_events())
        return events
