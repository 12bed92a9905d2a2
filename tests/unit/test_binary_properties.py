"""Property tests: round trips, and hostile bytes only ever raise DecodeError."""

from __future__ import annotations

import contextlib
import random
import zlib

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wamd.binary import Node, decode_frame, decode_node, encode_node, tokens, unpack_frame
from wamd.errors import DecodeError, InvalidJID
from wamd.types import JID
from wamd.types.jid import KNOWN_SERVERS

# every test runs once per decoder implementation (pure Python, compiled C)
pytestmark = pytest.mark.usefixtures("decoder_impl")

_ALL_TOKENS = [*tokens.SINGLE_BYTE_TOKENS[1:], *(t for d in tokens.DOUBLE_BYTE_TOKENS for t in d)]
_TOKENS = st.sampled_from(_ALL_TOKENS)
_PACKABLE = st.one_of(
    st.text("0123456789-.", min_size=1, max_size=127),
    st.text("0123456789ABCDEF", min_size=1, max_size=127),
)
_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_STRINGS = st.one_of(_TOKENS, _PACKABLE, _TEXT)

_USERS = st.one_of(
    st.text("0123456789", min_size=1, max_size=20),
    st.sampled_from([t for t in _ALL_TOKENS if not set(t) & set("@:.")]),
)


@st.composite
def jids(draw: st.DrawFn) -> JID:
    kind = draw(st.sampled_from(["pair", "ad", "agent", "msgr", "interop", "server"]))
    user = draw(_USERS)
    if kind == "pair":
        return JID(user, draw(st.sampled_from(sorted(KNOWN_SERVERS - {"msgr", "interop"}))))
    if kind == "ad":
        server = draw(st.sampled_from(["s.whatsapp.net", "lid", "hosted", "hosted.lid"]))
        return JID(user, server, device=draw(st.integers(0, 255)))
    if kind == "agent":
        agent = draw(st.integers(2, 255).filter(lambda a: a not in (128, 129)))
        return JID(user, "s.whatsapp.net", agent=agent, device=draw(st.integers(0, 255)))
    if kind == "msgr":
        return JID(user, "msgr", device=draw(st.integers(0, 65535)))
    if kind == "interop":
        return JID(
            user,
            "interop",
            device=draw(st.integers(0, 65535)),
            integrator=draw(st.integers(0, 65535)),
        )
    return JID("", draw(st.sampled_from(["s.whatsapp.net", "g.us", "broadcast", "lid"])))


_VALUES = st.one_of(_STRINGS, jids())
# Content kinds that decode back to exactly what was encoded (raw strings come back as bytes).
_CONTENT = st.one_of(
    st.none(),
    st.binary(max_size=64),
    st.binary(min_size=250, max_size=300),
    _TOKENS,
    _PACKABLE,
    jids(),
)
_TAGS = st.one_of(
    _TOKENS, st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=12)
)


def node_trees(max_leaves: int) -> st.SearchStrategy[Node]:
    return st.recursive(
        st.builds(Node, _TAGS, st.dictionaries(_STRINGS, _VALUES, max_size=6), _CONTENT),
        lambda children: st.builds(
            Node,
            _TOKENS,
            st.dictionaries(_STRINGS, _VALUES, max_size=4),
            st.lists(children, max_size=5),
        ),
        max_leaves=max_leaves,
    )


def decode_checked(data: bytes) -> Node | None:
    """Decode hostile bytes: either a node the encoder accepts again, or a DecodeError whose
    offset lies within the input (any other exception fails the test)."""
    try:
        node = decode_node(data)
    except DecodeError as exc:
        error = exc
    else:
        encode_node(node)
        return node
    assert 0 <= error.offset <= len(data)
    return None


nodes = node_trees(20)
small_nodes = node_trees(6)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(node=nodes)
def test_decode_encode_roundtrip(node: Node) -> None:
    data = encode_node(node)
    assert decode_node(data) == node
    assert decode_node(bytearray(data)) == node
    assert decode_node(memoryview(data)) == node


@given(text=_TEXT.filter(lambda s: s not in tokens.TOKEN_INDEX))
def test_raw_string_content_comes_back_as_bytes(text: str) -> None:
    decoded = decode_node(encode_node(Node("x", {}, text))).content
    assert decoded in (text, text.encode())


