"""The IQs clients send once logged in: prekeys, usync, app state, unknown queries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from wamd.binary import Node
from wamd.crypto import KeyPair, verify_signature
from wamd.sandbox import Sandbox
from wamd.types import JID

from .raw import Companion, RawClient, login, pair_by_qr

PHONE = "15550003"
OTHER = "15550004"
SERVER = JID("", "s.whatsapp.net")


@pytest.fixture
def companion() -> Companion:
    return Companion()


@pytest.fixture
async def client(sandbox: Sandbox, companion: Companion) -> AsyncIterator[RawClient]:
    await pair_by_qr(sandbox, companion, PHONE)
    connected = await login(sandbox, companion)
    yield connected
    await connected.close()


def iq(xmlns: str, kind: str, *children: Node) -> Node:
    return Node("iq", {"xmlns": xmlns, "type": kind, "to": SERVER}, list(children) or None)


def upload(companion: Companion, count: int, first_id: int = 1) -> Node:
    identity, signed = companion.identity, KeyPair.generate()
    keys = [
        Node(
            "key",
            {},
            [
                Node("id", {}, (first_id + i).to_bytes(3, "big")),
                Node("value", {}, KeyPair.generate().public),
            ],
        )
        for i in range(count)
    ]
    node = iq(
        "encrypt",
        "set",
        Node("registration", {}, (77).to_bytes(4, "big")),
        Node("type", {}, b"\x05"),
        Node("identity", {}, identity.public),
        Node("list", {}, keys),
        Node(
            "skey",
            {},
            [
                Node("id", {}, (9).to_bytes(3, "big")),
                Node("value", {}, signed.public),
                Node("signature", {}, identity.sign(b"\x05" + signed.public)),
            ],
        ),
    )
    return node


async def count(client: RawClient) -> int:
    answer = await client.query(iq("encrypt", "get", Node("count")))
    return answer.require_child("count").attr_int("value")


async def test_prekey_count_upload_digest(client: RawClient, companion: Companion) -> None:
    assert await count(client) == 0
    node = upload(companion, 30)
    assert (await client.query(node)).attrs["type"] == "result"
    assert await count(client) == 30
    digest = (await client.query(iq("encrypt", "get", Node("digest")))).require_child("digest")
    assert digest.child_bytes("registration") == (77).to_bytes(4, "big")
    assert len(digest.require_child("list").children) == 30
    assert digest.require_child("skey").child_bytes("id") == (9).to_bytes(3, "big")


async def test_malformed_uploads_are_iq_errors(client: RawClient, companion: Companion) -> None:
    short = upload(companion, 1)
    short.require_child("registration").content = b"\x01"
    other_identity = upload(Companion(), 1)
    bad_signature = upload(companion, 1)
    bad_signature.find("skey", "signature").content = bytes(64)  # type: ignore[union-attr]
    for node, code in ((short, "400"), (other_identity, "406"), (bad_signature, "400")):
        answer = await client.query(node)
        assert answer.attrs["type"] == "error"
        assert answer.require_child("error").attrs["code"] == code
    assert await count(client) == 0


async def test_fetching_bundles_consumes_one_time_prekeys(
    sandbox: Sandbox, client: RawClient, companion: Companion
) -> None:
    await client.query(upload(companion, 2))
    other = Companion()
    await pair_by_qr(sandbox, other, OTHER)
    fetcher = await login(sandbox, other)
    try:
        target = JID(PHONE, "s.whatsapp.net", device=1)
        account = await sandbox.state.account(PHONE)
        assert account is not None
        lid_target = JID(account.lid, "lid", device=1)
        fetched = []
        for jid in (target, lid_target, target):
            answer = await fetcher.query(
                iq("encrypt", "get", Node("key", {}, [Node("user", {"jid": jid})]))
            )
            (user,) = answer.require_child("list").children
            assert user.attr_jid("jid") == jid
            fetched.append(user)
        identity = fetched[0].child_bytes("identity")
        skey = fetched[0].require_child("skey")
        assert verify_signature(
            identity, b"\x05" + skey.child_bytes("value"), skey.child_bytes("signature")
        )
        key_ids = [
            u.require_child("key").child_bytes("id") if u.child("key") else None for u in fetched
        ]
        assert key_ids == [(1).to_bytes(3, "big"), (2).to_bytes(3, "big"), None]
        assert await count(client) == 0
        # the simulated phone (device 0) has a signed prekey but no one-time prekeys
        phone = await fetcher.query(
            iq(
                "encrypt",
                "get",
                Node(
                    "key",
                    {},
                    [
                        Node("user", {"jid": JID(PHONE, "s.whatsapp.net")}),
                        Node("user", {"jid": JID("19999999", "s.whatsapp.net")}),
                    ],
                ),
            )
        )
        primary, missing = phone.require_child("list").children
        assert primary.child("key") is None
        assert len(primary.child_bytes("identity")) == 32
        assert missing.require_child("error").attrs["code"] == "404"
    finally:
        await fetcher.close()


async def test_usync_devices_lid_and_contact(sandbox: Sandbox, client: RawClient) -> None:
    query = Node(
        "usync",
        {"sid": "s1", "mode": "query", "context": "message"},
        [
            Node("query", {}, [Node("devices", {"version": "2"}), Node("lid"), Node("contact")]),
            Node(
                "list",
                {},
                [
                    Node("user", {"jid": JID(PHONE, "s.whatsapp.net")}),
                    Node("user", {}, [Node("contact", {}, b"+1 999 000 1111")]),
                ],
            ),
        ],
    )
    answer = await client.query(iq("usync", "get", query))
    usync = answer.require_child("usync")
    assert usync.attrs["sid"] == "s1"
    mine, stranger = usync.require_child("list").children
    devices = mine.find("devices", "device-list")
    assert devices is not None
    assert [(d.attrs["id"], d.attrs.get("key-index")) for d in devices.children] == [
        ("0", None),
        ("1", "1"),
    ]
    account = await sandbox.state.account(PHONE)
    assert account is not None
    assert mine.require_child("lid").attr_jid("val") == JID(account.lid, "lid")
    assert mine.require_child("contact").attrs["type"] == "in"
    assert stranger.attr_jid("jid") == JID("19990001111", "s.whatsapp.net")
    assert stranger.require_child("contact").attrs["type"] == "out"
    assert stranger.child("lid") is None


async def test_default_answers(client: RawClient) -> None:
    props = await client.query(iq("abt", "get", Node("props", {"protocol": "1"})))
    assert props.require_child("props").attrs["protocol"] == "1"
    blocklist = await client.query(iq("blocklist", "get"))
    assert blocklist.require_child("list").children == []
    privacy = await client.query(iq("privacy", "get", Node("privacy")))
    names = [c.attrs["name"] for c in privacy.require_child("privacy").children]
    assert "last" in names
    sync = await client.query(
        iq(
            "w:sync:app:state",
            "set",
            Node(
                "sync",
                {},
                [
                    Node("collection", {"name": "regular", "version": "0"}),
                    Node("collection", {"name": "critical_block", "version": "3"}),
                ],
            ),
        )
    )
    # the app-state module answers with the server's versions (nothing pushed yet: 0)
    assert [(c.attrs["name"], c.attrs["version"]) for c in sync.require_child("sync").children] == [
        ("regular", "0"),
        ("critical_block", "0"),
    ]


async def test_unknown_iq_is_answered_with_501(client: RawClient) -> None:
    answer = await client.query(iq("w:nonexistent", "get", Node("thing")))
    assert answer.attrs["type"] == "error"
    assert answer.require_child("error").attrs == {"code": "501", "text": "feature-not-implemented"}
    # the session survives
    assert (await client.query(iq("w:p", "get"))).attrs["type"] == "result"
