"""JID parsing, formatting, kinds, AD-JID semantics and Signal addresses."""

from __future__ import annotations

import copy
import pickle

import pytest

from wamd.errors import InvalidJID
from wamd.types import (
    JID,
    SERVER_JID,
    STATUS_BROADCAST,
)


@pytest.mark.parametrize(
    ("text", "user", "server", "agent", "device", "integrator"),
    [
        ("15551234567@s.whatsapp.net", "15551234567", "s.whatsapp.net", 0, 0, 0),
        ("15551234567:12@s.whatsapp.net", "15551234567", "s.whatsapp.net", 0, 12, 0),
        ("15551234567.5:3@s.whatsapp.net", "15551234567", "s.whatsapp.net", 5, 3, 0),
        ("120363025246125888@g.us", "120363025246125888", "g.us", 0, 0, 0),
        ("15551234567-1600000000@g.us", "15551234567-1600000000", "g.us", 0, 0, 0),
        ("88123456789012@lid", "88123456789012", "lid", 0, 0, 0),
        ("88123456789012:7@lid", "88123456789012", "lid", 0, 7, 0),
        ("status@broadcast", "status", "broadcast", 0, 0, 0),
        ("1234567890@broadcast", "1234567890", "broadcast", 0, 0, 0),
        ("120363144038483540@newsletter", "120363144038483540", "newsletter", 0, 0, 0),
        ("16505361212@c.us", "16505361212", "c.us", 0, 0, 0),
        ("15551234567:99@hosted", "15551234567", "hosted", 0, 99, 0),
        ("88123456789012:99@hosted.lid", "88123456789012", "hosted.lid", 0, 99, 0),
        ("100001234:3@msgr", "100001234", "msgr", 0, 3, 0),
        ("7-4455:2@interop", "4455", "interop", 0, 2, 7),
        ("867051314767696@bot", "867051314767696", "bot", 0, 0, 0),
        ("@s.whatsapp.net", "", "s.whatsapp.net", 0, 0, 0),
        ("s.whatsapp.net", "", "s.whatsapp.net", 0, 0, 0),
        ("@g.us", "", "g.us", 0, 0, 0),
    ],
)
def test_parse(text: str, user: str, server: str, agent: int, device: int, integrator: int) -> None:
    jid = JID.parse(text)
    assert (jid.user, jid.server, jid.agent, jid.device, jid.integrator) == (
        user,
        server,
        agent,
        device,
        integrator,
    )
    assert JID.parse(str(jid)) == jid
    assert jid == JID(user, server, agent=agent, device=device, integrator=integrator)


@pytest.mark.parametrize(
    ("jid", "text"),
    [
        (JID("1555", "s.whatsapp.net"), "1555@s.whatsapp.net"),
        (JID("1555", "s.whatsapp.net", device=0), "1555@s.whatsapp.net"),
        (JID("1555", "s.whatsapp.net", device=2), "1555:2@s.whatsapp.net"),
        (JID("1555", "s.whatsapp.net", agent=3, device=2), "1555.3:2@s.whatsapp.net"),
        (JID("1555", "s.whatsapp.net", agent=3), "1555.3:0@s.whatsapp.net"),
        (JID("", "s.whatsapp.net"), "@s.whatsapp.net"),
        (JID("4455", "interop", device=2, integrator=7), "7-4455:2@interop"),
        (JID("4455", "interop"), "0-4455:0@interop"),
    ],
)
def test_format(jid: JID, text: str) -> None:
    assert str(jid) == text
    assert repr(jid) == f"JID({text!r})"
    assert f"{jid}" == text
    assert JID.parse(text) == jid


@pytest.mark.parametrize(
    "text",
    [
        "",
        "nobody",
        "a@b@c",
        "1555@",
        "1555:x@s.whatsapp.net",
        "1555:@s.whatsapp.net",
        "1555:1:2@s.whatsapp.net",
        "1555:70000@s.whatsapp.net",
        "1555.x:1@s.whatsapp.net",
        "1555.300:1@s.whatsapp.net",
        ":3@s.whatsapp.net",
        "1555@s.what:sapp.net",
        "x-1:2@interop",
        "1555:+1@s.whatsapp.net",
        "1555: 1@s.whatsapp.net",
        "1555:\u0661@s.whatsapp.net",
        "1555.1:2@s.whatsapp.net",
        "1555.129:0@s.whatsapp.net",
    ],
)
def test_parse_rejects(text: str) -> None:
    with pytest.raises(InvalidJID):
        JID.parse(text)


