"""The frame codec and intro parser: reassembly, limits, hostile input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wamd.errors import FrameError, HandshakeError
from wamd.noise.framing import (
    MAX_FRAME_SIZE,
    MAX_ROUTING_INFO_SIZE,
    WA_HEADER,
    FrameDecoder,
    IntroParser,
    build_intro,
    encode_frame,
)


def test_encode_frame_prefixes_the_big_endian_length() -> None:
    assert encode_frame(b"abc") == b"\x00\x00\x03abc"
    assert encode_frame(b"") == b"\x00\x00\x00"
    assert encode_frame(b"x" * 0x10203)[:3] == b"\x01\x02\x03"


def test_encode_frame_refuses_payloads_that_do_not_fit() -> None:
    with pytest.raises(FrameError, match="exceeds"):
        encode_frame(b"\x00" * (MAX_FRAME_SIZE + 1))


@given(
    st.lists(st.binary(max_size=300), max_size=8),
    st.lists(st.integers(min_value=1, max_value=64), min_size=1, max_size=20),
)
def test_frames_are_reassembled_whatever_the_chunking(
    payloads: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(encode_frame(p) for p in payloads)
    decoder = FrameDecoder()
    received: list[bytes] = []
    position, index = 0, 0
    while position < len(stream):
        size = cuts[index % len(cuts)]
        received += decoder.feed(stream[position : position + size])
        position += size
        index += 1
    assert received == payloads
    assert decoder.buffered == 0


def test_several_frames_packed_in_one_chunk() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(b"a") + encode_frame(b"bc") + b"\x00\x00") == [b"a", b"bc"]
    assert decoder.buffered == 2
    assert decoder.feed(b"\x01z") == [b"z"]


def test_truncated_frame_waits_without_error() -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"\x00\x00\x05ab") == []
    assert decoder.buffered == 5
    assert decoder.pop() is None


def test_oversized_frame_is_refused_as_soon_as_its_length_is_read() -> None:
    decoder = FrameDecoder(max_frame_size=1024)
    with pytest.raises(FrameError, match="1025 bytes exceeds the 1024-byte limit"):
        decoder.feed(b"\x00\x04\x01")  # no payload bytes needed to refuse it


def test_limit_can_be_raised_between_frames() -> None:
    decoder = FrameDecoder(max_frame_size=4)
    decoder.push(encode_frame(b"tiny") + encode_frame(b"larger!"))
    assert decoder.pop() == b"tiny"
    with pytest.raises(FrameError):
        decoder.pop()
    decoder.max_frame_size = 100
    assert decoder.pop() == b"larger!"


def test_decoder_rejects_a_nonsense_limit() -> None:
    with pytest.raises(ValueError, match="max_frame_size"):
        FrameDecoder(max_frame_size=0)
    with pytest.raises(ValueError, match="max_frame_size"):
        FrameDecoder(max_frame_size=MAX_FRAME_SIZE + 1)


def test_intro_without_and_with_routing_info() -> None:
    assert build_intro() == b"WA\x06\x03"
    assert build_intro(routing_info=b"\x08\x01") == b"ED\x00\x01\x00\x00\x02\x08\x01WA\x06\x03"
    with pytest.raises(ValueError, match="4 bytes"):
        build_intro(b"WA\x06")
    with pytest.raises(ValueError, match="routing info"):
        build_intro(routing_info=b"x" * (MAX_ROUTING_INFO_SIZE + 1))


@pytest.mark.parametrize("routing", [None, b"", b"\x08\x02\x10\x03", b"r" * 300])
def test_intro_parser_byte_by_byte(routing: bytes | None) -> None:
    stream = build_intro(routing_info=routing) + b"\x00\x00\x01z"
    parser = IntroParser()
    result = None
    for i in range(len(stream)):
        result = parser.feed(stream[i : i + 1])
        if result is not None:
            rest = stream[i + 1 :]
            break
    assert result is not None
    intro, leftover = result
    assert intro.header == WA_HEADER
    assert intro.routing_info == (routing or None)
    assert leftover + rest == b"\x00\x00\x01z"


def test_intro_parser_returns_bytes_packed_after_the_intro() -> None:
    result = IntroParser().feed(WA_HEADER + b"\x00\x00\x02hi")
    assert result is not None
    assert result[1] == b"\x00\x00\x02hi"


@pytest.mark.parametrize(
    "stream",
    [
        b"GET / HTTP/1.1\r\n",
        b"WB",
        b"WA\x05\x03",  # wrong protocol version
        b"WA\x06\x02",  # wrong dictionary version
        b"EX",
        b"ED\x00\x02",
        b"ED\x00\x01\x00\x00\x00XX\x06\x03",
    ],
)
def test_intro_parser_rejects_foreign_streams(stream: bytes) -> None:
    with pytest.raises(HandshakeError):
        IntroParser().feed(stream)


def test_intro_parser_rejects_an_oversized_routing_block_before_buffering_it() -> None:
    with pytest.raises(HandshakeError, match="too long"):
        IntroParser().feed(b"ED\x00\x01\xff\xff\xff")


def test_intro_parser_accepts_configured_headers() -> None:
    result = IntroParser(accepted_headers=(b"WA\x06\x04",)).feed(b"WA\x06\x04")
    assert result is not None
    assert result[0].header == b"WA\x06\x04"
