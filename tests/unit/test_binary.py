"""The binary node codec: known bytes, round trips, hostile input, frames, node helpers."""

from __future__ import annotations

import zlib

import pytest

from wamd.binary import (
    Node,
    decode_frame,
    decode_node,
    encode_frame,
    encode_node,
    pack_frame,
    pretty,
    tokens,
    unpack_frame,
)
from wamd.errors import (
    AttributeInvalid,
    AttributeMissing,
    DecodeError,
    EncodeError,
    MalformedNode,
)
from wamd.types import JID, SERVER_JID

# every test runs once per decoder implementation (pure Python, compiled C)
pytestmark = pytest.mark.usefixtures("decoder_impl")


def roundtrip(node: Node) -> Node:
    return decode_node(encode_node(node))


# --- token tables ----------------------------------------------------------------------------


def test_token_tables_shape() -> None:
    assert len(tokens.SINGLE_BYTE_TOKENS) == tokens.DICTIONARY_0 == 236
    assert tokens.SINGLE_BYTE_TOKENS[0] == ""
    assert [len(d) for d in tokens.DOUBLE_BYTE_TOKENS] == [256] * 4
    every = [*tokens.SINGLE_BYTE_TOKENS[1:], *(t for d in tokens.DOUBLE_BYTE_TOKENS for t in d)]
    assert len(set(every)) == len(every) == len(tokens.TOKEN_INDEX)


def test_every_token_roundtrips_with_its_index() -> None:
    for i, token in enumerate(tokens.SINGLE_BYTE_TOKENS[1:], start=1):
        assert encode_node(Node("x", {"a": token}))[-1:] == bytes([i])
        assert roundtrip(Node(token)) == Node(token)
        assert tokens.TOKEN_INDEX[token] == bytes([i])
    for d, dictionary in enumerate(tokens.DOUBLE_BYTE_TOKENS):
        for i, token in enumerate(dictionary):
            assert tokens.TOKEN_INDEX[token] == bytes([236 + d, i])
            node = Node(token, {token: token}, token)
            assert roundtrip(node) == node


# --- known bytes -----------------------------------------------------------------------------


def test_known_bytes_simple_iq() -> None:
    node = Node("iq", {"type": "get", "xmlns": "w:p", "to": SERVER_JID}, [Node("ping")])
    expected = bytes(
        [
            248,
            8,
            25,  # list of 8: tag iq
            4,
            41,  # type=get
            22,
            87,  # xmlns=w:p
            17,
            250,
            0,
            3,  # to=JID_PAIR(LIST_EMPTY, s.whatsapp.net)
            248,
            1,
            248,
            1,
            86,  # [<ping/>]
        ]
    )
    assert encode_node(node) == expected
    assert decode_node(expected) == node


def test_packed_strings() -> None:
    # nibble, even and odd length
    assert encode_node(Node("x", {"t": "1234"}))[-4:] == bytes([255, 2, 0x12, 0x34])
    assert encode_node(Node("x", {"t": "12-.5"}))[-5:] == bytes([255, 0x83, 0x12, 0xAB, 0x5F])
    # hex, even and odd length
    assert encode_node(Node("x", {"i": "3EB0"}))[-4:] == bytes([251, 2, 0x3E, 0xB0])
    assert encode_node(Node("x", {"i": "ABC"}))[-4:] == bytes([251, 0x82, 0xAB, 0xCF])
    for value in ["0", "12", "123", "1.5", "-1", "ABCDEF0123", "F", "9" * 127, "A" * 127]:
        assert roundtrip(Node("x", {"v": value})).attrs["v"] == value
    # too long to pack, lowercase hex and mixed strings go raw
    for value in ["9" * 128, "abc", "3eb0", "12a", "hello world"]:
        data = encode_node(Node("x", {"v": value}))
        assert data[-len(value) - 2] == tokens.BINARY_8
        assert roundtrip(Node("x", {"v": value})).attrs["v"] == value