def test_parse_rejects_non_string() -> None:
    with pytest.raises(InvalidJID):
        JID.parse(b"1@s.whatsapp.net")  # type: ignore[arg-type]


def test_constructor_validates() -> None:
    for bad in (
        lambda: JID("a@b", "s.whatsapp.net"),
        lambda: JID("1", ""),
        lambda: JID("1", "s.whatsapp.net", device=-1),
        lambda: JID("1", "s.whatsapp.net", device=65536),
        lambda: JID("1", "s.whatsapp.net", agent=256),
        lambda: JID("1", "lid", agent=1),
        lambda: JID("1", "s.whatsapp.net", agent=1),
        lambda: JID("1", "s.whatsapp.net", agent=128),
        lambda: JID("1", "s.whatsapp.net", device=True),
        lambda: JID("", "s.whatsapp.net", device=1),
        lambda: JID("1.2", "s.whatsapp.net"),
        lambda: JID(1, "s.whatsapp.net"),  # type: ignore[arg-type]
    ):
        with pytest.raises(InvalidJID):
            bad()


def test_pn_and_lid_are_distinct() -> None:
    pn = JID.parse("15551234567@s.whatsapp.net")
    lid = JID.parse("15551234567@lid")
    assert pn != lid
    assert hash(pn) != hash(lid) or pn != lid
    assert len({pn, lid}) == 2
    assert pn.is_pn
    assert not pn.is_lid
    assert lid.is_lid
    assert not lid.is_pn


def test_value_semantics() -> None:
    a = JID.parse("1555:2@s.whatsapp.net")
    b = JID("1555", "s.whatsapp.net", device=2)
    assert a == b
    assert hash(a) == hash(b)
    assert a != "1555:2@s.whatsapp.net"
    assert {a: 1}[b] == 1
    with pytest.raises(AttributeError):
        a.user = "x"  # type: ignore[misc]
    with pytest.raises(AttributeError):
        del a.device  # type: ignore[misc]
    assert not hasattr(a, "__dict__")
    assert pickle.loads(pickle.dumps(a)) == a
    assert copy.deepcopy(a) == a


def test_kinds() -> None:
    assert JID.parse("1@g.us").is_group
    assert STATUS_BROADCAST.is_status_broadcast
    assert not STATUS_BROADCAST.is_broadcast_list
    assert JID.parse("123@broadcast").is_broadcast_list
    assert JID.parse("1@newsletter").is_newsletter
    assert JID.parse("1@hosted").is_hosted
    assert JID.parse("1@hosted.lid").is_hosted
    assert SERVER_JID.is_server
    assert str(SERVER_JID) == "@s.whatsapp.net"
    assert JID.parse("13135550002@s.whatsapp.net").is_bot
    assert JID.parse("13165550012@c.us").is_bot
    assert JID.parse("867051314767696@bot").is_bot
    assert not JID.parse("13135550002:1@s.whatsapp.net").is_bot
    assert not JID.parse("15551234567@s.whatsapp.net").is_bot
    assert JID.parse("1:2@lid").is_user
    assert not JID.parse("1@g.us").is_user
    assert JID.parse("1:2@lid").is_ad
    assert not JID.parse("1@lid").is_ad


def test_domain_and_signal_address() -> None:
    cases = {
        "15551234567@s.whatsapp.net": (0, "15551234567.0"),
        "15551234567:3@s.whatsapp.net": (0, "15551234567.3"),
        "88123:4@lid": (1, "88123_1.4"),
        "1555:99@hosted": (128, "1555_128.99"),
        "88123:99@hosted.lid": (129, "88123_129.99"),
        "1555.5:2@s.whatsapp.net": (5, "1555_5.2"),
    }
    for text, (domain, address) in cases.items():
        jid = JID.parse(text)
        assert jid.domain == domain
        assert jid.signal_address == address
        assert JID.from_signal_address(address) == jid


@pytest.mark.parametrize("address", ["", "1555", ".3", "1555.x", "1555_x.1", "a.b.c", "_1.2"])
def test_from_signal_address_rejects(address: str) -> None:
    with pytest.raises(InvalidJID):
        JID.from_signal_address(address)


def test_to_non_ad_and_with_device() -> None:
    jid = JID.parse("1555.5:2@s.whatsapp.net")
    assert jid.to_non_ad() == JID.parse("1555@s.whatsapp.net")
    plain = JID.parse("88@lid")
    assert plain.to_non_ad() is plain
    assert plain.with_device(3) == JID.parse("88:3@lid")
    assert JID.parse("7-4455:2@interop").to_non_ad() == JID("4455", "interop", integrator=7)
