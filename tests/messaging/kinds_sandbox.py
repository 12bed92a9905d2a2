"""Helpers of the message-kind tests that run wamd clients on an in-process sandbox."""

from __future__ import annotations

from pathlib import Path

from wamd.client import Client
from wamd.conn.options import ServerInfo
from wamd.events import QR
from wamd.sandbox import Sandbox
from wamd.store import MemoryStore, Store


async def paired_client(sandbox: Sandbox, phone: str, store: Store | Path | None = None,
                        **options: object) -> Client:
    """A client linked to ``phone``'s sandbox account (the sandbox phone scans its first QR
    code) and logged in."""
    server = ServerInfo(url=sandbox.url, root_key=sandbox.root_public_key)
    client = Client(store if store is not None else MemoryStore(), server=server,
                    **options)  # type: ignore[arg-type]

    async def scan(evt: QR) -> None:
        if evt.index == 0:
            await sandbox.admin.scan_qr(evt.text, phone=phone)

    registration = client.add_event_handler(QR, scan)
    await client.connect()
    try:
        await client.wait_until_connected(timeout=60)
    finally:
        client.remove_event_handler(registration)
    return client
