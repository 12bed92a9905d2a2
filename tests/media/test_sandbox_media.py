"""Media through a whole sandbox: a paired wamd Client asks for media_conn over its connection
(the sandbox's ``w:m`` IQ handler) and moves media through the sandbox's media host."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest

from tests.sandbox.routing_helpers import history_downloaded
from wamd.client import Client
from wamd.errors import MediaExpired, MediaRetryError
from wamd.media import MediaClient, MediaConn, MediaType, media_conn_fetcher, media_message
from wamd.media.retry import NOT_ON_PHONE, RetryTarget
from wamd.media.reupload import download_or_reupload
from wamd.sandbox import Sandbox
from wamd.sandbox.media import phone_media_of
from wamd.types import JID

if TYPE_CHECKING:
    from tests.media.conftest import PairClient

PHONE = "15550004242"


@pytest.fixture
async def client(pair_client: PairClient, tmp_path: Path) -> Client:
    return await pair_client(tmp_path / "client.sqlite", PHONE)


async def test_paired_clients_download_their_history(sandbox: Sandbox, client: Client) -> None:
    """``pair_client`` gives the client the media host's CA (``server_info(sandbox)``)."""
    await history_downloaded(sandbox)


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


async def test_admin_http_controls_the_media_host(sandbox: Sandbox) -> None:
    host = sandbox.media
    assert host is not None
    async with aiohttp.ClientSession() as http:

        async def call(method: str, name: str, body: object = None) -> tuple[int, object]:
            url = f"{sandbox.admin_url}/{name}"
            async with http.request(method, url, json=body) as resp:
                return resp.status, await resp.json()

        status, info = await call("GET", "media")
        assert status == 200
        assert info == {
            "https": host.https_hostnames,
            "http": host.http_hostnames,
            "ca_file": str(host.ca_file),
            "ca_pem": host.ca_file.read_text(),
        }
        assert await call("POST", "media_fault", {"status": 503, "method": "POST", "count": 2}) == (
            200,
            {"ok": True},
        )
        assert host.faults[-1].status == 503
        assert host.faults[-1].count == 2
        status, error = await call("POST", "media_fault", {"nope": 1})
        assert status == 400
        assert error == {"error": "bad fault field 'nope'"}
        status, _ = await call("POST", "media_fault", {"count": True})
        assert status == 400
        assert await call("POST", "media_revoke_auths") == (200, {"ok": True})
        assert await call("POST", "media_expire", {}) == (200, {"expired": 0})
        status, _ = await call("POST", "media_expire", {"direct_path": 5})
        assert status == 400
        status, _ = await call("POST", "media_expire", [1])
        assert status == 400


async def test_media_retry_through_the_sandbox(sandbox: Sandbox, client: Client) -> None:
    """Expired media -> retry receipt -> the simulated phone re-uploads -> download works."""
    host = sandbox.media
    assert host is not None
    chat = JID.parse("15550009999@s.whatsapp.net")
    reuploader = client.media_service.reuploader  # the client's own (one per client)
    async with MediaClient(media_conn_fetcher(client.request), ca_file=host.ca_file) as media:
        data = os.urandom(50_000)
        up = await media.upload(data, MediaType.VIDEO)
        message = media_message(up)
        phone_media_of(sandbox).remember(PHONE, "3EB0RETRY1", up.media_key, up.direct_path)
        host.expire(up.direct_path)
        with pytest.raises(MediaExpired):
            await media.download(message)
        target = RetryTarget("3EB0RETRY1", chat, from_me=True)
        got, fresh = await download_or_reupload(media, reuploader, message, target)
        assert got == data
        assert fresh.direct_path != up.direct_path
        assert await media.download(fresh) == data
        # media the phone never had: it says so (code 2)
        other = await media.upload(b"unknown to the phone", MediaType.IMAGE)
        host.expire(other.direct_path)
        with pytest.raises(MediaRetryError) as info:
            await download_or_reupload(
                media, reuploader, media_message(other), RetryTarget("3EB0NONE", chat, True)
            )
        assert info.value.code == NOT_ON_PHONE
        # a request encrypted with another key is ignored by the phone: no answer
        phone_media_of(sandbox).remember(PHONE, "3EB0WRONG", up.media_key, fresh.direct_path)
        with pytest.raises(MediaRetryError, match="did not answer"):
            await reuploader.request(RetryTarget("3EB0WRONG", chat, True), bytes(32), timeout=1)
