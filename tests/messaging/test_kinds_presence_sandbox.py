"""Presence and chat state through the sandbox between two wamd clients."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.messaging.collector import Collector
from wamd.messaging import Receipt, ReceiptType
from wamd.messaging.presence import ChatPresence, ChatState, Presence
from wamd.sandbox import Sandbox
from wamd.sandbox.testing import paired_client

pytestmark = pytest.mark.slow


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(state_dir=tmp_path / "sandbox", port=0) as running:
        yield running


async def test_presence_and_chatstate_are_routed(sandbox: Sandbox) -> None:
    async with (
        paired_client(sandbox, "15550001111") as alice,
        paired_client(sandbox, "15550002222") as bob,
    ):
        got: asyncio.Queue[Presence | ChatPresence] = asyncio.Queue()
        alice.add_event_handler(Presence, got.put_nowait)
        alice.add_event_handler(ChatPresence, got.put_nowait)
        assert bob.jid is not None
        assert bob.lid is not None
        bob_user = bob.jid.to_non_ad()
        await alice.subscribe_presence(bob_user)
        async with asyncio.timeout(10):
            first = await got.get()
        assert isinstance(first, Presence)
        assert (first.jid, first.available) == (bob_user, False)

        await bob.send_presence(True, name="Bob")
        async with asyncio.timeout(10):
            online = await got.get()
        assert isinstance(online, Presence)
        assert online.available

        assert alice.jid is not None
        await bob.send_chat_presence(alice.jid, ChatState.RECORDING)
        async with asyncio.timeout(10):
            typing = await got.get()
        assert isinstance(typing, ChatPresence)
        assert (typing.chat, typing.state) == (bob_user, ChatState.RECORDING)

        assert alice.lid is not None
        await bob.send_chat_presence(alice.lid, ChatState.PAUSED)
        async with asyncio.timeout(10):
            paused = await got.get()
        assert isinstance(paused, ChatPresence)
        assert (paused.chat, paused.state) == (bob.lid.to_non_ad(), ChatState.PAUSED)

        await bob.close()
        async with asyncio.timeout(10):
            gone = await got.get()
        assert isinstance(gone, Presence)
        assert not gone.available
        assert gone.last_seen is not None


async def test_delivery_receipts_say_inactive_until_we_announce_ourselves_online(
    sandbox: Sandbox,
) -> None:
    async with (
        paired_client(sandbox, "15550003331") as alice,
        paired_client(sandbox, "15550003332") as bob,
    ):
        at_alice = Collector(alice, Receipt)
        assert bob.jid is not None
        to = bob.jid.to_non_ad()
        before = await alice.send_text(to, "are you there?")
        first = await at_alice.get(Receipt, lambda r: before.id in r.ids)
        assert first.type == ReceiptType.INACTIVE
        await bob.send_presence(True, name="Bob")
        after = await alice.send_text(to, "and now?")
        second = await at_alice.get(Receipt, lambda r: after.id in r.ids)
        assert second.type == ReceiptType.DELIVERED
        await bob.send_presence(False, name="Bob")
        last = await alice.send_text(to, "gone?")
        third = await at_alice.get(Receipt, lambda r: last.id in r.ids)
        assert third.type == ReceiptType.INACTIVE
