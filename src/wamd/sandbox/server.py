"""The sandbox server: an aiohttp application speaking WhatsApp's protocol in the server role.

::

    async with Sandbox(state_dir=tmp_path, port=0) as sb:
        print(sb.url, sb.admin_url, sb.root_public_key.hex())
        jid = await sb.admin.scan_qr(qr_text, phone="15550001")

The WebSocket endpoint is ``/ws/chat``; the admin HTTP API lives under ``/admin``. State
(server keys, accounts, devices, prekeys, ...) is kept in ``<state_dir>/sandbox.sqlite3``.

Area modules extend the server: each is a module with an ``install(sandbox)`` function that
registers IQ and stanza handlers and hooks on :attr:`Sandbox.router`, schema migrations on
:attr:`Sandbox.state`, and HTTP routes on :attr:`Sandbox.app` (see docs/sandbox.md). The
default list is :data:`DEFAULT_MODULES`.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from wamd.noise.framing import MAX_FRAME_SIZE
from wamd.sandbox.admin import SandboxAdmin
from wamd.sandbox.identity import ServerIdentity
from wamd.sandbox.login import Login
from wamd.sandbox.media_http import MediaServer
from wamd.sandbox.pairing import Pairing
from wamd.sandbox.router import Router
from wamd.sandbox.session import Session, SessionState
from wamd.sandbox.state import STATE_FILE, SandboxState
from wamd.types import JID, LID_SERVER, USER_SERVER

log = logging.getLogger("wamd.sandbox")

DEFAULT_MODULES: tuple[str, ...] = (
    "wamd.sandbox.upkeep",
    "wamd.sandbox.prekeys",
    "wamd.sandbox.usync",
    "wamd.sandbox.messaging",
    "wamd.sandbox.presence",
    "wamd.sandbox.media",
    "wamd.sandbox.appstate",
    "wamd.sandbox.users",
    "wamd.sandbox.groups",
    "wamd.sandbox.phone_reader",
    "wamd.sandbox.phone_peer",
)
"""Area modules installed by default (each exposes ``install(sandbox)``)."""

WEBSOCKET_PATH = "/ws/chat"
ADMIN_PATH = "/admin"

Hook = Callable[[], Any]


class Sandbox:
    """A local WhatsApp-compatible server (see the module docstring).

    ``state_dir=None`` keeps the state in memory (nothing survives :meth:`stop`). ``port=0``
    picks a free port (read it back from :attr:`port` / :attr:`url` after :meth:`start`).
    ``clock`` returns Unix seconds (tests may shift time). ``edge_routing=True`` hands clients
    routing info after login, as WhatsApp does, so that their next intro carries it.
    ``max_connections`` bounds the open WebSocket connections (more are refused with HTTP 503
    before the upgrade); ``idle_timeout`` closes a connection that sent nothing for that many
    seconds after its handshake (``None``: never; clients that ping every 20-30 s, as wamd
    and Baileys do, stay connected with any value above that).
    """

    def __init__(
        self,
        state_dir: Path | str | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        modules: Sequence[str] = DEFAULT_MODULES,
        clock: Callable[[], float] = time.time,
        edge_routing: bool = False,
        max_connections: int = 4096,
        idle_timeout: float | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        if idle_timeout is not None and idle_timeout <= 0:
            raise ValueError("idle_timeout must be positive (or None)")
        self.host = host
        self.port = port
        self.clock = clock
        self.edge_routing = edge_routing
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.refused_connections = 0
        """Connections refused because ``max_connections`` were open."""
        """Send ``<ib><edge_routing>`` after each login (clients echo it in their next intro)."""
        self.state_dir = None if state_dir is None else Path(state_dir)
        path = ":memory:" if self.state_dir is None else self.state_dir / STATE_FILE
        self.state = SandboxState(path)
        self.router = Router()
        self.login = Login(self)
        self.pairing = Pairing(self)
        self.admin = SandboxAdmin(self)
        self.app = web.Application()
        self.app.router.add_get(WEBSOCKET_PATH, self._websocket)
        self.app.router.add_get("/", self._websocket)
        self.admin.add_routes(self.app, ADMIN_PATH)
        self.startup_hooks: list[Callable[[], Any]] = []
        """Async callables run by :meth:`start` after the state is open (modules' setup)."""
        self.shutdown_hooks: list[Callable[[], Any]] = []
        """Async callables run by :meth:`stop` before the state closes."""
        self.media: MediaServer | None = None
        """The media host (``wamd.sandbox.media``), while the sandbox runs."""
        self.sessions: dict[JID, Session] = {}
        """Logged-in sessions by phone-number device JID."""
        self._connections: set[Session] = set()
        self._identity: ServerIdentity | None = None
        self._runner: web.AppRunner | None = None
        self.modules = tuple(modules)
        for name in self.modules:
            importlib.import_module(name).install(self)

    def __repr__(self) -> str:
        return f"Sandbox(url={self.url if self._runner else None!r})"

    # --- lifecycle ----------------------------------------------------------------------------

    @property
    def identity(self) -> ServerIdentity:
        """The server's keys and certificate chain (available once started)."""
        if self._identity is None:
            raise RuntimeError("the sandbox is not started")
        return self._identity

    @property
    def root_public_key(self) -> bytes:
        """The certificate root clients must pin to trust this sandbox."""
        return self.identity.root_public_key

    @property
    def url(self) -> str:
        """The WebSocket URL clients connect to."""
        return f"ws://{self._url_host}:{self.port}{WEBSOCKET_PATH}"

    @property
    def admin_url(self) -> str:
        """The base URL of the admin HTTP API."""
        return f"http://{self._url_host}:{self.port}{ADMIN_PATH}"

    @property
    def _url_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    async def start(self) -> None:
        """Open the state, load (or create) the server keys, and start listening."""
        await self.state.open()
        self._identity = await ServerIdentity.load_or_create(self.state)
        for hook in self.startup_hooks:
            await hook()
        runner = web.AppRunner(
            self.app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        site = web.TCPSite(runner, self.host, self.port)
        await site.start()
        self._runner = runner
        if self.port == 0:
            self.port = int(runner.addresses[0][1])
        log.info("sandbox listening on %s", self.url)

    async def stop(self) -> None:
        """Close every connection and stop listening; the state is flushed and closed."""
        for session in list(self._connections):
            await session.close()
        for session in list(self._connections):
            try:
                async with asyncio.timeout(5):
                    await session.closed.wait()
            except TimeoutError:
                log.warning("%s did not close in time", session)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for hook in self.shutdown_hooks:
            await hook()
        await self.state.close()

    async def __aenter__(self) -> Sandbox:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- sessions -----------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if len(self._connections) >= self.max_connections:
            self.refused_connections += 1
            log.warning("refusing a connection: %d are open", len(self._connections))
            return web.Response(status=503, text="too many connections")
        ws = web.WebSocketResponse(max_msg_size=MAX_FRAME_SIZE + 4096, autoping=True)
        session = Session(self, ws)
        self._connections.add(session)  # counted before the upgrade, so the cap holds
        try:
            await ws.prepare(request)
        except BaseException:
            self._connections.discard(session)
            raise
        await session.run()
        return ws

    def register_session(self, session: Session) -> Session | None:
        """Record a logged-in session; return the session it replaces (same device), if any."""
        jid = session.jid
        assert jid is not None
        previous = self.sessions.get(jid)
        self.sessions[jid] = session
        return previous if previous is not session else None

    def session_for(self, jid: JID) -> Session | None:
        """The live session of a device, by its phone-number or LID device JID."""
        if jid.server == USER_SERVER:
            return self.sessions.get(JID(jid.user, USER_SERVER, device=jid.device))
        if jid.server == LID_SERVER:
            for session in self.sessions.values():
                lid = session.lid
                if lid is not None and lid.user == jid.user and lid.device == jid.device:
                    return session
        return None

    def sessions_of(self, phone: str) -> list[Session]:
        """The live sessions of an account's devices."""
        return [s for jid, s in self.sessions.items() if jid.user == phone]

    @property
    def connections(self) -> list[Session]:
        """Every open connection (logged in or not)."""
        return list(self._connections)

    async def session_ended(self, session: Session) -> None:
        """Called by a session when it has closed."""
        self._connections.discard(session)
        jid = session.jid
        if jid is not None and self.sessions.get(jid) is session:
            del self.sessions[jid]
        self.pairing.session_ended(session)
        if session.device is not None:
            for hook in self.router.disconnect_hooks:
                try:
                    await hook(session)
                except Exception:
                    log.exception("disconnect hook failed for %s", session)

    def active_sessions(self) -> list[Session]:
        """Logged-in sessions that have become active."""
        return [s for s in self.sessions.values() if s.state is SessionState.ACTIVE]
