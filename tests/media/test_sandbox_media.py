"""Media through a whole sandbox: a paired wamd Client asks for media_conn over its connection
(the sandbox's ``w:m`` IQ handler) and moves media through the sandbox's media host."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from wamd import events
from wamd.client import Client
from wamd.conn.options import ServerInfo
from wamd.errors import MediaExpired
from wamd.media import MediaClient, MediaConn, MediaType, media_conn_fetcher
from wamd.sandbox import Sandbox

PHONE = "15550004242"


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(state_dir=tmp_path / "sandbox", port=0) as running:
        yield running


@pytest.fixture
async def client(sandbox: Sandbox, tmp_path: Path) -> AsyncIterator[Client]:
    server = ServerInfo(url=sandbox.url, root_key=sandbox.root_public_key)
    client = Client(tmp_path / "client.sqlite", server=server)

    @client.on(events.QR)
    async def scan(evt: events.QR) -> None:
        if evt.index == 0:
            await sandbox.admin.scan_qr(evt.text, phone=PHONE)

    await client.connect()
    await client.wait_until_connected(timeout=60)
    try:
        yield client
    finally:
        await client.close()


async def test_media_through_the_sandbox(sandbox: Sandbox, client: Client) -> None:
    media_host = sandbox.media
    assert media_host is not None
    assert media_host.ca_file.is_file()
    fetches = 0
    fetch_iq = media_conn_fetcher(client.request)

    async def counted() -> MediaConn:
        nonlocal fetches
        fetches += 1
        return await fetch_iq()

    async with MediaClient(counted, ca_file=media_host.ca_file) as media:
        data = os.urandom(200_000)
        up = await media.upload(data, MediaType.IMAGE)
        assert up.url.startswith(f"https://{media_host.https_hostnames[0]}/")
        assert await media.download(up.ref()) == data
        up2 = await media.upload(b"voice", MediaType.PTT)
        assert await media.download(up2.ref()) == b"voice"
        assert fetches == 1  # cached
        media_host.revoke_auths()
        up3 = await media.upload(b"after revocation", MediaType.DOCUMENT)
        assert fetches == 2  # the 401 made it ask the sandbox again
        assert await media.download(up3.ref()) == b"after revocation"
        media_host.expire(up.direct_path)
        with pytest.raises(MediaExpired):
            await media.download(up.ref())


async def test_media_host_follows_the_sandbox_lifecycle(tmp_path: Path) -> None:
    sandbox = Sandbox(state_dir=None, port=0)
    assert sandbox.media is None
    async with sandbox:
        host = sandbox.media
        assert host is not None
        ca = host.ca_file
        assert ca.is_file()
        node = host.media_conn_node()
        assert node.tag == "media_conn"
        assert node.children[0].attrs["hostname"] == host.https_hostnames[0]
    assert sandbox.media is None
    await asyncio.sleep(0)
    assert not ca.exists()  # in-memory sandboxes keep media in a temporary folder