def test_binary_lengths() -> None:
    for size, marker, header in [
        (0, tokens.BINARY_8, 2),
        (255, tokens.BINARY_8, 2),
        (256, tokens.BINARY_20, 4),
        ((1 << 20) - 1, tokens.BINARY_20, 4),
        (1 << 20, tokens.BINARY_32, 5),
    ]:
        blob = bytes(range(256)) * (size // 256) + bytes(size % 256)
        data = encode_node(Node("enc", {}, blob))
        assert data[3] == marker
        assert len(data) == 3 + header + size
        assert roundtrip(Node("enc", {}, blob)).content == blob


def test_list16_and_empty_list() -> None:
    children = [Node("item", {"id": str(i)}) for i in range(300)]
    data = encode_node(Node("list", {}, children))
    assert data[3] == tokens.LIST_16
    assert data[4:6] == (300).to_bytes(2, "big")
    assert decode_node(data).children == children
    assert roundtrip(Node("list", {}, [])) == Node("list", {}, [])
    many_attrs = {f"k{i}": "v" for i in range(200)}
    data = encode_node(Node("x", many_attrs))
    assert data[0] == tokens.LIST_16
    assert decode_node(data).attrs == many_attrs


@pytest.mark.parametrize(
    "jid",
    [
        "15551234567@s.whatsapp.net",
        "15551234567:3@s.whatsapp.net",
        "1555.5:2@s.whatsapp.net",
        "88123:4@lid",
        "88123@lid",
        "1555:99@hosted",
        "1555@hosted",
        "88123:99@hosted.lid",
        "120363025246125888@g.us",
        "status@broadcast",
        "1@newsletter",
        "16505361212@c.us",
        "100001234:3@msgr",
        "100001234@msgr",
        "7-4455:2@interop",
        "867051314767696@bot",
        "@s.whatsapp.net",
        "@g.us",
    ],
)
def test_jid_roundtrip(jid: str) -> None:
    value = JID.parse(jid)
    node = Node("message", {"to": value, "from": value}, value)
    assert roundtrip(node) == node


def test_jid_encodings() -> None:
    def attr_bytes(jid: JID) -> bytes:
        return encode_node(Node("iq", {"jid": jid}))[4:]

    user = bytes([255, 0x83, 0x98, 0x76, 0x5F])  # "98765" as a nibble string
    assert attr_bytes(JID.parse("98765:3@lid")) == bytes([247, 1, 3]) + user
    assert attr_bytes(JID.parse("98765@hosted")) == bytes([247, 128, 0]) + user
    assert attr_bytes(JID.parse("98765:9@hosted.lid")) == bytes([247, 129, 9]) + user
    assert attr_bytes(JID.parse("98765.5:2@s.whatsapp.net")) == bytes([247, 5, 2]) + user
    assert attr_bytes(JID.parse("98765:2@s.whatsapp.net")) == bytes([247, 0, 2]) + user
    assert attr_bytes(JID.parse("98765@s.whatsapp.net")) == bytes([250]) + user + bytes([3])
    assert attr_bytes(JID.parse("98765@lid")) == bytes([250]) + user + tokens.TOKEN_INDEX["lid"]
    msgr = attr_bytes(JID.parse("98765:258@msgr"))
    assert msgr == bytes([246]) + user + bytes([1, 2]) + tokens.TOKEN_INDEX["msgr"]
    interop = attr_bytes(JID.parse("7-98765:2@interop"))
    assert interop[0] == tokens.INTEROP_JID
    assert interop[6:10] == bytes([0, 2, 0, 7])
    with pytest.raises(EncodeError):
        encode_node(Node("x", {"j": JID("1", "s.whatsapp.net", device=256)}))
    with pytest.raises(EncodeError):
        encode_node(Node("x", {"j": JID("1", "g.us", device=2)}))


def test_content_kinds() -> None:
    assert roundtrip(Node("a", {}, "text")).content == "text"  # token
    assert roundtrip(Node("a", {}, "12345")).content == "12345"  # packed
    assert roundtrip(Node("a", {}, "hi there")).content == b"hi there"  # raw -> bytes
    assert roundtrip(Node("a", {}, "")).content == b""
    assert roundtrip(Node("a", {}, b"")).content == b""
    assert roundtrip(Node("a", {}, bytearray(b"xy"))).content == b"xy"
    assert roundtrip(Node("a", {}, memoryview(b"xyz"))).content == b"xyz"
    assert roundtrip(Node("a", {"e": ""})).attrs == {"e": ""}
    assert roundtrip(Node("a", {"u": "héllo ✓"})).attrs == {"u": "héllo ✓"}


def test_deep_nesting_roundtrip_and_limit() -> None:
    node = Node("leaf")
    for _ in range(63):
        node = Node("n", {}, [node])
    data = encode_node(node)
    assert decode_node(data) == node
    with pytest.raises(DecodeError, match="nested deeper"):
        decode_node(encode_node(Node("n", {}, [node])))
    assert decode_node(encode_node(Node("n", {}, [node])), max_depth=65).tag == "n"
    with pytest.raises(ValueError, match="max_depth"):
        decode_node(data, max_depth=100_000)


def test_encode_rejects_bad_nodes() -> None:
    for bad in [
        Node(""),
        Node(123),  # type: ignore[arg-type]
        Node("x", {"a": 1}),  # type: ignore[dict-item]
        Node("x", {"a": None}),  # type: ignore[dict-item]
        Node("x", {1: "a"}),  # type: ignore[dict-item]
        Node("x", {}, 5),  # type: ignore[arg-type]
        Node("x", {}, ["notanode"]),  # type: ignore[list-item]
    ]:
        with pytest.raises(EncodeError):
            encode_node(bad)
    cyclic = Node("x", {}, [])
    assert isinstance(cyclic.content, list)
    cyclic.content.append(cyclic)
    with pytest.raises(EncodeError):
        encode_node(cyclic)
    with pytest.raises(EncodeError):
        encode_node(Node("x", {}, [Node("y")] * 65536))


# --- hostile input ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "offset"),
    [
        (b"", 0),
        (b"\xf8", 1),
        (b"\xf8\x01", 2),
        (b"\x00", 0),
        (b"\xf8\x00", 0),
        (b"\x05", 0),
        (b"\xf8\x02\x19\xfc\x05ab", 7),  # binary longer than input
        (b"\xf8\x02\x19\xfe\xff\xff\xff\xff", 8),  # BINARY_32 length 4 GiB
        (b"\xf8\x02\x19\xfd\x0f\xff\xff", 7),  # BINARY_20 past end
        (b"\xf8\x02\x19\xf8\xff", 5),  # list of 255 with no bytes
        (b"\xf8\x02\x19\xf9\xff\xff", 6),  # LIST_16 of 65535 with no bytes
        (b"\xf8\x01\xf0", 2),  # invalid tag 240
        (b"\xf8\x01\xf8", 2),  # list where a string must be
        (b"\xf8\x03\x19\x04\xfa\x00\x00", 4),  # JID pair without a server (empty)
        (b"\xf8\x01\x19\x00", 3),  # trailing bytes
        (b"\xf8\x03\x19\x04\xff\x01\xcc", 4),  # invalid nibble
        (b"\xf8\x01\xfa\x00\x03", 2),  # JID as tag
        (b"\xf8\x03\x19\xfa\x00\x03\x04", 3),  # JID as attribute name
    ],
)
def test_decode_errors_carry_offset(data: bytes, offset: int) -> None:
    with pytest.raises(DecodeError) as info:
        decode_node(data)
    assert info.value.offset == offset


