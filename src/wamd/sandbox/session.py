"""One client connection to the sandbox: the asyncio driver over the sans-I/O Noise responder.

A :class:`Session` owns one WebSocket. Its *reader* (:meth:`Session.run`, the aiohttp request
task) feeds received bytes to :class:`~wamd.noise.NoiseServerConnection`, answers the
handshake, decodes frames into nodes, resolves answers to the server's own queries
(:meth:`Session.query`) and queues every other stanza for the session's *worker* task, which
hands them to the :class:`~wamd.sandbox.router.Router` one at a time, in order.

What a session is (registering, logged in as a device, active) is decided by
:mod:`wamd.sandbox.login` when the handshake completes.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from wamd.binary import Node, decode_frame, encode_frame
from wamd.errors import NotConnected, WamdError
from wamd.noise import FrameReceived, HandshakeComplete, NoiseServerConnection
from wamd.proto import handshake_pb2
from wamd.sandbox.router import BAD_INPUT
from wamd.types import JID, LID_SERVER, USER_SERVER

if TYPE_CHECKING:
    from wamd.sandbox.server import Sandbox
    from wamd.sandbox.state import Account, Device

log = logging.getLogger("wamd.sandbox")

HANDSHAKE_TIMEOUT = 20.0
"""Seconds a client has, from connecting, to complete the Noise handshake."""
QUERY_TIMEOUT = 30.0
"""Default seconds to wait for a client's answer to a server query."""
LINGER = 2.0
"""Seconds a client may take to close the socket itself after a final stanza."""
INBOX_SIZE = 1000
"""Stanzas queued for the worker before the reader stops reading (backpressure)."""

_session_numbers = itertools.count(1)


class SessionState(enum.Enum):
    """Life cycle of a session."""

    HANDSHAKE = "handshake"
    REGISTERING = "registering"
    """An unpaired client: pairing (QR refs issued, or a pairing code pending)."""
    LOGGED_IN = "logged-in"
    """``<success>`` sent; the client is passive until it sends ``<active/>``."""
    ACTIVE = "active"
    """Offline stanzas delivered; live traffic flows."""
    CLOSED = "closed"


@dataclass(frozen=True, slots=True)
class Registration:
    """What an unpaired client sent in its registration payload (its Signal bundle)."""

    noise_public: bytes
    identity_public: bytes
    registration_id: int
    signed_prekey_id: int
    signed_prekey_public: bytes
    signed_prekey_signature: bytes = field(repr=False)
    build_hash: bytes = field(repr=False)
    device_props: bytes = field(repr=False)


