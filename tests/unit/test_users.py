"""Users: IQ shapes (as whatsmeow and Baileys send them), answer readers, the LID map."""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest

from tests.store.conftest import make_credentials
from wamd.binary import Node, decode_node, encode_node
from wamd.errors import MalformedNode
from wamd.store import MemoryStore
from wamd.types import JID, SERVER_JID
from wamd.users import queries as q
from wamd.users.client import UsersClient

PN = JID.parse("15550001111@s.whatsapp.net")
LID = JID.parse("987654321@lid")


def _wire(node: Node) -> Node:
    """Through the real codec, as the server would see it."""
    return decode_node(encode_node(node))


def test_usync_request_shape() -> None:
    iq = _wire(q.is_on_whatsapp_request(["15550001111", "+15550002222"], sid="s1"))
    assert (iq.attrs["xmlns"], iq.attrs["type"], iq.attrs["to"]) == ("usync", "get", SERVER_JID)
    usync = iq.require_child("usync")
    assert usync.attrs == {
        "sid": "s1",
        "mode": "query",
        "last": "true",
        "index": "0",
        "context": "interactive",
    }
    assert [n.tag for n in usync.require_child("query").children] == ["contact", "business", "lid"]
    contacts = [
        u.require_child("contact").content_bytes() for u in usync.require_child("list").children
    ]
    assert contacts == [b"+15550001111", b"+15550002222"]
    info = _wire(q.user_info_request([JID.parse("15550001111:3@s.whatsapp.net")], sid="s2"))
    users = info.require_child("usync").require_child("list").children
    assert users[0].attrs["jid"] == PN  # devices are stripped
    assert info.require_child("usync").attrs["mode"] == "full"
    with pytest.raises(ValueError, match="jid or a phone"):
        q.usync_request([q.UsyncUser()], [])


def _usync_answer(*users: Node) -> Node:
    return Node("iq", {"type": "result"}, [Node("usync", {}, [Node("list", {}, list(users))])])


def test_parse_is_on_whatsapp() -> None:
    answer = _wire(
        _usync_answer(
            Node(
                "user",
                {"jid": PN},
                [Node("contact", {"type": "in"}, b"+15550001111"), Node("lid", {"val": LID})],
            ),
            Node(
                "user",
                {"jid": JID.parse("15550002222@s.whatsapp.net")},
                [Node("contact", {"type": "out"}, b"+15550002222")],
            ),
            Node("user", {}, [Node("error")]),
        )
    )
    first, second = q.parse_is_on_whatsapp(answer)
    assert (first.query, first.registered, first.jid, first.lid) == ("15550001111", True, PN, LID)
    assert (second.registered, second.jid) == (False, None)
    with pytest.raises(MalformedNode):
        q.parse_is_on_whatsapp(Node("iq", {}, [Node("usync")]))


def test_parse_user_info() -> None:
    answer = _wire(
        _usync_answer(
            Node(
                "user",
                {"jid": PN},
                [
                    Node("status", {"t": "1"}, b"Hey there"),
                    Node("picture", {"id": "1700000"}),
                    Node(
                        "devices",
                        {},
                        [
                            Node(
                                "device-list",
                                {},
                                [
                                    Node("device", {"id": "0"}),
                                    Node("device", {"id": "7", "key-index": "2"}),
                                    Node("device", {"id": "x"}),
                                ],
                            )
                        ],
                    ),
                    Node("lid", {"val": LID}),
                ],
            ),
            Node("user", {"jid": "bad jid@@"}),
        )
    )
    info = q.parse_user_info(answer)[PN]
    assert info.status == "Hey there"
    assert info.picture_id == "1700000"
    assert info.devices == [PN, JID(PN.user, PN.server, device=7)]
    assert info.lid == LID


def test_profile_picture() -> None:
    iq = _wire(q.profile_picture_request(PN, preview=True, existing_id="5"))
    assert iq.attrs["target"] == PN
    assert iq.require_child("picture").attrs == {"query": "url", "type": "preview", "id": "5"}
    digest = base64.b64encode(b"\x01" * 32).decode()
    answer = _wire(
        Node(
            "iq",
            {},
            [
                Node(
                    "picture",
                    {
                        "id": "6",
                        "url": "https://x/y",
                        "direct_path": "/y",
                        "type": "image",
                        "hash": digest,
                    },
                )
            ],
        )
    )
    picture = q.parse_profile_picture(answer)
    assert picture == q.ProfilePicture("6", "https://x/y", "/y", "image", b"\x01" * 32)
    assert q.parse_profile_picture(Node("iq", {}, [Node("picture", {"status": "304"})])) is None
    assert q.parse_profile_picture(Node("iq", {}, [Node("picture", {"status": "204"})])) is None
    with pytest.raises(MalformedNode):
        q.parse_profile_picture(Node("iq"))


