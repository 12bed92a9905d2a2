"""The byte pipe under the Noise connection: a WebSocket (aiohttp), optionally via a proxy.

:class:`Transport` is what the driver needs (send bytes, receive the next WebSocket message,
close); :class:`WebSocketTransport` implements it with aiohttp, with the ``Origin`` header
WhatsApp expects and an optional HTTP(S) or SOCKS4/5 proxy (``aiohttp-socks``). Tests can inject
any other implementation.
"""

from __future__ import annotations

import asyncio
from typing import Protocol

import aiohttp
from aiohttp_socks import ProxyConnector

from wamd.errors import NotConnected

__all__ = ["DEFAULT_ORIGIN", "Transport", "TransportClosed", "WebSocketTransport"]

DEFAULT_ORIGIN = "https://web.whatsapp.com"
MAX_MESSAGE_SIZE = 32 * 1024 * 1024
"""Largest WebSocket message accepted (a frame is < 16 MiB; a message may pack several)."""

_SOCKS_SCHEMES = ("socks4://", "socks4a://", "socks5://", "socks5h://")
_BINARY = aiohttp.WSMsgType.BINARY
_TEXT = aiohttp.WSMsgType.TEXT
_ENDS = (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED)
_PIPE_ERRORS = (ConnectionError, aiohttp.ClientError, RuntimeError)


class TransportClosed(NotConnected):
    """The WebSocket was closed (by either side) or failed."""


class Transport(Protocol):
    """A message-oriented byte pipe to the server."""

    async def send(self, data: bytes) -> None:
        """Send ``data`` as one binary message; raises :class:`TransportClosed` if closed."""
        ...

    async def receive(self) -> bytes:
        """The next binary message; raises :class:`TransportClosed` when the pipe ends."""
        ...

    async def close(self) -> None:
        """Close the pipe (idempotent)."""
        ...


class WebSocketTransport:
    """A :class:`Transport` over an aiohttp WebSocket client connection."""

    def __init__(self, session: aiohttp.ClientSession, ws: aiohttp.ClientWebSocketResponse) -> None:
        self._session = session
        self._ws = ws
        self._closed = False

    def __repr__(self) -> str:
        return f"WebSocketTransport(closed={self._closed})"

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        proxy: str | None = None,
        origin: str = DEFAULT_ORIGIN,
        headers: dict[str, str] | None = None,
        connect_timeout: float = 20.0,
    ) -> WebSocketTransport:
        """Open a WebSocket to ``url``.

        ``proxy``: ``http://[user:pass@]host:port`` (HTTP CONNECT) or ``socks5://...`` /
        ``socks4://...``. Network failures raise :class:`OSError` or
        :class:`aiohttp.ClientError` subclasses; a timeout raises :class:`TimeoutError`.
        """
        connector: aiohttp.BaseConnector | None = None
        http_proxy: str | None = None
        if proxy:
            if proxy.lower().startswith(_SOCKS_SCHEMES):
                connector = ProxyConnector.from_url(proxy)
            elif proxy.lower().startswith(("http://", "https://")):
                http_proxy = proxy
            else:
                raise ValueError(f"unsupported proxy scheme in {proxy!r}")
        session = aiohttp.ClientSession(connector=connector)
        try:
            ws = await asyncio.wait_for(
                session.ws_connect(
                    url,
                    origin=origin,
                    headers=headers,
                    proxy=http_proxy,
                    timeout=aiohttp.ClientWSTimeout(ws_close=5.0),
                    max_msg_size=MAX_MESSAGE_SIZE,
                    autoping=True,
                    compress=0,
                ),
                connect_timeout,
            )
        except BaseException:
            await session.close()
            raise
        return cls(session, ws)

    async def send(self, data: bytes) -> None:
        if self._closed or self._ws.closed:
            raise TransportClosed("websocket is closed")
        try:
            await self._ws.send_bytes(data)
        except _PIPE_ERRORS as exc:
            raise TransportClosed(f"websocket send failed: {exc}") from exc

    async def receive(self) -> bytes:
        while True:
            if self._closed:
                raise TransportClosed("websocket is closed")
            try:
                msg = await self._ws.receive()
            except _PIPE_ERRORS as exc:
                raise TransportClosed(f"websocket receive failed: {exc}") from exc
            kind = msg.type
            if kind is _BINARY:
                data = msg.data
                assert isinstance(data, bytes)
                return data
            if kind is _TEXT:
                text = msg.data
                assert isinstance(text, str)
                return text.encode()
            if kind in _ENDS:
                code = self._ws.close_code
                raise TransportClosed(f"websocket closed by the server (code {code})")
            if kind is aiohttp.WSMsgType.ERROR:
                raise TransportClosed(f"websocket error: {self._ws.exception()}")
            # PING/PONG are handled by aiohttp (autoping); anything else is skipped.

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            await asyncio.wait_for(self._ws.close(), 5.0)
        except (TimeoutError, ConnectionError, aiohttp.ClientError, RuntimeError):
            pass
        finally:
            await self._session.close()
