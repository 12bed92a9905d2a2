"""Test your bot against a sandbox, offline: helpers and pytest fixtures.

Without pytest::

    from wamd.sandbox.testing import paired_client, running_sandbox

    async with running_sandbox() as sandbox:
        async with paired_client(sandbox, phone="15550001") as bot:
            ...                                   # bot is a connected wamd.Client

With pytest (and pytest-asyncio), enable the fixtures in your ``conftest.py``::

    pytest_plugins = ["wamd.sandbox.testing"]

    async def test_my_bot(wamd_sandbox, wamd_client_factory):
        bot = await wamd_client_factory("15550001")     # paired and connected
        other = await wamd_client_factory("15550002")
        ...

``wamd_sandbox`` is a running sandbox whose state lives in the test's temporary folder;
``wamd_client_factory(phone)`` pairs a new :class:`wamd.Client` (its store an SQLite file in
the same folder) with the account of ``phone`` through the sandbox's simulated phone, waits
until it is connected, and closes it at the end of the test.
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wamd.sandbox.server import Sandbox

if TYPE_CHECKING:
    from wamd.client import Client
    from wamd.conn.options import ServerInfo

__all__ = [
    "pair",
    "paired_client",
    "running_sandbox",
    "server_info",
    "wamd_client_factory",
    "wamd_sandbox",
]

PAIRING_TIMEOUT = 60.0


def server_info(sandbox: Sandbox) -> ServerInfo:
    """What a :class:`wamd.Client` needs to talk to ``sandbox`` (``Client(server=...)``): its
    URL, its certificate root and the CA of its HTTPS media host (when it runs one), so
    media work without further setup."""
    from wamd.conn.options import ServerInfo

    media_ca = sandbox.media.ca_file.read_text() if sandbox.media is not None else None
    return ServerInfo(url=sandbox.url, root_key=sandbox.root_public_key, media_ca=media_ca)


@contextlib.asynccontextmanager
async def running_sandbox(
    state_dir: Path | str | None = None, **options: Any
) -> AsyncIterator[Sandbox]:
    """A sandbox on a free loopback port (state in memory unless ``state_dir`` is given)."""
    options.setdefault("port", 0)
    async with Sandbox(state_dir, **options) as sandbox:
        yield sandbox


async def pair(
    sandbox: Sandbox, client: Client, phone: str, *, seconds: float = PAIRING_TIMEOUT
) -> None:
    """Connect an unpaired ``client`` and pair it with ``phone``'s account by QR (the sandbox's
    phone scans the first QR code); returns once the client is connected (logged in)."""
    import asyncio

    from wamd import events

    async def scan(event: events.QR) -> None:
        if event.index == 0:
            await sandbox.admin.scan_qr(event.text, phone=phone)

    registration = client.add_event_handler(events.QR, scan)
    try:
        await client.connect()
        async with asyncio.timeout(seconds):
            await client.wait_until_connected()
    finally:
        client.remove_event_handler(registration)


@contextlib.asynccontextmanager
async def paired_client(
    sandbox: Sandbox, phone: str, store: Any = None, **client_options: Any
) -> AsyncIterator[Client]:
    """A :class:`wamd.Client` paired with ``phone``'s account and connected; closed on exit.

    ``store`` is any store the client accepts (an in-memory store by default).
    """
    from wamd.client import Client
    from wamd.store import MemoryStore

    client = Client(
        MemoryStore() if store is None else store, server=server_info(sandbox), **client_options
    )
    try:
        await pair(sandbox, client, phone)
        yield client
    finally:
        await client.close()


# --- pytest fixtures (active with ``pytest_plugins = ["wamd.sandbox.testing"]``) -------------

try:
    import pytest
except ImportError:  # pragma: no cover - pytest is optional for the helpers above
    pass
else:

    @pytest.fixture
    async def wamd_sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
        """A running sandbox, its state in the test's temporary folder."""
        async with running_sandbox(tmp_path / "wamd-sandbox") as sandbox:
            yield sandbox

    @pytest.fixture
    async def wamd_client_factory(
        wamd_sandbox: Sandbox, tmp_path: Path
    ) -> AsyncIterator[Callable[[str], Awaitable[Client]]]:
        """``await factory(phone)``: a new wamd client paired with ``phone`` and connected."""
        from wamd.client import Client

        stack = contextlib.AsyncExitStack()
        numbers = itertools.count(1)

        async def factory(phone: str, **client_options: Any) -> Client:
            store = tmp_path / f"wamd-client-{next(numbers)}.sqlite"
            client = Client(store, server=server_info(wamd_sandbox), **client_options)
            stack.push_async_callback(client.close)
            await pair(wamd_sandbox, client, phone)
            return client

        async with stack:
            yield factory