def test_status_business_blocklist_privacy() -> None:
    status = _wire(q.set_status_request("busy 🚀"))
    assert status.require_child("status").content_bytes() == "busy 🚀".encode()
    biz = _wire(q.business_profile_request(PN)).require_child("business_profile")
    assert biz.attrs == {"v": "244"}
    profile = Node(
        "profile",
        {"jid": PN},
        [
            Node("description", {}, b"We sell things"),
            Node("email", {}, b"a@b.c"),
            Node("website", {}, b"https://b.c"),
            Node("categories", {}, [Node("category", {"id": "133"}, b"Shopping")]),
            Node(
                "business_hours",
                {"timezone": "UTC"},
                [Node("business_hours_config", {"day_of_week": "mon", "mode": "open_24h"})],
            ),
        ],
    )
    parsed = q.parse_business_profile(
        _wire(Node("iq", {}, [Node("business_profile", {}, [profile])]))
    )
    assert parsed is not None
    assert (parsed.jid, parsed.description, parsed.email, parsed.websites) == (
        PN,
        "We sell things",
        "a@b.c",
        ["https://b.c"],
    )
    assert parsed.categories == [("133", "Shopping")]
    assert parsed.hours == [{"day_of_week": "mon", "mode": "open_24h"}]
    assert q.parse_business_profile(Node("iq", {}, [Node("business_profile")])) is None

    block = _wire(q.block_request(LID, block=True, pn=PN)).require_child("item")
    assert block.attrs == {"jid": LID, "action": "block", "pn_jid": PN}
    unblock = _wire(q.block_request(LID, block=False, pn=PN)).require_child("item")
    assert unblock.attrs == {"jid": LID, "action": "unblock"}
    listing = q.parse_blocklist(
        _wire(
            Node(
                "iq",
                {},
                [
                    Node(
                        "list",
                        {"dhash": "h1"},
                        [Node("item", {"jid": LID}), Node("item", {"jid": "x@@"})],
                    )
                ],
            )
        )
    )
    assert listing == q.Blocklist([LID], "h1")

    change = _wire(q.set_privacy_request(q.PrivacyCategory.LAST_SEEN, q.PrivacyValue.CONTACTS))
    assert change.require_child("privacy").require_child("category").attrs == {
        "name": "last",
        "value": "contacts",
    }
    with pytest.raises(ValueError, match="cannot be"):
        q.set_privacy_request(q.PrivacyCategory.READ_RECEIPTS, q.PrivacyValue.CONTACTS)
    settings = q.parse_privacy(
        _wire(
            Node(
                "iq",
                {},
                [
                    Node(
                        "privacy",
                        {},
                        [
                            Node("category", {"name": "last", "value": "all"}),
                            Node("category", {"name": "future", "value": "x"}),
                        ],
                    )
                ],
            )
        )
    )
    assert settings == {"last": "all", "future": "x"}


class ScriptedServer:
    """Answers IQs with a function of the request; records them."""

    def __init__(self, answer: Callable[[Node], Node]) -> None:
        self.answer = answer
        self.seen: list[Node] = []

    async def request(self, node: Node, *, timeout: float | None = None) -> Node:  # noqa: ASYNC109
        self.seen.append(_wire(node))
        return _wire(self.answer(self.seen[-1]))


async def test_users_client_keeps_the_lid_map() -> None:
    store = MemoryStore()
    account = await store.new_account(make_credentials())

    def answer(iq: Node) -> Node:
        if iq.attrs["xmlns"] == "usync":
            return _usync_answer(
                Node(
                    "user",
                    {"jid": PN},
                    [Node("contact", {"type": "in"}, b"+15550001111"), Node("lid", {"val": LID})],
                )
            )
        assert iq.attrs["xmlns"] == "blocklist"
        item = iq.require_child("item")
        return Node("iq", {}, [Node("list", {}, [Node("item", {"jid": item.attrs["jid"]})])])

    server = ScriptedServer(answer)
    users = UsersClient(server, account)
    [found] = await users.is_on_whatsapp(["15550001111"])
    assert found.lid == LID
    assert await account.lid_map.lid_for_pn(PN.user) == LID.user
    listing = await users.set_blocked(PN, True)  # by phone number: translated to the LID
    assert listing.jids == [LID]
    item = server.seen[-1].require_child("item")
    assert item.attrs == {"jid": LID, "action": "block", "pn_jid": PN}
    assert len(server.seen) == 2  # the LID came from the store, no second usync
    assert await users.is_on_whatsapp([]) == []
