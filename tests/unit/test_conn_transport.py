"""The aiohttp WebSocket transport over real loopback sockets: Origin, HTTP and SOCKS5 proxies.

A small aiohttp server bridges each WebSocket to the in-memory fake server's session, so the
whole client stack (transport, Noise, codec, manager, pairing) runs over 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator

import pytest
from aiohttp import WSMsgType, web

from tests.unit.conn_fakes import FakeServer, FakeSession
from wamd import events
from wamd.client import Client
from wamd.conn.options import ServerInfo
from wamd.conn.transport import TransportClosed, WebSocketTransport
from wamd.store import MemoryStore


class ServerWebSocketEnd:
    """Adapts an aiohttp server-side WebSocket to the fake session's pipe interface."""

    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.closed = False

    async def send(self, data: bytes) -> None:
        if self.closed or self.ws.closed:
            raise TransportClosed("closed")
        await self.ws.send_bytes(data)

    async def receive(self) -> bytes:
        msg = await self.ws.receive()
        if msg.type is WSMsgType.BINARY:
            return bytes(msg.data)
        self.closed = True
        raise TransportClosed("closed")

    async def close(self) -> None:
        if not self.closed:
            self.closed = True
            await self.ws.close()


class LoopbackServer:
    def __init__(self) -> None:
        self.fake = FakeServer()
        self.origins: list[str | None] = []
        self.runner: web.AppRunner | None = None
        self.port = 0

    async def handler(self, request: web.Request) -> web.WebSocketResponse:
        self.origins.append(request.headers.get("Origin"))
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        session = FakeSession(self.fake, ServerWebSocketEnd(ws))  # type: ignore[arg-type]
        self.fake.sessions.append(session)
        await session.run()
        return ws

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/ws/chat", self.handler)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        assert site._server is not None
        sockets = site._server.sockets  # type: ignore[attr-defined]
        self.port = sockets[0].getsockname()[1]

    @property
    def info(self) -> ServerInfo:
        return ServerInfo(url=f"ws://127.0.0.1:{self.port}/ws/chat", root_key=self.fake.root.public)

    async def stop(self) -> None:
        await self.fake.close()
        if self.runner is not None:
            await self.runner.cleanup()


@pytest.fixture
async def loopback() -> AsyncIterator[LoopbackServer]:
    server = LoopbackServer()
    await server.start()
    yield server
    await server.stop()


async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()


class Proxy:
    """A minimal HTTP (forward and CONNECT) or SOCKS5 proxy on 127.0.0.1, counting its clients."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.used = 0
        self.targets: list[tuple[str, int]] = []
        self.server: asyncio.Server | None = None
        self.port = 0
        self.tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.server = await asyncio.start_server(self.handle, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.used += 1
        if self.kind == "socks5":
            await self.socks5(reader, writer)
        else:
            await self.http(reader, writer)

    async def http(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        line, _, rest = head.partition(b"\r\n")
        method, target, version = line.decode().split(" ")
        if method == "CONNECT":
            host, port = target.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        else:  # forward proxy: absolute URI -> origin form
            without_scheme = target.split("://", 1)[1]
            hostport, _, path = without_scheme.partition("/")
            host, port = hostport.rsplit(":", 1)
            up_reader, up_writer = await asyncio.open_connection(host, int(port))
            up_writer.write(f"{method} /{path} {version}\r\n".encode() + rest)
        self.targets.append((host, int(port)))
        await self.relay(reader, writer, up_reader, up_writer)

    async def socks5(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        version, count = await reader.readexactly(2)
        await reader.readexactly(count)
        assert version == 5
        writer.write(b"\x05\x00")
        _, command, _, atyp = await reader.readexactly(4)
        assert command == 1
        if atyp == 1:
            host = socket.inet_ntoa(await reader.readexactly(4))
        elif atyp == 3:
            host = (await reader.readexactly((await reader.readexactly(1))[0])).decode()
        else:
            raise AssertionError("unexpected address type")
        (port,) = struct.unpack(">H", await reader.readexactly(2))
        up_reader, up_writer = await asyncio.open_connection(host, port)
        self.targets.append((host, port))
        writer.write(b"\x05\x00\x00\x01" + bytes(4) + b"\x00\x00")
        await self.relay(reader, writer, up_reader, up_writer)

    async def relay(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        up_reader: asyncio.StreamReader,
        up_writer: asyncio.StreamWriter,
    ) -> None:
        await writer.drain()
        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()


async def pair_and_connect(client: Client, fake: FakeServer) -> None:
    qr_task = asyncio.create_task(client.wait_for(events.QR, timeout=10))
    await client.connect()
    await fake.scan((await qr_task).text)
    await client.wait_until_connected(timeout=10)


async def test_full_stack_over_a_loopback_websocket(loopback: LoopbackServer) -> None:
    client = Client(MemoryStore(), server=loopback.info)
    await pair_and_connect(client, loopback.fake)
    assert client.is_connected
    assert loopback.origins == ["https://web.whatsapp.com"] * 2
    await client.close()


@pytest.mark.parametrize("kind", ["http", "socks5"])
async def test_connecting_through_a_proxy(loopback: LoopbackServer, kind: str) -> None:
    proxy = Proxy(kind)
    await proxy.start()
    try:
        client = Client(
            MemoryStore(), server=loopback.info, proxy=f"{kind}://127.0.0.1:{proxy.port}"
        )
        await pair_and_connect(client, loopback.fake)
        assert proxy.used == 2  # the registration connection and the login after 515
        assert proxy.targets[0] == ("127.0.0.1", loopback.port)
        await client.close()
    finally:
        await proxy.stop()


async def test_transport_rejects_unknown_proxy_schemes() -> None:
    with pytest.raises(ValueError, match="proxy"):
        await WebSocketTransport.open("ws://127.0.0.1:9/ws", proxy="ftp://x")


async def test_transport_errors_are_typed(loopback: LoopbackServer) -> None:
    transport = await WebSocketTransport.open(loopback.info.url)
    await transport.close()
    await transport.close()  # idempotent
    with pytest.raises(TransportClosed):
        await transport.send(b"x")
    with pytest.raises(TransportClosed):
        await transport.receive()


async def test_connection_refused_raises_oserror() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(OSError):  # noqa: PT011 - nothing listens there
        await WebSocketTransport.open(f"ws://127.0.0.1:{port}/ws/chat", connect_timeout=5)
