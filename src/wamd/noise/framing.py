"""The transport's frame codec: 3-byte big-endian length prefixes, and the intro header.

On the wire, a WhatsApp Web connection is a byte stream carried in WebSocket messages. The
client starts it with an *intro*: the 4-byte header ``57 41 06 03`` ("WA", protocol 6,
token-dictionary version 3), optionally preceded by an edge-routing block
``ED 00 01 <u24 length> <routing info>``. After that the stream is a sequence of frames, each a
3-byte big-endian length followed by that many bytes. Frames may be split across WebSocket
messages or packed several into one, so the decoder reassembles them from arbitrary chunks.

Everything here is sans-I/O: bytes in, frames out, no awaits.
"""

from __future__ import annotations

from dataclasses import dataclass

from wamd.errors import FrameError, HandshakeError

WA_HEADER = b"WA\x06\x03"
"""The 4-byte header every client stream starts with (also the Noise prologue)."""

ROUTING_MAGIC = b"ED\x00\x01"
"""Prefix of the optional edge-routing block that may precede the header."""

FRAME_HEADER_SIZE = 3
MAX_FRAME_SIZE = (1 << 24) - 1
"""The largest payload a 3-byte length can describe."""

MAX_ROUTING_INFO_SIZE = 4096
"""Upper bound accepted for the routing-info block of an intro (it is a few dozen bytes)."""


def encode_frame(payload: bytes) -> bytes:
    """Prefix ``payload`` with its 3-byte big-endian length.

    Raises :class:`FrameError` when the payload does not fit in a frame.
    """
    size = len(payload)
    if size > MAX_FRAME_SIZE:
        raise FrameError(f"frame payload of {size} bytes exceeds the {MAX_FRAME_SIZE}-byte limit")
    return size.to_bytes(3, "big") + bytes(payload)


def build_intro(header: bytes = WA_HEADER, routing_info: bytes | None = None) -> bytes:
    """The bytes a client sends once, before its first frame.

    With ``routing_info`` (as received in an ``<edge_routing>`` stanza) the header is preceded by
    ``ED 00 01``, the routing info's 3-byte length and the routing info itself.
    """
    if len(header) != 4:
        raise ValueError("the intro header is exactly 4 bytes")
    if not routing_info:
        return bytes(header)
    if len(routing_info) > MAX_ROUTING_INFO_SIZE:
        raise ValueError(f"routing info longer than {MAX_ROUTING_INFO_SIZE} bytes")
    return ROUTING_MAGIC + len(routing_info).to_bytes(3, "big") + bytes(routing_info) + header


class FrameDecoder:
    """Reassembles length-prefixed frames from arbitrary chunks of the byte stream.

    ``max_frame_size`` bounds the memory a peer can make us hold: a length prefix announcing a
    larger frame raises :class:`FrameError` as soon as the prefix is read, without waiting for
    (or buffering) the announced bytes. The limit may be changed between frames (a connection
    allows larger frames once its handshake is done).
    """

    def __init__(self, max_frame_size: int = MAX_FRAME_SIZE) -> None:
        if not 0 < max_frame_size <= MAX_FRAME_SIZE:
            raise ValueError(f"max_frame_size must be in 1..{MAX_FRAME_SIZE}")
        self.max_frame_size = max_frame_size
        self._buffer = bytearray()
        self._start = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a complete frame."""
        return len(self._buffer) - self._start

    def push(self, data: bytes) -> None:
        """Add ``data`` to the stream without extracting frames."""
        if self._start:
            del self._buffer[: self._start]
            self._start = 0
        self._buffer += data

    def pop(self) -> bytes | None:
        """The next complete frame payload, or ``None`` when more bytes are needed."""
        buffer = self._buffer
        start = self._start
        if len(buffer) - start < FRAME_HEADER_SIZE:
            return None
        size = int.from_bytes(buffer[start : start + FRAME_HEADER_SIZE], "big")
        if size > self.max_frame_size:
            raise FrameError(f"frame of {size} bytes exceeds the {self.max_frame_size}-byte limit")
        end = start + FRAME_HEADER_SIZE + size
        if end > len(buffer):
            return None
        self._start = end
        return bytes(buffer[start + FRAME_HEADER_SIZE : end])

    def feed(self, data: bytes) -> list[bytes]:
        """Add ``data`` to the stream; return every frame payload completed by it, in order."""
        self.push(data)
        frames: list[bytes] = []
        while (frame := self.pop()) is not None:
            frames.append(frame)
        return frames


@dataclass(frozen=True, slots=True)
class Intro:
    """What a server learned from a client's intro."""

    header: bytes
    """The 4-byte header (the Noise prologue)."""
    routing_info: bytes | None
    """The edge-routing block's content, when the client sent one."""


class IntroParser:
    """Server side: recognises the intro at the start of a client's stream.

    :meth:`feed` returns ``None`` until the whole intro has arrived, then the :class:`Intro`
    and the bytes that followed it (the start of the first frame). ``accepted_headers`` lists the
    headers this server speaks; anything else is a :class:`HandshakeError`.
    """

    def __init__(self, accepted_headers: tuple[bytes, ...] = (WA_HEADER,)) -> None:
        self._accepted = accepted_headers
        self._buffer = bytearray()

    def feed(self, data: bytes) -> tuple[Intro, bytes] | None:
        """Add ``data``; return the intro and the leftover bytes once the intro is complete."""
        buffer = self._buffer
        buffer += data
        routing_info: bytes | None = None
        start = 0
        if buffer[:1] == b"E":
            if bytes(buffer[:4]) != ROUTING_MAGIC[: min(4, len(buffer))]:
                raise HandshakeError("malformed routing-info block at the start of the stream")
            if len(buffer) < 7:
                return None
            size = int.from_bytes(buffer[4:7], "big")
            if size > MAX_ROUTING_INFO_SIZE:
                raise HandshakeError(f"routing-info block of {size} bytes is too long")
            if len(buffer) < 7 + size:
                return None
            routing_info = bytes(buffer[7 : 7 + size])
            start = 7 + size
        if len(buffer) < start + 4:
            if bytes(buffer[start : start + 2]) != b"WA"[: len(buffer) - start]:
                raise HandshakeError("the stream does not start with the WA header")
            return None
        header = bytes(buffer[start : start + 4])
        if header not in self._accepted:
            raise HandshakeError(f"unsupported stream header {header.hex()}")
        rest = bytes(buffer[start + 4 :])
        buffer.clear()
        return Intro(header=header, routing_info=routing_info), rest
