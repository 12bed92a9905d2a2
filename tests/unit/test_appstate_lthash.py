"""LTHash: the SWAR implementation against a plain lane-by-lane reference."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wamd.appstate.lthash import EMPTY_HASH, HASH_SIZE, INTEGRITY_INFO, subtract_then_add
from wamd.crypto import hkdf_sha256

macs = st.binary(min_size=32, max_size=32)


def _reference(base: bytes, subtract: list[bytes], add: list[bytes]) -> bytes:
    lanes = list(struct.unpack("<64H", base))
    for items, sign in ((subtract, -1), (add, 1)):
        for mac in items:
            other = struct.unpack("<64H", hkdf_sha256(mac, 128, info=INTEGRITY_INFO))
            lanes = [(a + sign * b) % 65536 for a, b in zip(lanes, other, strict=True)]
    return struct.pack("<64H", *lanes)


@given(
    st.binary(min_size=128, max_size=128), st.lists(macs, max_size=5), st.lists(macs, max_size=5)
)
def test_matches_lane_reference(base: bytes, subtract: list[bytes], add: list[bytes]) -> None:
    assert subtract_then_add(base, subtract, add) == _reference(base, subtract, add)


def test_extreme_lanes_wrap() -> None:
    # Every lane at 0xFFFF / 0x0000 / 0x8000 exercises the carry and borrow paths of every lane.
    for fill in (b"\xff\xff", b"\x00\x00", b"\x00\x80", b"\xff\x7f"):
        base = fill * 64
        macs_ = [bytes([i]) * 32 for i in range(4)]
        assert subtract_then_add(base, macs_[:2], macs_[2:]) == _reference(
            base, macs_[:2], macs_[2:]
        )


@given(st.lists(macs, max_size=8), st.randoms())
def test_order_independent_and_cancels(items: list[bytes], rnd: object) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)  # type: ignore[attr-defined]
    forward = subtract_then_add(EMPTY_HASH, add=items)
    assert subtract_then_add(EMPTY_HASH, add=shuffled) == forward
    assert subtract_then_add(forward, subtract=shuffled) == EMPTY_HASH


def test_known_answer() -> None:
    # One value MAC added to the empty hash equals its HKDF expansion itself.
    mac = bytes(range(32))
    assert subtract_then_add(EMPTY_HASH, add=[mac]) == hkdf_sha256(mac, 128, info=INTEGRITY_INFO)
    assert len(EMPTY_HASH) == HASH_SIZE


def test_rejects_wrong_size() -> None:
    with pytest.raises(ValueError, match="128"):
        subtract_then_add(b"\x00" * 127)