@settings(max_examples=500)
@given(data=st.binary(max_size=400))
@example(data=b"\xf8\x02\x19\xf9\xff\xff")
@example(data=b"\xf8\x02\x19\xfe\x7f\xff\xff\xff")
def test_random_bytes_only_raise_decode_error(data: bytes) -> None:
    decode_checked(data)


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(encode_node(draw(small_nodes)))
    for _ in range(draw(st.integers(1, 6))):
        action = draw(st.sampled_from(["flip", "insert", "delete", "truncate"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if action == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif action == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=4))
        elif action == "delete" and data:
            del data[pos]
        else:
            del data[pos:]
    return bytes(data)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(data=mutated())
def test_mutated_encodings_only_raise_decode_error(data: bytes) -> None:
    decode_checked(data)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(node=small_nodes)
def test_every_truncation_is_refused(node: Node) -> None:
    data = encode_node(node)
    for end in range(len(data)):
        try:
            decode_node(data[:end])
        except DecodeError:
            continue
        raise AssertionError(f"prefix of {end}/{len(data)} bytes decoded")


def _fuzz_seeds() -> list[bytes]:
    me = JID("15551234567", "s.whatsapp.net", device=3)
    lid = JID("88123456789012", "lid", device=2)
    stanzas = [
        Node(
            "message",
            {
                "id": "3EB0C431F5C2E5A1B2D4",
                "to": JID("120363025246125888", "g.us"),
                "type": "text",
                "t": "1723456789",
                "notify": "Alice ✓",
            },
            [
                Node("enc", {"v": "2", "type": "skmsg"}, bytes(range(200))),
                Node(
                    "participants",
                    {},
                    [
                        Node(
                            "to",
                            {"jid": lid},
                            [Node("enc", {"v": "2", "type": "pkmsg"}, b"x" * 300)],
                        ),
                        Node(
                            "to", {"jid": me}, [Node("enc", {"v": "2", "type": "msg"}, b"y" * 40)]
                        ),
                    ],
                ),
            ],
        ),
        Node(
            "iq",
            {"id": "1.2-3", "to": JID("", "s.whatsapp.net"), "type": "get", "xmlns": "usync"},
            [
                Node(
                    "usync",
                    {"sid": "abc"},
                    [Node("list", {}, [Node("user", {"jid": me}) for _ in range(3)])],
                )
            ],
        ),
        Node(
            "x",
            {"a": JID("1", "msgr", device=300), "b": JID("2", "interop", device=1, integrator=9)},
            "12345",
        ),
        Node("big", {}, [Node("item", {"id": str(i)}) for i in range(260)]),
    ]
    return [encode_node(node) for node in stanzas]


def test_seeded_mutation_fuzz() -> None:
    """Many cheap random mutations of realistic stanzas: only DecodeError may escape."""
    rng = random.Random(20240601)
    seeds = _fuzz_seeds()
    decoded = 0
    for _ in range(20_000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(data)) if data else 0
            action = rng.random()
            if action < 0.6 and data:
                data[pos] = rng.randrange(256)
            elif action < 0.75:
                data[pos:pos] = rng.randbytes(rng.randint(1, 3))
            elif action < 0.9 and data:
                del data[pos]
            else:
                del data[pos:]
        if decode_checked(bytes(data)) is not None:
            decoded += 1
    assert decoded > 0  # some mutations (e.g. inside binaries) still decode


@settings(max_examples=30, deadline=None)
@given(size=st.integers(1, 3_000_000), limit=st.integers(1, 3_000_000))
def test_compressed_frame_past_the_limit_is_refused(size: int, limit: int) -> None:
    node = Node("blob", {}, b"\x00" * size)
    frame = b"\x02" + zlib.compress(encode_node(node))
    inflated = len(encode_node(node))
    if inflated > limit:
        with pytest.raises(DecodeError, match="limit"):
            unpack_frame(frame, max_size=limit)
    else:
        assert decode_frame(frame, max_size=limit) == node


@settings(max_examples=300)
@given(data=st.binary(max_size=200))
def test_random_compressed_frames_only_raise_decode_error(data: bytes) -> None:
    with contextlib.suppress(DecodeError):
        decode_frame(b"\x02" + data, max_size=4096)


@settings(max_examples=300)
@given(jid=jids())
def test_jid_string_roundtrip(jid: JID) -> None:
    assert JID.parse(str(jid)) == jid
    if jid.user.isdigit() and jid.server in ("s.whatsapp.net", "lid", "hosted", "hosted.lid"):
        assert JID.from_signal_address(jid.signal_address) == jid


@settings(max_examples=500)
@given(text=st.text(max_size=60))
@example(text="1:2:3@s.whatsapp.net")
def test_jid_parse_only_raises_invalid_jid(text: str) -> None:
    try:
        jid = JID.parse(text)
    except InvalidJID:
        return
    assert JID.parse(str(jid)) == jid
