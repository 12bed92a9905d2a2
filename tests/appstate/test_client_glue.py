"""AppStateClient: the engine wired to a client (notifications, login hook, actions)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

import pytest

from tests.appstate.harness import PHONE, Backend, share_key
from wamd.appstate import actions
from wamd.appstate import events as ev
from wamd.appstate.client import AppStateClient
from wamd.binary import Node
from wamd.errors import MediaError
from wamd.events import Event
from wamd.types import JID

CHAT = JID.parse("15559990000@s.whatsapp.net")


class FakeClient:
    """The ClientLike subset, backed by the in-memory server of the harness."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.sent: list[Node] = []
        self.events: list[Event] = []
        self.handlers: list[tuple[str, Callable[[Node], Awaitable[None]], Any]] = []
        self.hooks: list[Callable[[], Awaitable[None]]] = []
        self.tasks: list[asyncio.Task[Any]] = []

    async def request(self, node: Node, *, timeout: float | None = None) -> Node:  # noqa: ASYNC109
        outcome = await self.backend.server.handle(PHONE, node)
        return Node("iq", {"type": "result"}, [outcome.answer])

    async def send_node(self, node: Node) -> None:
        self.sent.append(node)

    async def dispatch(self, event: Event) -> None:
        self.events.append(event)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> Any:
        task = asyncio.ensure_future(coro)
        self.tasks.append(task)
        return task

    def add_node_handler(self, tag: str, handler: Any, match: Any = None) -> None:
        self.handlers.append((tag, handler, match))

    def add_login_hook(self, hook: Callable[[], Awaitable[None]]) -> None:
        self.hooks.append(hook)

    async def deliver(self, node: Node) -> None:
        for tag, handler, match in self.handlers:
            if tag == node.tag and (match is None or match(node)):
                await handler(node)
                return
        raise AssertionError(f"no handler for {node}")

    async def settle(self) -> None:
        while self.tasks:
            await self.tasks.pop(0)


async def test_login_notifications_and_actions() -> None:
    backend = Backend()
    writer, reader = await backend.device(), await backend.device()
    await share_key(writer, reader)
    client = FakeClient(backend)
    glue = AppStateClient(client, lambda: reader.account, download=backend.download)
    assert [tag for tag, _, _ in client.handlers] == ["notification"]
    await writer.push(actions.pin(CHAT))
    for hook in client.hooks:  # the client logged in
        await hook()
    await client.settle()
    pins = [e for e in client.events if isinstance(e, ev.Pin)]
    assert len(pins) == 1
    assert pins[0].full_sync
    # another device mutes: the server tells us
    await writer.push(actions.mute(CHAT))
    note = Node(
        "notification",
        {"type": "server_sync", "id": "N1", "from": JID.parse("15550001111@s.whatsapp.net")},
        [Node("collection", {"name": "regular_high", "version": "1"})],
    )
    await client.deliver(note)
    await client.settle()
    assert client.sent[-1].tag == "ack"
    assert client.sent[-1].attrs["id"] == "N1"
    assert client.sent[-1].attrs["class"] == "notification"
    mutes = [e for e in client.events if isinstance(e, ev.Mute)]
    assert len(mutes) == 1
    # our own action
    client.events.clear()
    await glue.archive(CHAT)
    assert [type(e) for e in client.events] == [ev.Archive, ev.Pin]


async def test_blob_without_downloader_is_a_logged_failure() -> None:
    backend = Backend()
    writer, reader = await backend.device(), await backend.device()
    await share_key(writer, reader)
    await writer.push(actions.pin(CHAT))
    client = FakeClient(backend)
    glue = AppStateClient(client, lambda: reader.account, sync_on_login=False)
    assert client.hooks == []
    with pytest.raises(MediaError):  # the snapshot needs a download
        await glue.engine.sync_collection("regular_low")
    await glue.sync()  # one failing collection does not stop the others
    assert isinstance(glue.engine.failures["regular_low"], MediaError)
    assert set(glue.engine.failures) == {"regular_low"}
