"""The post-handshake transport cipher: AES-256-GCM per direction with a message counter.

Each direction has its own key (from the handshake's split) and its own counter, starting at 0
and incremented per frame; the IV is 8 zero bytes followed by the counter as a big-endian u32.
There is no associated data. A frame that fails to authenticate is a
:class:`~wamd.errors.FrameError`; so is running out of counter values (2^32 frames).
"""

from __future__ import annotations

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from wamd.errors import FrameError

TAG_SIZE = 16
_MAX_COUNTER = 0xFFFFFFFF
_IV_PREFIX = bytes(8)


class TransportCipher:
    """One direction of the transport: a key and a counter. The key never appears in reprs."""

    __slots__ = ("_aead", "counter")

    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("transport keys are 32 bytes")
        self._aead = AESGCM(bytes(key))
        self.counter = 0
        """How many frames this direction has processed."""

    def __repr__(self) -> str:
        return f"TransportCipher(counter={self.counter})"

    def _next_iv(self) -> bytes:
        counter = self.counter
        if counter > _MAX_COUNTER:
            raise FrameError("transport counter exhausted: the connection must be renewed")
        self.counter = counter + 1
        return _IV_PREFIX + counter.to_bytes(4, "big")

    def encrypt(self, plaintext: bytes) -> bytes:
        """Encrypt one frame payload."""
        return self._aead.encrypt(self._next_iv(), plaintext, None)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Decrypt one frame payload; :class:`FrameError` when it does not authenticate."""
        if len(ciphertext) < TAG_SIZE:
            raise FrameError(f"encrypted frame of {len(ciphertext)} bytes is shorter than a tag")
        iv = self._next_iv()
        try:
            return self._aead.decrypt(iv, ciphertext, None)
        except InvalidTag as exc:
            raise FrameError("encrypted frame failed to authenticate") from exc


class NoiseTransport:
    """Both directions of an established connection."""

    __slots__ = ("receiver", "sender")

    def __init__(self, *, send_key: bytes, receive_key: bytes) -> None:
        self.sender = TransportCipher(send_key)
        self.receiver = TransportCipher(receive_key)

    def __repr__(self) -> str:
        return f"NoiseTransport(sent={self.sender.counter}, received={self.receiver.counter})"

    def encrypt(self, plaintext: bytes) -> bytes:
        """Encrypt a payload for the peer."""
        return self.sender.encrypt(plaintext)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Decrypt a payload from the peer."""
        return self.receiver.decrypt(ciphertext)
