"""Fixtures for the media tests: a sandbox media host on loopback and clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from wamd import events
from wamd.binary import Node, decode_node, encode_node
from wamd.client import Client
from wamd.media.conn import MediaConn, MediaConnFetcher, parse_media_conn
from wamd.media.transfer import MediaClient, RetryPolicy
from wamd.sandbox import Sandbox
from wamd.sandbox.media_http import MediaServer
from wamd.sandbox.testing import server_info

FAST_RETRY = RetryPolicy(attempts=3, backoff=0.01, max_backoff=0.05, read_timeout=10)


class CountingFetcher:
    """A media_conn fetcher that goes through the real node codec and counts its calls."""

    def __init__(self, server: MediaServer, hostnames: list[str] | None = None) -> None:
        self.server = server
        self.hostnames = hostnames
        self.calls = 0

    async def __call__(self) -> MediaConn:
        self.calls += 1
        iq = Node("iq", {"type": "result"}, [self.server.media_conn_node(self.hostnames)])
        return parse_media_conn(decode_node(encode_node(iq)))


@pytest.fixture
async def media_server(tmp_path: Path) -> AsyncIterator[MediaServer]:
    async with MediaServer(tmp_path / "sandbox", https_ports=(0, 0), http_ports=(0,)) as server:
        yield server


@pytest.fixture
def fetcher(media_server: MediaServer) -> CountingFetcher:
    return CountingFetcher(media_server)


@pytest.fixture
async def media_client(
    media_server: MediaServer, fetcher: CountingFetcher
) -> AsyncIterator[MediaClient]:
    async with MediaClient(fetcher, ca_file=media_server.ca_file, retry=FAST_RETRY) as client:
        yield client


def client_for(
    server: MediaServer, hostnames: list[str] | None = None, **kwargs: Any
) -> MediaClient:
    fetch: MediaConnFetcher = CountingFetcher(server, hostnames)
    kwargs.setdefault("retry", FAST_RETRY)
    kwargs.setdefault("ca_file", server.ca_file)
    return MediaClient(fetch, **kwargs)


PairClient = Callable[[Path, str], Awaitable[Client]]


@pytest.fixture
async def sandbox(tmp_path: Path) -> AsyncIterator[Sandbox]:
    async with Sandbox(state_dir=tmp_path / "sandbox", port=0) as running:
        yield running


@pytest.fixture
async def pair_client(sandbox: Sandbox) -> AsyncIterator[PairClient]:
    """``await pair_client(store_path, phone)``: a wamd Client paired by QR with the sandbox
    account of ``phone``, connected (closed after the test)."""
    clients: list[Client] = []

    async def pair(store: Path, phone: str) -> Client:
        client = Client(store, server=server_info(sandbox))
        clients.append(client)

        @client.on(events.QR)
        async def scan(evt: events.QR) -> None:
            if evt.index == 0:
                await sandbox.admin.scan_qr(evt.text, phone=phone)

        await client.connect()
        await client.wait_until_connected(timeout=60)
        return client

    yield pair
    for client in clients:
        await client.close()