def test_decode_rejects_jid_inside_jid() -> None:
    inner = bytes([250, 0, 3])
    with pytest.raises(DecodeError, match="plain string"):
        decode_node(bytes([248, 3, 25, 4, 250]) + inner + bytes([3]))


def test_decode_rejects_bad_jid_parts() -> None:
    at_user = bytes([252, 3]) + b"a@b"
    with pytest.raises(DecodeError, match="invalid character"):
        decode_node(bytes([248, 3, 25, 4, 250]) + at_user + bytes([3]))
    fb_wrong_server = bytes([246, 255, 1, 0x1F, 0, 1, 28])  # server g.us
    with pytest.raises(DecodeError, match="FB JID"):
        decode_node(bytes([248, 3, 25, 4]) + fb_wrong_server)
    with pytest.raises(DecodeError, match="without a user"):
        decode_node(bytes([248, 3, 25, 4, 247, 0, 3, 0]))
    dotted = bytes([250, 252, 3]) + b"1.2" + bytes([3])
    with pytest.raises(DecodeError, match="phone-number"):
        decode_node(bytes([248, 3, 25, 4]) + dotted)


def test_invalid_utf8_in_attribute_is_replaced() -> None:
    node = decode_node(bytes([248, 3, 25, 4, 252, 2, 0xFF, 0x41]))
    assert node.attrs["type"] == "\ufffdA"


