"""The Noise XX handshake as WhatsApp runs it, both roles, at the message level.

``Noise_XX_25519_AESGCM_SHA256`` with three WhatsApp particularities:

* the protocol name is padded with four NUL bytes to exactly 32 bytes, so ``h`` is the name
  itself (not its hash) and ``ck = h``;
* the prologue is the 4-byte stream header (``WA 06 03``);
* the empty payload of the first message is **not** mixed into ``h`` (a stock Noise
  implementation does, and then fails with a bad tag on the second message).

Messages are protobuf ``HandshakeMessage`` values: ``client_hello{ephemeral}``,
``server_hello{ephemeral, static, payload}`` and ``client_finish{static, payload}``. The server's
payload is its certificate chain, the client's is its ``ClientPayload``.

:class:`InitiatorHandshake` and :class:`ResponderHandshake` turn those messages into bytes and
back; they know nothing about frames or sockets (see :mod:`wamd.noise.connection`). Every
failure — malformed message, wrong key length, bad tag, bad certificate — is a
:class:`~wamd.errors.HandshakeError` (or its subclass :class:`~wamd.errors.CertificateError`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from google.protobuf.message import DecodeError as ProtobufDecodeError

from wamd.crypto import KeyPair, aes_gcm_decrypt, aes_gcm_encrypt, hkdf_sha256, sha256
from wamd.errors import CryptoError, HandshakeError
from wamd.noise.certificates import (
    PRODUCTION_ROOT_PUBLIC_KEY,
    VerifiedChain,
    verify_certificate_chain,
)
from wamd.noise.framing import WA_HEADER
from wamd.noise.transport import NoiseTransport
from wamd.proto import handshake_pb2

NOISE_PROTOCOL_NAME = b"Noise_XX_25519_AESGCM_SHA256\x00\x00\x00\x00"
"""The protocol name, padded to exactly 32 bytes as WhatsApp does."""

KEY_SIZE = 32


def _iv(counter: int) -> bytes:
    return b"\x00" * 8 + counter.to_bytes(4, "big")


class SymmetricState:
    """Noise's SymmetricState: the handshake hash ``h``, chaining key ``ck`` and cipher key.

    Public so that known-answer tests can drive it; applications use the handshake classes.
    """

    __slots__ = ("_ck", "_counter", "_h", "_key")

    def __init__(self, protocol_name: bytes = NOISE_PROTOCOL_NAME) -> None:
        h = protocol_name if len(protocol_name) == 32 else sha256(protocol_name)
        self._h = h
        self._ck = h
        self._key: bytes | None = None
        self._counter = 0

    @property
    def handshake_hash(self) -> bytes:
        """The current handshake hash ``h``."""
        return self._h

    def mix_hash(self, data: bytes) -> None:
        """``h = SHA-256(h || data)``."""
        self._h = sha256(self._h + bytes(data))

    def mix_key(self, input_key_material: bytes) -> None:
        """Derive a new chaining key and cipher key; the nonce counter restarts at 0."""
        output = hkdf_sha256(input_key_material, 64, salt=self._ck)
        self._ck, self._key = output[:32], output[32:]
        self._counter = 0

    def _next_iv(self) -> bytes:
        if self._key is None:
            raise HandshakeError("no cipher key yet: the handshake is out of order")
        iv = _iv(self._counter)
        self._counter += 1
        return iv

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        """Encrypt with ``h`` as associated data, then mix the ciphertext into ``h``."""
        iv = self._next_iv()
        assert self._key is not None
        ciphertext = aes_gcm_encrypt(self._key, iv, plaintext, self._h)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        """Decrypt with ``h`` as associated data, then mix the ciphertext into ``h``."""
        iv = self._next_iv()
        assert self._key is not None
        try:
            plaintext = aes_gcm_decrypt(self._key, iv, ciphertext, self._h)
        except CryptoError as exc:
            raise HandshakeError("handshake message failed to decrypt") from exc
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[bytes, bytes]:
        """The two transport keys: (initiator-to-responder, responder-to-initiator)."""
        output = hkdf_sha256(b"", 64, salt=self._ck)
        return output[:32], output[32:]


def _dh(key: KeyPair, public: bytes) -> bytes:
    try:
        return key.dh(public)
    except (CryptoError, ValueError) as exc:
        raise HandshakeError("invalid public key in the handshake") from exc


def _parse(data: bytes) -> handshake_pb2.HandshakeMessage:
    message = handshake_pb2.HandshakeMessage()
    try:
        message.ParseFromString(bytes(data))
    except ProtobufDecodeError as exc:
        raise HandshakeError("malformed handshake message") from exc
    return message


class HandshakeStep(enum.Enum):
    """Where a handshake stands."""

    START = "start"
    AWAIT_SERVER_HELLO = "await-server-hello"
    SEND_CLIENT_FINISH = "send-client-finish"
    AWAIT_CLIENT_HELLO = "await-client-hello"
    SEND_SERVER_HELLO = "send-server-hello"
    AWAIT_CLIENT_FINISH = "await-client-finish"
    DONE = "done"
    FAILED = "failed"


class _HandshakeBase:
    def __init__(self, step: HandshakeStep, prologue: bytes, ephemeral: KeyPair | None) -> None:
        self._state = SymmetricState()
        self._state.mix_hash(prologue)
        self._ephemeral = ephemeral if ephemeral is not None else KeyPair.generate()
        self._step = step

    @property
    def step(self) -> HandshakeStep:
        """The current step."""
        return self._step

    @property
    def handshake_hash(self) -> bytes:
        """The handshake hash (identical on both sides once the handshake is done)."""
        return self._state.handshake_hash

    def _expect(self, step: HandshakeStep) -> None:
        if self._step is not step:
            raise HandshakeError(f"handshake step {step.value} attempted during {self._step.value}")

    def _fail(self) -> None:
        self._step = HandshakeStep.FAILED


class InitiatorHandshake(_HandshakeBase):
    """The client side: ``client_hello()``, ``read_server_hello()``, ``client_finish()``, then
    ``transport()``.

    ``static`` is the client's long-term Noise key. ``root_public_key`` is the pinned certificate
    root (the production root by default; a sandbox's root to talk to a sandbox). ``clock`` is
    consulted for the certificate validity window.
    """

    def __init__(
        self,
        static: KeyPair,
        *,
        root_public_key: bytes = PRODUCTION_ROOT_PUBLIC_KEY,
        prologue: bytes = WA_HEADER,
        ephemeral: KeyPair | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        super().__init__(HandshakeStep.START, prologue, ephemeral)
        self._static = static
        self._root = bytes(root_public_key)
        self._clock = clock
        self._server_ephemeral = b""
        self.server_static: bytes | None = None
        """The server's static key, once the server hello has been verified."""
        self.certificate: VerifiedChain | None = None
        """The server's verified certificate chain, once the server hello has been read."""

    def client_hello(self) -> bytes:
        """The serialized first message (the client's ephemeral key, in clear)."""
        self._expect(HandshakeStep.START)
        public = self._ephemeral.public
        self._state.mix_hash(public)  # the empty payload is deliberately not mixed in
        message = handshake_pb2.HandshakeMessage()
        message.client_hello.ephemeral = public
        self._step = HandshakeStep.AWAIT_SERVER_HELLO
        return message.SerializeToString()

    def read_server_hello(self, data: bytes) -> VerifiedChain:
        """Process the server hello: decrypt and authenticate the server's static key and verify
        its certificate chain. Raises :class:`HandshakeError` / :class:`CertificateError`."""
        self._expect(HandshakeStep.AWAIT_SERVER_HELLO)
        try:
            hello = _parse(data)
            if not hello.HasField("server_hello"):
                raise HandshakeError("expected a server hello")
            server = hello.server_hello
            if len(server.ephemeral) != KEY_SIZE:
                raise HandshakeError("server ephemeral key is not 32 bytes")
            if not server.HasField("static") or not server.HasField("payload"):
                raise HandshakeError("server hello lacks its static key or payload")
            self._state.mix_hash(server.ephemeral)
            self._state.mix_key(_dh(self._ephemeral, server.ephemeral))
            server_static = self._state.decrypt_and_hash(server.static)
            if len(server_static) != KEY_SIZE:
                raise HandshakeError("server static key is not 32 bytes")
            self._state.mix_key(_dh(self._ephemeral, server_static))
            chain = self._state.decrypt_and_hash(server.payload)
            now = self._clock() if self._clock is not None else None
            verified = verify_certificate_chain(
                chain, server_static, root_public_key=self._root, now=now
            )
        except HandshakeError:
            self._fail()
            raise
        self._server_ephemeral = bytes(server.ephemeral)
        self.server_static = server_static
        self.certificate = verified
        self._step = HandshakeStep.SEND_CLIENT_FINISH
        return verified

    def client_finish(self, payload: bytes) -> bytes:
        """The serialized third message: the client's static key and ``payload`` (a serialized
        ``ClientPayload``), both encrypted."""
        self._expect(HandshakeStep.SEND_CLIENT_FINISH)
        encrypted_static = self._state.encrypt_and_hash(self._static.public)
        self._state.mix_key(_dh(self._static, self._server_ephemeral))
        encrypted_payload = self._state.encrypt_and_hash(payload)
        message = handshake_pb2.HandshakeMessage()
        message.client_finish.static = encrypted_static
        message.client_finish.payload = encrypted_payload
        self._step = HandshakeStep.DONE
        return message.SerializeToString()

    def transport(self) -> NoiseTransport:
        """The transport cipher pair (sending with the first split key)."""
        self._expect(HandshakeStep.DONE)
        send, receive = self._state.split()
        return NoiseTransport(send_key=send, receive_key=receive)


class ResponderHandshake(_HandshakeBase):
    """The server side: ``read_client_hello()``, ``server_hello()``, ``read_client_finish()``,
    then ``transport()``.

    ``static`` is the server's Noise key (the leaf certificate's key) and ``certificate_chain``
    the serialized ``CertChain`` sent to the client. ``prologue`` is the header the client sent.
    """

    def __init__(
        self,
        static: KeyPair,
        certificate_chain: bytes,
        *,
        prologue: bytes = WA_HEADER,
        ephemeral: KeyPair | None = None,
    ) -> None:
        super().__init__(HandshakeStep.AWAIT_CLIENT_HELLO, prologue, ephemeral)
        self._static = static
        self._chain = bytes(certificate_chain)
        self._client_ephemeral = b""
        self.client_static: bytes | None = None
        """The client's static (Noise) key, once the client finish has been read."""

    def read_client_hello(self, data: bytes) -> None:
        """Process the client hello (the client's ephemeral key)."""
        self._expect(HandshakeStep.AWAIT_CLIENT_HELLO)
        try:
            hello = _parse(data)
            if not hello.HasField("client_hello"):
                raise HandshakeError("expected a client hello")
            ephemeral = hello.client_hello.ephemeral
            if len(ephemeral) != KEY_SIZE:
                raise HandshakeError("client ephemeral key is not 32 bytes")
        except HandshakeError:
            self._fail()
            raise
        self._client_ephemeral = bytes(ephemeral)
        self._state.mix_hash(ephemeral)
        self._step = HandshakeStep.SEND_SERVER_HELLO

    def server_hello(self) -> bytes:
        """The serialized second message: our ephemeral key, then our static key and our
        certificate chain, encrypted."""
        self._expect(HandshakeStep.SEND_SERVER_HELLO)
        ephemeral = self._ephemeral
        try:
            self._state.mix_hash(ephemeral.public)
            self._state.mix_key(_dh(ephemeral, self._client_ephemeral))
            encrypted_static = self._state.encrypt_and_hash(self._static.public)
            self._state.mix_key(_dh(self._static, self._client_ephemeral))
            encrypted_chain = self._state.encrypt_and_hash(self._chain)
        except HandshakeError:
            self._fail()
            raise
        message = handshake_pb2.HandshakeMessage()
        message.server_hello.ephemeral = ephemeral.public
        message.server_hello.static = encrypted_static
        message.server_hello.payload = encrypted_chain
        self._step = HandshakeStep.AWAIT_CLIENT_FINISH
        return message.SerializeToString()

    def read_client_finish(self, data: bytes) -> bytes:
        """Process the client finish; return the decrypted client payload (a serialized
        ``ClientPayload``). The client's static key is then in :attr:`client_static`."""
        self._expect(HandshakeStep.AWAIT_CLIENT_FINISH)
        try:
            finish = _parse(data)
            if not finish.HasField("client_finish"):
                raise HandshakeError("expected a client finish")
            body = finish.client_finish
            if not body.HasField("static") or not body.HasField("payload"):
                raise HandshakeError("client finish lacks its static key or payload")
            client_static = self._state.decrypt_and_hash(body.static)
            if len(client_static) != KEY_SIZE:
                raise HandshakeError("client static key is not 32 bytes")
            self._state.mix_key(_dh(self._ephemeral, client_static))
            payload = self._state.decrypt_and_hash(body.payload)
        except HandshakeError:
            self._fail()
            raise
        self.client_static = client_static
        self._step = HandshakeStep.DONE
        return payload

    def transport(self) -> NoiseTransport:
        """The transport cipher pair (receiving with the first split key)."""
        self._expect(HandshakeStep.DONE)
        receive, send = self._state.split()
        return NoiseTransport(send_key=send, receive_key=receive)
