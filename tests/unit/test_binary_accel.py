"""The compiled decoder (``_cdecoder.c``) against the pure-Python one: same trees, same errors.

Every test of test_binary.py and test_binary_properties.py already runs against both (the
``decoder_impl`` fixture); here both decode the same hostile input side by side and must agree
on the result or on the error's message and offset.
"""

from __future__ import annotations

import random
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conftest import require_compiled_decoder, subprocess_env
from tests.unit.test_binary_properties import _fuzz_seeds, mutated, nodes
from wamd.binary import Node, decode_node, decoder, encode_node
from wamd.errors import DecodeError


@pytest.fixture(autouse=True, scope="module")
def _compiled() -> None:
    require_compiled_decoder()


def outcome(name: str, data: bytes, max_depth: int = 64) -> Node | tuple[str, int]:
    try:
        return decoder.IMPLEMENTATIONS[name](data, max_depth)
    except DecodeError as exc:
        return str(exc), exc.offset


def assert_same(data: bytes, max_depth: int = 64) -> Node | tuple[str, int]:
    python = outcome("python", data, max_depth)
    assert outcome("c", data, max_depth) == python, data.hex()
    return python


def test_decode_node_uses_the_compiled_decoder() -> None:
    assert decoder.ACCELERATED
    assert decoder._decode is decoder.IMPLEMENTATIONS["c"]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(node=nodes)
def test_same_tree_for_valid_input(node: Node) -> None:
    assert assert_same(encode_node(node)) == node


@settings(max_examples=1000)
@given(data=st.binary(max_size=300))
def test_same_outcome_for_random_bytes(data: bytes) -> None:
    assert_same(data)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated())
def test_same_outcome_for_mutated_encodings(data: bytes) -> None:
    assert_same(data)


def test_same_outcome_for_seeded_mutations_and_truncations() -> None:
    rng = random.Random(7)
    seeds = _fuzz_seeds()
    for seed in seeds:
        for end in range(len(seed) + 1):
            assert_same(seed[:end])
    errors = set()
    for _ in range(20_000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(data)) if data else 0
            data[pos] = rng.randrange(256)
        result = assert_same(bytes(data))
        if isinstance(result, tuple):
            errors.add(result[0].split(" (at offset")[0].split(" ")[0])
    assert len(errors) > 5  # the mutations reach many different error paths


def test_same_outcome_at_the_depth_limit() -> None:
    def nested(levels: int) -> bytes:  # (the encoder stops at 256 levels)
        return bytes([248, 2, 25, 248, 1]) * (levels - 1) + bytes([248, 1, 25])

    for max_depth in (1, 2, 63, 64, 65, 300):
        for levels in (max_depth - 1, max_depth, max_depth + 1):
            if levels >= 1:
                assert_same(nested(levels), max_depth)
    # deepest allowed nesting (trees this deep are not compared: Node.__eq__ recurses)
    assert isinstance(decoder.IMPLEMENTATIONS["c"](nested(10_000), 10_000), Node)
    assert outcome("c", nested(10_001), 10_000) == outcome("python", nested(10_001), 10_000)


def test_nested_jids_are_refused_without_recursion() -> None:
    bomb = bytes([248, 1]) + bytes([250]) * 100_000
    assert assert_same(bomb) == ("JID user must be a plain string (at offset 3)", 3)


def test_pure_python_can_be_forced() -> None:
    code = (
        "from wamd.binary import decoder; print(decoder.ACCELERATED, list(decoder.IMPLEMENTATIONS))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env(WAMD_PURE_PYTHON="1"),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    ).stdout
    assert out.split() == ["False", "['python']"]
    assert decode_node(encode_node(Node("ping"))) == Node("ping")
