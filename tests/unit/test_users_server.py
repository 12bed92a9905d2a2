"""The users server core answering wamd's own users client, in memory."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TypeVar

import pytest

from tests.store.conftest import make_credentials
from wamd.binary import Node, decode_node, encode_node
from wamd.errors import IQError
from wamd.store import MemoryStore
from wamd.types import JID
from wamd.users import queries as q
from wamd.users.client import UsersClient
from wamd.users.server import UserRequestError, UsersServer, schema

T = TypeVar("T")
PHONE = "15550001111"
LID = JID.parse("777@lid")
PN = JID.parse("15550002222@s.whatsapp.net")


class Wire:
    def __init__(self) -> None:
        self.db = sqlite3.connect(":memory:")
        schema(self.db)
        self.server = UsersServer(self.run)
        self.changes: list[object] = []

    async def run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        result = fn(self.db)
        self.db.commit()
        return result

    async def request(self, node: Node, *, timeout: float | None = None) -> Node:  # noqa: ASYNC109
        iq = decode_node(encode_node(node))
        xmlns = iq.attrs["xmlns"]
        try:
            if xmlns == "privacy":
                content = await self.server.handle_privacy(PHONE, iq)
            elif xmlns == "blocklist":
                content, change = await self.server.handle_blocklist(PHONE, iq)
                self.changes.append(change)
            elif xmlns == "status":
                content = await self.server.handle_status(PHONE, iq, now=5)
            else:
                raise AssertionError(xmlns)
        except UserRequestError as exc:
            raise IQError(exc.code, exc.text) from None
        return decode_node(
            encode_node(Node("iq", {"type": "result"}, [content] if content else None))
        )


async def test_privacy_blocklist_status_round_trip() -> None:
    wire = Wire()
    account = await MemoryStore().new_account(make_credentials())
    await account.lid_map.put_many([(LID.user, PN.user)])
    users = UsersClient(wire, account)
    settings = await users.privacy()
    assert settings["last"] == "all"
    await users.set_privacy(q.PrivacyCategory.LAST_SEEN, q.PrivacyValue.CONTACTS)
    assert (await users.privacy())["last"] == "contacts"
    bad = Node(
        "iq",
        {"xmlns": "privacy", "type": "set"},
        [Node("privacy", {}, [Node("category", {"name": "readreceipts", "value": "contacts"})])],
    )
    with pytest.raises(IQError) as info:
        await wire.request(bad)
    assert info.value.code == 400

    assert (await users.blocklist()).jids == []
    listing = await users.set_blocked(PN, True)
    assert listing.jids == [LID]
    assert wire.changes[-1] is not None
    assert (await users.blocklist()).jids == [LID]
    assert (await users.set_blocked(LID, False)).jids == []

    await users.set_status("on holiday")
    assert await wire.server.status(PHONE) == ("on holiday", 5)
    with pytest.raises(IQError) as info:
        await users.set_status("x" * 200)
    assert info.value.code == 406
