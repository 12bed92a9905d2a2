"""Baileys (the real peer) and a wamd client exchange 1:1 text both ways through the sandbox:
the first message each way is a ``pkmsg`` (a session from a fetched bundle), the next ones
``msg``; each side sees the other's delivery receipts. The Baileys side is the shared driver
tests/interop/baileys_msg_peer.mjs (every other kind is covered by the messaging-kinds tests).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.interop.baileys_msg_peer import BaileysPeer
from tests.sandbox.routing_helpers import pair
from wamd.messaging import ReceiptType
from wamd.proto import e2e_pb2
from wamd.sandbox import Sandbox
from wamd.types import JID

pytestmark = pytest.mark.interop

BAILEYS_PHONE = "15550009"
WAMD_PHONE = "15550002"
DELIVERY_ACK = 3  # proto.WebMessageInfo.Status.DELIVERY_ACK


async def test_baileys_and_wamd_exchange_text(node_peers: Path, tmp_path: Path) -> None:
    async with Sandbox(state_dir=tmp_path / "sandbox", port=0) as sandbox:
        baileys = await BaileysPeer.paired(node_peers, sandbox, tmp_path / "auth", BAILEYS_PHONE)
        wamd = None
        try:
            wamd = await pair(sandbox, WAMD_PHONE)
            to_baileys = JID(BAILEYS_PHONE, "s.whatsapp.net")

            # wamd -> Baileys: the first is a pkmsg, the second a msg
            first = await wamd.client.send_message(
                to_baileys, e2e_pb2.Message(conversation="hello baileys")
            )
            second = await wamd.client.send_message(
                to_baileys, e2e_pb2.Message(conversation="second")
            )
            for sent, text in ((first, "hello baileys"), (second, "second")):
                got = await baileys.message(lambda e, i=sent.id: e["id"] == i)
                assert got["message"].get("conversation") == text, baileys.report()
                assert not got["fromMe"]
                assert JID.parse(got["remoteJid"]).user == WAMD_PHONE
            await wamd.wait(
                lambda: (
                    {first.id, second.id}
                    <= {
                        i
                        for r in wamd.receipts
                        for i in r.ids
                        if r.type in (ReceiptType.DELIVERED, ReceiptType.INACTIVE)
                    }
                )
            )

            # Baileys -> wamd. wamd is "active" (as after presence available): plain delivery
            # receipts, which Baileys reports as DELIVERY_ACK (it ignores "inactive" ones)
            wamd.client.messaging.receiver.active = True
            to_wamd = f"{WAMD_PHONE}@s.whatsapp.net"
            one = await baileys.command("send", to=to_wamd, content={"text": "hi from baileys"})
            two = await baileys.command("send", to=to_wamd, content={"text": "and again"})
            await wamd.wait(lambda: wamd.texts == ["hi from baileys", "and again"])
            assert [m.id for m in wamd.messages] == [one["id"], two["id"]]
            assert all(m.sender.user == BAILEYS_PHONE and not m.from_me for m in wamd.messages)
            update = await baileys.wait_for(
                lambda e: (
                    e["event"] == "update"
                    and e["id"] == one["id"]
                    and (e.get("update") or {}).get("status") == DELIVERY_ACK
                )
            )
            assert JID.parse(update["remoteJid"]).user == WAMD_PHONE
        finally:
            if wamd is not None:
                await wamd.client.close()
            await baileys.close()