# --- frames ----------------------------------------------------------------------------------


def test_frames() -> None:
    node = Node("iq", {"id": "1"}, [Node("x", {}, b"\x00" * 1000)])
    data = encode_node(node)
    assert pack_frame(data) == b"\x00" + data
    assert unpack_frame(pack_frame(data)) == data
    assert unpack_frame(pack_frame(data, compress=True)) == data
    assert decode_frame(encode_frame(node, compress=True)) == node
    assert decode_frame(bytearray(encode_frame(node))) == node
    assert decode_frame(memoryview(encode_frame(node, compress=True))) == node
    assert unpack_frame(memoryview(pack_frame(data))) == data
    assert unpack_frame(b"\x01" + data) == data  # other flag bits are ignored


def test_compressed_frame_limit() -> None:
    bomb = b"\x02" + zlib.compress(b"\x00" * (8 * 1024 * 1024), 9)
    assert len(bomb) < 20_000
    with pytest.raises(DecodeError, match="limit"):
        unpack_frame(bomb, max_size=1024 * 1024)
    assert len(unpack_frame(bomb, max_size=8 * 1024 * 1024)) == 8 * 1024 * 1024
    payload = zlib.compress(b"abc" * 100)
    with pytest.raises(DecodeError, match="truncated"):
        unpack_frame(b"\x02" + payload[:-3])
    with pytest.raises(DecodeError, match="corrupt"):
        unpack_frame(b"\x02" + b"not zlib at all")
    with pytest.raises(DecodeError, match="left over"):
        unpack_frame(b"\x02" + payload + b"xx")
    with pytest.raises(DecodeError):
        unpack_frame(b"")


# --- Node helpers ----------------------------------------------------------------------------


def make_stanza() -> Node:
    return Node(
        "message",
        {
            "id": "3EB0A1",
            "from": JID.parse("1555:2@s.whatsapp.net"),
            "t": "1700000000",
            "count": "-3",
            "offline": "true",
            "bad_int": "12x",
            "notify": JID("john", "home"),
            "big": "9" * 30,
        },
        [
            Node("enc", {"v": "2", "type": "pkmsg"}, b"\x01\x02"),
            Node("enc", {"v": "2", "type": "msg"}, b"\x03"),
            Node("meta", {}, [Node("inner", {"k": "v"}, "text")]),
        ],
    )


def test_children_helpers() -> None:
    node = make_stanza()
    assert [c.tag for c in node.children] == ["enc", "enc", "meta"]
    first = node.child("enc")
    assert first is not None
    assert first.attrs["type"] == "pkmsg"
    assert node.child("nope") is None
    assert len(node.children_by_tag("enc")) == 2
    assert node.children_by_tag("nope") == []
    assert node.find("meta", "inner") == Node("inner", {"k": "v"}, "text")
    assert node.find("meta", "nope", "deeper") is None
    assert node.find() is node
    assert node.child_bytes("enc") == b"\x01\x02"
    assert Node("x", {}, "abc").content_bytes() == b"abc"
    with pytest.raises(MalformedNode, match="<message> has no <nope> child"):
        node.require_child("nope")
    with pytest.raises(MalformedNode):
        node.child_bytes("meta")
    leaf = Node("leaf", {}, b"x")
    assert leaf.children == []
    assert leaf.child("a") is None
    assert leaf.children_by_tag("a") == []


