"""Users end to end, through the ``Client`` facade: a wamd client paired with the sandbox asks
for and changes its privacy settings, blocklist and status; is-on-WhatsApp and user info fill
its LID map."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from wamd.binary import Node
from wamd.client import Client
from wamd.errors import IQError
from wamd.sandbox import Sandbox
from wamd.sandbox.testing import pair, running_sandbox, server_info
from wamd.sandbox.users import server_of
from wamd.store import MemoryStore
from wamd.types import JID, SERVER_JID
from wamd.users import queries as q

PHONE = "15556660000"
OTHER = "15556661111"


@pytest.fixture
async def sandbox() -> AsyncIterator[Sandbox]:
    async with running_sandbox() as box:
        yield box


async def test_users_against_the_sandbox(sandbox: Sandbox) -> None:
    other = await sandbox.admin.create_account(OTHER)
    client = Client(MemoryStore(), server=server_info(sandbox))
    await pair(sandbox, client, PHONE)
    try:
        found = {r.query: r for r in await client.is_on_whatsapp([OTHER, "15550000009"])}
        assert found[OTHER].registered
        assert found[OTHER].jid == JID(OTHER, "s.whatsapp.net")
        assert found["15550000009"].registered is False
        info = await client.get_user_info([JID(OTHER, "s.whatsapp.net")])
        lid = info[JID(OTHER, "s.whatsapp.net")].lid
        assert lid == JID(other.lid, "lid")
        assert await client.device.account.lid_map.lid_for_pn(OTHER) == other.lid

        assert (await client.get_privacy())["last"] == "all"
        await client.set_privacy(q.PrivacyCategory.LAST_SEEN, q.PrivacyValue.NONE)
        assert (await client.get_privacy())["last"] == "none"
        invalid = Node("category", {"name": "online", "value": "none"})  # online: all|match
        with pytest.raises(IQError) as bad:
            await client.request(
                Node(
                    "iq",
                    {"xmlns": "privacy", "type": "set", "to": SERVER_JID},
                    [Node("privacy", {}, [invalid])],
                )
            )
        assert bad.value.code == 400

        blocked = await client.block(JID(OTHER, "s.whatsapp.net"))
        assert blocked.jids == [lid]
        assert (await client.get_blocklist()).jids == [lid]
        assert (await client.unblock(JID(OTHER, "s.whatsapp.net"))).jids == []
        assert await client.get_business_profile(JID(OTHER, "s.whatsapp.net")) is None

        await client.set_status("at the sandbox")
        assert (await server_of(sandbox).status(PHONE))[0] == "at the sandbox"
    finally:
        await client.close()
