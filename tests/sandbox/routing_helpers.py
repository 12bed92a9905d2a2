"""wamd clients paired with an in-process sandbox, for the routing tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from wamd import events
from wamd.client import Client
from wamd.conn.options import ServerInfo
from wamd.messaging import Message, MessagingOptions, Receipt
from wamd.sandbox import Sandbox
from wamd.sandbox.testing import server_info
from wamd.store import MemoryStore, Store

TIMEOUT = 20.0


class Peer:
    """A paired, connected client and what it received."""

    def __init__(self, client: Client, phone: str) -> None:
        self.client = client
        self.phone = phone
        self.messages: list[Message] = []
        self.receipts: list[Receipt] = []
        self._changed = asyncio.Event()
        client.on(Message)(self._on_message)
        client.on(Receipt)(self._on_receipt)

    def _on_message(self, evt: Message) -> None:
        self.messages.append(evt)
        self._changed.set()

    def _on_receipt(self, evt: Receipt) -> None:
        self.receipts.append(evt)
        self._changed.set()

    @property
    def texts(self) -> list[str | None]:
        return [m.text for m in self.messages]

    async def wait(self, check: Callable[[], bool], timeout: float = TIMEOUT) -> None:  # noqa: ASYNC109
        async with asyncio.timeout(timeout):
            while not check():
                self._changed.clear()
                await self._changed.wait()


async def history_downloaded(sandbox: Sandbox, seconds: float = TIMEOUT) -> None:
    """Wait until a client has downloaded a blob from the sandbox's HTTPS media host (as the
    history sync after pairing does): a client without the host's CA never gets that far."""
    assert sandbox.media is not None
    https = set(sandbox.media.https_ports)
    for _ in range(int(seconds / 0.02)):
        log = sandbox.media.log
        if any(e.method == "GET" and e.status == 200 and e.port in https for e in log):
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"no download from the media host: {list(sandbox.media.log)}")


def server_of(sandbox: Sandbox) -> ServerInfo:
    """Where ``sandbox`` is, with its media host's CA (history sync downloads after pairing)."""
    return server_info(sandbox)


async def pair(
    sandbox: Sandbox,
    phone: str,
    store: Store | None = None,
    *,
    max_handlers: int = 64,
    **options: Any,
) -> Peer:
    """A new device of ``phone``'s account (created on first pairing), connected."""
    client = Client(
        store or MemoryStore(),
        server=server_of(sandbox),
        max_handlers=max_handlers,
        messaging=MessagingOptions(**options) if options else None,
    )
    peer = Peer(client, phone)
    scanned = asyncio.get_running_loop().create_future()

    @client.on(events.QR)
    async def scan(evt: events.QR) -> None:
        if not scanned.done():
            scanned.set_result(await sandbox.admin.scan_qr(evt.text, phone=phone))

    await client.connect()
    async with asyncio.timeout(TIMEOUT):
        await scanned
    await client.wait_until_connected(timeout=TIMEOUT)
    client.remove_event_handler(scan)
    return peer


async def reconnect(peer: Peer) -> None:
    """Connect a peer again after ``disconnect()``."""
    await peer.client.connect()
    await peer.client.wait_until_connected(timeout=TIMEOUT)
