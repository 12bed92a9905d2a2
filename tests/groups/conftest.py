"""Fixtures and helpers of the group tests: wamd clients paired with an in-process sandbox
that record what they receive (messages, receipts, group events)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.sandbox.routing_helpers import pair as routing_pair
from wamd.client import Client
from wamd.groups import GroupInfoChanged, JoinedGroup
from wamd.messaging import Message, Receipt
from wamd.proto import e2e_pb2
from wamd.sandbox import Sandbox
from wamd.types import JID

TIMEOUT = 20.0


class Member:
    """A paired, connected device and what it received."""

    def __init__(self, client: Client, phone: str) -> None:
        self.client = client
        self.phone = phone
        self.messages: list[Message] = []
        self.joined: list[JoinedGroup] = []
        self.changes: list[GroupInfoChanged] = []
        self.receipts: list[Receipt] = []
        self._changed = asyncio.Event()
        client.on(Message)(self._record(self.messages))
        client.on(JoinedGroup)(self._record(self.joined))
        client.on(GroupInfoChanged)(self._record(self.changes))
        client.on(Receipt)(self._record(self.receipts))

    def _record(self, into: list[Any]) -> Callable[[Any], None]:
        def record(evt: Any) -> None:
            into.append(evt)
            self._changed.set()

        return record

    def __repr__(self) -> str:
        return f"Member({self.client.jid})"

    @property
    def pn(self) -> JID:
        return JID(self.phone, "s.whatsapp.net")

    @property
    def lid(self) -> JID:
        lid = self.client.lid
        assert lid is not None
        return lid.to_non_ad()

    def texts(self, chat: JID | None = None) -> list[str | None]:
        return [m.text for m in self.messages if chat is None or m.chat == chat]

    async def wait(self, check: Callable[[], bool], timeout: float = TIMEOUT) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not check():
                self._changed.clear()
                await self._changed.wait()

    async def change(self, check: Callable[[GroupInfoChanged], bool]) -> GroupInfoChanged:
        await self.wait(lambda: any(check(c) for c in self.changes))
        return next(c for c in self.changes if check(c))


def text(value: str) -> e2e_pb2.Message:
    return e2e_pb2.Message(conversation=value)


async def pair(sandbox: Sandbox, phone: str) -> Member:
    """A new device of ``phone``'s account (created on first pairing), connected."""
    peer = await routing_pair(sandbox, phone)
    return Member(peer.client, phone)


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    """A running sandbox with its state in a temporary folder."""
    async with Sandbox(state_dir=tmp_path / "sandbox", port=0) as running:
        yield running