def test_attribute_readers() -> None:
    node = make_stanza()
    assert node.attr_str("id") == "3EB0A1"
    assert node.attr_str("from") == "1555:2@s.whatsapp.net"
    assert node.attr_str("nope", None) is None
    assert node.attr_int("t") == 1700000000
    assert node.attr_int("count") == -3
    assert node.attr_int("nope", 7) == 7
    assert node.attr_bool("offline") is True
    assert node.attr_bool("nope", False) is False
    assert node.attr_jid("from") == JID.parse("1555:2@s.whatsapp.net")
    assert node.attr_jid("notify") == JID("john", "home")
    assert node.attr_jid("nope", None) is None
    assert node.get("id") == "3EB0A1"
    assert node.get("nope") is None
    with pytest.raises(AttributeMissing, match="<message> lacks required attribute 'nope'"):
        node.attr_str("nope")
    for reader in (node.attr_int, node.attr_bool, node.attr_jid):
        with pytest.raises(AttributeMissing):
            reader("nope")
    with pytest.raises(AttributeInvalid, match="'bad_int'='12x' is not an integer"):
        node.attr_int("bad_int")
    with pytest.raises(AttributeInvalid):
        node.attr_int("big")
    with pytest.raises(AttributeInvalid):
        node.attr_int("from")
    with pytest.raises(AttributeInvalid, match="boolean"):
        node.attr_bool("id")
    with pytest.raises(AttributeInvalid, match="JID"):
        node.attr_jid("id")
    assert Node("x", {"v": "FALSE"}).attr_bool("v") is False
    assert Node("x", {"v": "0"}).attr_bool("v") is False


def test_equality_and_repr() -> None:
    assert make_stanza() == make_stanza()
    assert make_stanza() != Node("message")
    assert Node("a") != "a"
    with pytest.raises(TypeError):
        hash(Node("a"))
    big = Node("enc", {"v": "2", "s": "x" * 500}, b"\xab" * 100_000)
    text = repr(big)
    assert len(text) < 300
    assert "100000 bytes" in text
    many = Node("list", {}, [Node("i", {"n": str(i)}) for i in range(1000)])
    assert "992 more" in repr(many)
    assert len(repr(many)) < 600


def test_pretty() -> None:
    text = pretty(make_stanza())
    assert text.splitlines()[0].startswith('<message id="3EB0A1" from="1555:2@s.whatsapp.net"')
    assert '  <enc v="2" type="pkmsg"><!-- 2 bytes: 0102 --></enc>' in text
    assert '    <inner k="v">text</inner>' in text
    assert text.endswith("</message>")
    assert pretty(Node("a", {"q": '<&">'})) == '<a q="&lt;&amp;&quot;&gt;"/>'
    assert pretty(Node("a", {}, b"hello")) == "<a>hello</a>"
    long = pretty(Node("a", {}, b"\x00" * 1000), max_binary=4)
    assert long == "<a><!-- 1000 bytes: 00000000... --></a>"
    assert str(Node("a", {}, [])) == "<a/>"


def test_jid_encoding_memo_is_invisible() -> None:
    jid = JID.parse("88123:4@lid")
    first = encode_node(Node("x", {"jid": jid}, jid))
    assert encode_node(Node("x", {"jid": jid}, jid)) == first
    assert jid == JID.parse("88123:4@lid")
    assert hash(jid) == hash(JID.parse("88123:4@lid"))
    decoded = decode_node(first)
    again = decode_node(first)
    assert decoded == again
    assert decoded.attrs["jid"] == jid
    assert encode_node(decoded) == first


def test_str_subclass_values_encode_as_strings() -> None:
    import enum

    class Kind(enum.StrEnum):
        TEXT = "text"
        OTHER = "not a token"

    node = Node("message", {"type": Kind.TEXT, "x": Kind.OTHER}, Kind.TEXT)
    assert decode_node(encode_node(node)) == Node(
        "message",
        {"type": "text", "x": "not a token"},
        "text",
    )
