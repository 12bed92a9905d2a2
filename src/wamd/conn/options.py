"""Where to connect and how: :class:`ServerInfo` and :class:`ConnectOptions`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from wamd.conn.keepalive import KeepAliveConfig
from wamd.conn.payload import DEFAULT_APP_VERSION, AppVersion, DeviceInfo
from wamd.conn.reconnect import ReconnectPolicy
from wamd.conn.transport import DEFAULT_ORIGIN, Transport, WebSocketTransport
from wamd.noise import PRODUCTION_ROOT_PUBLIC_KEY

__all__ = ["PRODUCTION", "ConnectOptions", "ServerInfo", "TransportFactory"]


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """A WhatsApp-compatible server: its WebSocket URL and the root key its certificates chain to.

    The default is WhatsApp's production server. A sandbox gives its own (``ws://127.0.0.1:
    PORT/ws/chat`` and its generated root key). ``media_ca`` is the PEM text of an extra
    certificate authority trusted for the media hosts (a sandbox's generated one; WhatsApp's
    hosts need none).
    """

    url: str = "wss://web.whatsapp.com/ws/chat"
    root_key: bytes = field(default=PRODUCTION_ROOT_PUBLIC_KEY)
    origin: str = DEFAULT_ORIGIN
    media_ca: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if len(self.root_key) != 32:
            raise ValueError("root_key must be a 32-byte public key")
        if not self.url.startswith(("ws://", "wss://")):
            raise ValueError("url must be a ws:// or wss:// URL")

    def __repr__(self) -> str:
        return f"ServerInfo(url={self.url!r}, root_key={self.root_key.hex()[:16]}...)"


PRODUCTION = ServerInfo()

TransportFactory = Callable[["ServerInfo", "ConnectOptions"], Awaitable[Transport]]
"""``factory(server, options) -> Transport``: opens the byte pipe (tests inject their own)."""


async def open_websocket(server: ServerInfo, options: ConnectOptions) -> Transport:
    """The default :data:`TransportFactory`: an aiohttp WebSocket, through the proxy if any."""
    return await WebSocketTransport.open(
        server.url,
        proxy=options.proxy,
        origin=server.origin,
        connect_timeout=options.connect_timeout,
    )


@dataclass(frozen=True, slots=True)
class ConnectOptions:
    """Every connection knob, with defaults that suit production.

    ``proxy``: ``http://host:port`` or ``socks5://user:pass@host:port``.
    ``app_version``: the WhatsApp Web version announced (raise it on ``ClientOutdated``).
    ``iq_timeout``: default seconds to wait for an IQ answer.
    ``lease_wait``: seconds to wait for another process to release the account (0: fail at
    once with :class:`~wamd.errors.LeaseHeld`, None: wait forever).
    ``qr_timeouts``: how long the first and each later QR code is shown.
    """

    server: ServerInfo = PRODUCTION
    proxy: str | None = None
    app_version: AppVersion = DEFAULT_APP_VERSION
    device: DeviceInfo = field(default_factory=DeviceInfo)
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    keepalive: KeepAliveConfig = field(default_factory=KeepAliveConfig)
    connect_timeout: float = 20.0
    handshake_timeout: float = 20.0
    iq_timeout: float = 60.0
    lease_wait: float | None = 0.0
    qr_timeouts: tuple[float, float] = (60.0, 20.0)
    transport_factory: TransportFactory = field(default=open_websocket, compare=False)

    def __repr__(self) -> str:
        proxy = "set" if self.proxy else None
        return (
            f"ConnectOptions(server={self.server!r}, proxy={proxy}, app_version={self.app_version})"
        )