class Session:
    """One WebSocket connection (see the module docstring).

    ``data`` is free per-session storage for area modules (namespace your keys, e.g.
    ``session.data["messaging.unacked"]``).
    """

    def __init__(self, sandbox: Sandbox, ws: web.WebSocketResponse) -> None:
        self.sandbox = sandbox
        self.number = next(_session_numbers)
        self.state = SessionState.HANDSHAKE
        self.noise = NoiseServerConnection(
            static_key=sandbox.identity.static,
            certificate_chain=sandbox.identity.certificate_chain,
        )
        self.client_static: bytes | None = None
        self.payload: handshake_pb2.ClientPayload | None = None
        self.routing_info: bytes | None = None
        self.registration: Registration | None = None
        self.account: Account | None = None
        self.device: Device | None = None
        self.data: dict[str, Any] = {}
        self._ws = ws
        self._send_lock = asyncio.Lock()
        self._inbox: asyncio.Queue[Node] = asyncio.Queue(INBOX_SIZE)
        self._pending: dict[str, asyncio.Future[Node]] = {}
        self._ids = itertools.count(1)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing: asyncio.Task[Any] | None = None
        self._peer_closed = asyncio.Event()
        self.closed = asyncio.Event()
        """Set once the session has fully ended."""

    def __repr__(self) -> str:
        who = f" {self.jid}" if self.device is not None else ""
        return f"Session(#{self.number}{who} {self.state.value})"

    # --- identity -----------------------------------------------------------------------------

    @property
    def jid(self) -> JID | None:
        """The phone-number device JID of a logged-in session (``phone:device@s.whatsapp.net``)."""
        if self.device is None:
            return None
        return JID(self.device.phone, USER_SERVER, device=self.device.device)

    @property
    def lid(self) -> JID | None:
        """The LID device JID of a logged-in session (``lid:device@lid``)."""
        if self.device is None or self.account is None:
            return None
        return JID(self.account.lid, LID_SERVER, device=self.device.device)

    @property
    def is_open(self) -> bool:
        """Whether stanzas can still be sent."""
        return self.state is not SessionState.CLOSED and not self._ws.closed

    # --- sending ------------------------------------------------------------------------------

    def next_id(self) -> str:
        """A fresh id for a server-originated stanza."""
        return f"sb{self.number}.{next(self._ids)}"

    async def send(self, node: Node) -> None:
        """Encrypt and send one stanza. Raises :class:`NotConnected` once the session closed."""
        if not self.is_open:
            raise NotConnected(f"{self} is closed")
        log.debug("-> %s %r", self, node)
        data = encode_frame(node)
        async with self._send_lock:
            self.noise.send(data)
            out = self.noise.data_to_send()
            try:
                await self._ws.send_bytes(out)
            except (ConnectionError, RuntimeError) as exc:
                raise NotConnected(f"{self}: {exc}") from exc

    async def query(self, node: Node, seconds: float = QUERY_TIMEOUT) -> Node:
        """Send an IQ (its ``id`` set if missing) and return the client's answer.

        Must not be awaited from the reader; handlers run in the worker and may use it.
        Raises :class:`TimeoutError` or :class:`NotConnected`.
        """
        iq_id = str(node.attrs.setdefault("id", self.next_id()))
        future: asyncio.Future[Node] = asyncio.get_running_loop().create_future()
        self._pending[iq_id] = future
        try:
            await self.send(node)
            async with asyncio.timeout(seconds):
                return await future
        finally:
            self._pending.pop(iq_id, None)

    def spawn(self, coroutine: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``coroutine`` in the background; it is cancelled when the session ends."""
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("background task of %s failed", self, exc_info=exc)

    async def close(self, final: Node | None = None, *, linger: float = LINGER) -> None:
        """Send ``final`` (a ``<stream:error>`` or ``<failure>``), then close the socket.

        After a final stanza the client gets ``linger`` seconds to close the socket itself (as
        clients do on a stream error) so that the stanza is read before the connection drops.
        Returns once the final stanza is sent; the closing completes in the background.
        """
        if self._closing is not None:
            return
        if final is not None and self.is_open:
            with contextlib.suppress(NotConnected):
                await self.send(final)
        self.state = SessionState.CLOSED
        self._closing = asyncio.ensure_future(
            self._close_socket(linger if final is not None else 0.0)
        )

    async def _close_socket(self, linger: float) -> None:
        if linger > 0:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(linger):
                    await self._peer_closed.wait()
        await self._ws.close()

    # --- receiving ----------------------------------------------------------------------------

    async def run(self) -> None:
        """Serve the connection until it closes (the aiohttp request task)."""
        worker = asyncio.ensure_future(self._work())
        try:
            async with asyncio.timeout(HANDSHAKE_TIMEOUT):
                while self.client_static is None:
                    if not await self._receive_once():
                        return
            idle = self.sandbox.idle_timeout
            while True:
                async with asyncio.timeout(idle):
                    if not await self._receive_once():
                        break
        except TimeoutError:
            if self.client_static is None:
                log.info("%s: handshake timed out", self)
            else:
                log.info("%s: idle for %s s, closing", self, self.sandbox.idle_timeout)
        except WamdError as exc:
            log.info("%s: closing on bad input: %s", self, exc)
        finally:
            await self._finish(worker)

    async def _receive_once(self) -> bool:
        message = await self._ws.receive()
        if message.type is not WSMsgType.BINARY:
            if message.type is WSMsgType.TEXT:
                log.info("%s: text WebSocket message refused", self)
            self._peer_closed.set()
            return False
        if self.state is SessionState.CLOSED:
            return True  # closing: whatever still arrives is dropped
        events = self.noise.receive_data(message.data)
        out = self.noise.data_to_send()
        if out:
            async with self._send_lock:
                await self._ws.send_bytes(out)
        for event in events:
            if isinstance(event, HandshakeComplete):
                self.client_static = event.remote_static
                self.routing_info = event.routing_info
                await self.sandbox.login.handshake_complete(self, event.client_payload)
            elif isinstance(event, FrameReceived) and self.is_open:
                await self._stanza(decode_frame(event.payload))
        return not self._ws.closed

    async def _stanza(self, node: Node) -> None:
        log.debug("<- %s %r", self, node)
        if node.tag == "iq" and node.attrs.get("type") in ("result", "error"):
            future = self._pending.get(str(node.attrs.get("id", "")))
            if future is not None and not future.done():
                future.set_result(node)
                return
        await self._inbox.put(node)

    async def _work(self) -> None:
        router = self.sandbox.router
        while True:
            node = await self._inbox.get()
            try:
                await router.dispatch(self, node)
            except NotConnected:
                pass
            except BAD_INPUT as exc:
                log.info("%s: <%s> dropped: %s", self, node.tag, exc)
            except Exception:
                log.exception("%s: handler of <%s> failed", self, node.tag)

    async def _finish(self, worker: asyncio.Task[Any]) -> None:
        self.state = SessionState.CLOSED
        worker.cancel()
        for task in list(self._tasks):
            task.cancel()
        for future in self._pending.values():
            if not future.done():
                future.set_exception(NotConnected(f"{self} closed"))
        if self._closing is None:
            self._closing = asyncio.ensure_future(self._ws.close())
        with contextlib.suppress(Exception):
            await self._closing
        await asyncio.gather(worker, *self._tasks, return_exceptions=True)
        await self.sandbox.session_ended(self)
        self.closed.set()
