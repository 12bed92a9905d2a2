"""The connection manager: one live connection at a time, kept up for as long as wanted.

It owns the states (:class:`~wamd.conn.state.ConnState`), the single reader task of the
current connection, keepalive, the request/answer matching, the tag -> handler table and
automatic reconnection. Everything that decides (backoff, classification of stream ends,
keepalive bookkeeping, pairing crypto) lives in sans-I/O modules; this is the thin driver.

Incoming nodes are routed like whatsmeow's handleFrame: a node answering a pending request
completes it; otherwise the first handler registered for its tag whose ``match`` accepts it
runs. Node handlers run in the reader task, in arrival order: they may send, but must not
await an answer from the server (that would stall the reader) — use :meth:`spawn` for that.
Events go to the :class:`~wamd.events.Dispatcher`, whose handlers run in their own tasks.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import logging
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp

from wamd.binary import Node
from wamd.conn.causes import Action, Outcome, classify_failure, classify_stream_error
from wamd.conn.connection import Connection
from wamd.conn.device import Device
from wamd.conn.iq import ANSWER_TAGS, PendingRequests, request
from wamd.conn.keepalive import KeepAlive
from wamd.conn.options import ConnectOptions, ServerInfo
from wamd.conn.payload import login_payload, registration_payload
from wamd.conn.reconnect import Backoff
from wamd.conn.state import ConnState, StateMachine
from wamd.conn.transport import TransportClosed
from wamd.crypto import KeyPair
from wamd.errors import (
    CertificateError,
    IQError,
    IQTimeout,
    NotConnected,
    StoreError,
    WamdError,
)
from wamd.events import (
    Connected,
    Disconnected,
    Dispatcher,
    Event,
    Reconnecting,
    lend_slot,
)
from wamd.noise.framing import MAX_ROUTING_INFO_SIZE
from wamd.types import JID, SERVER_JID

__all__ = ["ConnectionManager", "KeepAliveDead", "NodeHandler", "ack_of"]

log = logging.getLogger("wamd.conn")

NodeHandler = Callable[[Node], Awaitable[None]]
NodeMatch = Callable[[Node], bool]
LoginHook = Callable[[], Awaitable[None]]


class KeepAliveDead(NotConnected):
    """No keepalive ping was answered for too long; the connection was dropped."""


class _StreamEnded(Exception):
    """Raised by a node handler to end the connection with an outcome."""

    def __init__(self, outcome: Outcome) -> None:
        super().__init__(outcome.action.value)
        self.outcome = outcome


@dataclass(slots=True)
class _Route:
    match: NodeMatch | None
    handler: NodeHandler


@dataclass(eq=False, slots=True)
class _Live:
    """Per-connection bookkeeping: the connection, its reader and its helper tasks."""

    conn: Connection
    reader: asyncio.Task[None] | None = None
    tasks: set[asyncio.Task[Any]] | None = None
    end: Outcome | None = None
    error: BaseException | None = None


class ConnectionManager:
    """Connects, logs in or registers, routes nodes, keeps the connection alive."""

    def __init__(self, device: Device, dispatcher: Dispatcher, options: ConnectOptions) -> None:
        self.device = device
        self.dispatcher = dispatcher
        self.options = options
        self.pending = PendingRequests()
        self._machine = StateMachine(self._on_state_change)
        self._state_changed = asyncio.Event()
        self._routes: dict[str, list[_Route]] = {}
        self._direct: dict[str, NodeHandler] = {}
        """Tags whose first route has no ``match``: that route handles every such node."""
        self._login_hooks: list[LoginHook] = []
        self._backoff = Backoff(options.reconnect)
        self._live: _Live | None = None
        self._reconnect_task: asyncio.Task[None] | None = None
        self._background: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self.last_error: BaseException | None = None
        self.route("stream:error", self._on_stream_error)
        self.route("failure", self._on_failure)
        self.route("success", self._on_success)
        self.route("xmlstreamend", self._on_stream_end)
        self.route("iq", self._on_server_ping, _is_server_ping)
        self.route("ib", self._on_edge_routing, _is_edge_routing)

    def __repr__(self) -> str:
        return f"ConnectionManager(state={self.state.value}, device={self.device!r})"

    # --- state ------------------------------------------------------------------------------

    @property
    def state(self) -> ConnState:
        """The current connection state."""
        return self._machine.state

    def _on_state_change(self, old: ConnState, new: ConnState) -> None:
        log.debug("state %s -> %s", old.value, new.value)
        self._state_changed.set()
        self._state_changed = asyncio.Event()

    def _to(self, new: ConnState) -> None:
        self._machine.to(new)

    async def wait_for_state(
        self,
        states: set[ConnState],
        *,
        timeout: float | None = None,  # noqa: ASYNC109
        fail_on: set[ConnState] | None = None,
    ) -> ConnState:
        """Wait until the state is one of ``states``; return it.

        Raises :class:`NotConnected` when a state of ``fail_on`` is reached first, and
        :class:`TimeoutError` after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while True:
                state = self.state
                if state in states:
                    return state
                if fail_on and state in fail_on:
                    raise NotConnected(
                        f"connection ended ({state.value})"
                        + (f": {self.last_error}" if self.last_error else "")
                    )
                await self._state_changed.wait()

    # --- routing ----------------------------------------------------------------------------

    def route(self, tag: str, handler: NodeHandler, match: NodeMatch | None = None) -> None:
        """Register ``handler`` for incoming nodes with ``tag`` (and accepted by ``match``).

        Handlers registered later for the same tag are tried after earlier ones; the first
        whose ``match`` accepts the node handles it.
        """
        routes = self._routes.setdefault(tag, [])
        routes.append(_Route(match, handler))
        first = routes[0]
        if first.match is None:
            self._direct[tag] = first.handler

    def add_login_hook(self, hook: LoginHook) -> None:
        """Run ``hook()`` after each login (``<success>``), before :class:`Connected`.

        Hooks run in a task of their own and may make requests (e.g. upload prekeys).
        """
        self._login_hooks.append(hook)

    async def _handle_node(self, node: Node) -> None:
        tag = node.tag
        if tag in ANSWER_TAGS and self.pending.resolve(node):
            return
        handler = self._direct.get(tag)
        if handler is not None:
            await handler(node)
            return
        for route in self._routes.get(tag, ()):
            if route.match is None or route.match(node):
                await route.handler(node)
                return
        log.debug("unhandled node <%s>", node.tag)
        if node.tag in _ACKED_WHEN_UNHANDLED and isinstance(node.attrs.get("id"), str):
            # The server redelivers what is not acknowledged, on every login: a stanza no
            # part of wamd handles is acknowledged so that it is not sent again and again.
            await self.send_node(ack_of(node))

    # --- sending ----------------------------------------------------------------------------

    def _current(self) -> Connection:
        live = self._live
        if live is None or live.conn.closed:
            raise NotConnected("not connected")
        return live.conn

    async def send_node(self, node: Node) -> None:
        """Send one node on the current connection (:class:`NotConnected` when there is none)."""
        await self._current().send_node(node)

    def send_payload(self, payload: bytes) -> Coroutine[Any, Any, None]:
        """Send one frame payload (an encoded node) on the current connection: a coroutine to
        await (:class:`NotConnected`, raised by this call or by the coroutine, when there is
        none)."""
        live = self._live
        if live is None:
            raise NotConnected("not connected")
        return live.conn.send_payload(payload)

    async def request(self, node: Node, *, timeout: float | None = None) -> Node:  # noqa: ASYNC109
        """Send an ``<iq>`` and return its ``type="result"`` answer.

        Raises :class:`IQError`, :class:`IQTimeout` or :class:`NotConnected`.
        """
        conn = self._current()
        return await request(
            self.pending,
            conn.send_node,
            node,
            timeout=self.options.iq_timeout if timeout is None else timeout,
        )

    def spawn(
        self, coro: Coroutine[Any, Any, Any], *, per_connection: bool = True
    ) -> asyncio.Task[Any]:
        """Run ``coro`` in a task that is cancelled when the connection ends (or at shutdown
        when ``per_connection`` is false). Errors are logged."""
        task = asyncio.create_task(coro)
        live = self._live
        bucket = self._background
        if per_connection and live is not None and live.tasks is not None:
            bucket = live.tasks
        bucket.add(task)
        task.add_done_callback(bucket.discard)
        task.add_done_callback(_log_task_error)
        return task

    async def emit(self, event: Event) -> None:
        """Dispatch ``event`` to the application's handlers."""
        await self.dispatcher.dispatch(event)

    # --- connecting -------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open a connection and start reading; returns once the handshake is done.

        The device then logs in (:class:`Connected` follows) or, when not paired yet, waits
        for pairing (QR events follow). Raises the connection error when the first attempt
        fails (:class:`~wamd.errors.CertificateError`, :class:`~wamd.errors.HandshakeError`,
        ``OSError``...).
        """
        if self.state is not ConnState.DISCONNECTED:
            raise WamdError(f"already {self.state.value}")
        self._stopping = False
        self.dispatcher.reopen()
        await self.device.load()
        await self.device.acquire_lease(self.options.lease_wait)
        try:
            await self._open()
        except BaseException:
            if self.state is not ConnState.DISCONNECTED:
                self._to(ConnState.DISCONNECTED)
            await self.device.release_lease()
            raise

    async def _open(self) -> None:
        """One connection attempt: transport, handshake, then start the reader."""
        self._to(ConnState.CONNECTING)
        credentials = self.device.credentials if self.device.loaded else await self.device.load()
        opts = self.options
        if credentials.paired:
            payload = login_payload(credentials, version=opts.app_version)
        else:
            payload = registration_payload(
                credentials, version=opts.app_version, device=opts.device
            )
        routing = credentials.routing_info
        transport = await opts.transport_factory(with_routing(opts.server, routing), opts)
        conn = await Connection.open(
            transport,
            noise_key=KeyPair.from_private(credentials.noise_key.private),
            client_payload=payload,
            root_public_key=opts.server.root_key,
            routing_info=routing,
            handshake_timeout=opts.handshake_timeout,
        )
        if self._stopping:
            await conn.close()
            raise NotConnected("disconnect() was called while connecting")
        live = _Live(conn, tasks=set())
        self._live = live
        self._to(ConnState.LOGGING_IN if credentials.paired else ConnState.PAIRING)
        live.reader = asyncio.create_task(self._read_loop(live), name="wamd-reader")
        self.spawn(self._keepalive_loop(live))
        log.info("connected to %s (%s)", opts.server.url, self.state.value)

    # --- the reader -------------------------------------------------------------------------

    async def _read_loop(self, live: _Live) -> None:
        """The one reader of a connection: receive, route, until the connection ends."""
        receive = live.conn.receive_node
        try:
            while True:
                node = await receive()
                try:
                    await self._handle_node(node)
                except _StreamEnded as ended:
                    live.end = ended.outcome
                    break
                except (asyncio.CancelledError, KeyboardInterrupt):
                    raise
                except Exception:
                    log.exception("node handler failed on <%s>", node.tag)
        except asyncio.CancelledError:
            if live.error is None:
                live.error = NotConnected("reader cancelled")
        except TransportClosed as exc:
            if live.error is None:
                live.error = exc
        except WamdError as exc:  # undecodable or undecryptable data from the server
            log.warning("dropping the connection after bad data: %s", exc)
            if live.error is None:
                live.error = exc
        finally:
            try:
                await self._connection_ended(live)
            except Exception:
                log.exception("error while handling the end of a connection")

    async def _connection_ended(self, live: _Live) -> None:
        """Tear down ``live`` and decide what comes next (the reader's last act)."""
        if self._live is not live:
            return
        self._live = None
        error = live.error
        outcome = live.end
        reason = f"connection closed: {error}" if error else "connection closed"
        self.pending.fail_all(NotConnected(reason))
        current = asyncio.current_task()
        for task in list(live.tasks or ()):
            if task is not current:
                task.cancel()
        await live.conn.close()
        if error is not None:
            self.last_error = error
        if self._stopping:
            self._to(ConnState.DISCONNECTED)
            return
        if outcome is None:
            outcome = Outcome(Action.RECONNECT)
        log.info("connection ended: %s (%s)", outcome.action.value, error or "no error")
        if outcome.action is Action.STOP:
            self._to(ConnState.DISCONNECTED)
            if outcome.wipe:
                try:
                    await self.device.wipe()
                except (StoreError, OSError) as exc:
                    log.error("could not wipe the device's stored data: %s", exc)
            else:
                await self.device.release_lease()
            if outcome.event is not None:
                await self.emit(outcome.event)
            return
        if outcome.action is Action.RESTART:
            self._to(ConnState.WAITING_RECONNECT)
            self._start_reconnect(error, immediate=True)
            return
        # RECONNECT: an unexpected drop.
        will = self.options.reconnect.enabled and self.device.loaded
        self._to(ConnState.WAITING_RECONNECT if will else ConnState.DISCONNECTED)
        if outcome.event is not None:
            await self.emit(outcome.event)
        await self.emit(Disconnected(will_reconnect=will, error=error))
        if will:
            self._start_reconnect(error, immediate=False)
        else:
            await self.device.release_lease()

    # --- reconnecting -----------------------------------------------------------------------

    def _start_reconnect(self, error: BaseException | None, *, immediate: bool) -> None:
        self._reconnect_task = asyncio.create_task(
            self._reconnect_loop(error, immediate), name="wamd-reconnect"
        )

    async def _reconnect_loop(self, error: BaseException | None, immediate: bool) -> None:
        try:
            while not self._stopping:
                if immediate:
                    immediate = False
                else:
                    delay = self._backoff.next_delay()
                    if delay is None or not await self._backoff.allowed(error):
                        log.info("not reconnecting (policy)")
                        self._to(ConnState.DISCONNECTED)
                        await self.device.release_lease()
                        await self.emit(Disconnected(will_reconnect=False, error=error))
                        return
                    await self.emit(Reconnecting(self._backoff.attempt, delay))
                    await asyncio.sleep(delay)
                    if self._stopping:
                        break
                try:
                    await self._open()
                    return
                except asyncio.CancelledError:
                    raise
                except CertificateError as exc:
                    log.error("reconnect refused: %s", exc)
                    self.last_error = exc
                    self._to(ConnState.DISCONNECTED)
                    await self.device.release_lease()
                    await self.emit(Disconnected(will_reconnect=False, error=exc))
                    return
                except (OSError, TimeoutError, WamdError, aiohttp.ClientError) as exc:
                    log.info("reconnect attempt failed: %s", exc)
                    error = exc
                    self.last_error = exc
                    if self.state is not ConnState.WAITING_RECONNECT:
                        self._to(ConnState.WAITING_RECONNECT)
            if self.state is not ConnState.DISCONNECTED:
                self._to(ConnState.DISCONNECTED)
        finally:
            if self._reconnect_task is asyncio.current_task():
                self._reconnect_task = None

    # --- stopping ---------------------------------------------------------------------------

    async def disconnect(self) -> None:
        """Close the connection and stop reconnecting; no :class:`Disconnected` event."""
        self._stopping = True
        task = self._reconnect_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        live = self._live
        if live is not None:
            live.error = live.error or NotConnected("disconnected by the application")
            await live.conn.close()
            reader = live.reader
            if reader is not None and reader is not asyncio.current_task():
                try:
                    async with asyncio.timeout(5), lend_slot():
                        await asyncio.shield(reader)
                except TimeoutError:
                    reader.cancel()
            else:
                await self._connection_ended(live)
        for t in list(self._background):
            t.cancel()
        if self.state is not ConnState.DISCONNECTED:
            self._to(ConnState.DISCONNECTED)
        await self.device.release_lease()

    async def end_connection(self, outcome: Outcome) -> None:
        """Close the current connection with ``outcome`` deciding what follows.

        For use from tasks other than the reader (node handlers raise instead).
        """
        live = self._live
        if live is None:
            return
        live.end = outcome
        await asyncio.shield(live.conn.close())

    def stream_ended(self, outcome: Outcome) -> _StreamEnded:
        """The exception a node handler raises to end the connection with ``outcome``."""
        return _StreamEnded(outcome)

    # --- built-in node handlers -------------------------------------------------------------

    async def _on_stream_error(self, node: Node) -> None:
        outcome = classify_stream_error(node)
        log.info("stream error: %s -> %s", node.attrs.get("code"), outcome.action.value)
        raise _StreamEnded(outcome)

    async def _on_failure(self, node: Node) -> None:
        outcome = classify_failure(node)
        log.info("login failure: %s -> %s", node.attrs.get("reason"), outcome.action.value)
        raise _StreamEnded(outcome)

    async def _on_stream_end(self, node: Node) -> None:
        raise _StreamEnded(Outcome(Action.RECONNECT))

    async def _on_server_ping(self, node: Node) -> None:
        answer: dict[str, str | JID] = {"type": "result", "to": SERVER_JID}
        request_id = node.attrs.get("id")
        if isinstance(request_id, str):
            answer["id"] = request_id
        await self.send_node(Node("iq", answer))

    async def _on_edge_routing(self, node: Node) -> None:
        info = node.find("edge_routing", "routing_info")
        if info is None or not isinstance(info.content, bytes) or not info.content:
            return
        if len(info.content) > MAX_ROUTING_INFO_SIZE:
            log.warning("ignoring %d bytes of routing info", len(info.content))
            return
        if self.device.loaded and self.device.credentials.routing_info != info.content:
            await self.device.update(routing_info=bytes(info.content))

    async def _on_success(self, node: Node) -> None:
        if self.state is not ConnState.LOGGING_IN:
            log.warning("<success> in state %s ignored", self.state.value)
            return
        lid = node.attrs.get("lid")
        if isinstance(lid, JID) and self.device.credentials.lid != str(lid):
            await self.device.update(lid=str(lid))
        self.spawn(self._after_login())

    async def _after_login(self) -> None:
        for hook in list(self._login_hooks):
            try:
                await hook()
            except (IQError, IQTimeout, StoreError) as exc:
                log.warning("login hook %r failed: %s", hook, exc)
        try:
            await self.request(
                Node(
                    "iq",
                    {"xmlns": "passive", "type": "set", "to": SERVER_JID},
                    [Node("active")],
                )
            )
        except (IQError, IQTimeout) as exc:
            log.warning("passive/active request failed: %s", exc)
        if self.state is ConnState.LOGGING_IN:
            self._to(ConnState.CONNECTED)
            self._backoff.reset()
            self.last_error = None
            await self.emit(Connected())

    # --- keepalive --------------------------------------------------------------------------

    async def _keepalive_loop(self, live: _Live) -> None:
        loop = asyncio.get_running_loop()
        cfg = self.options.keepalive
        keepalive = KeepAlive(cfg, loop.time())
        while self._live is live:
            await asyncio.sleep(keepalive.next_interval())
            if self._live is not live:
                return
            ping = Node("iq", {"xmlns": "w:p", "type": "get", "to": SERVER_JID})
            try:
                await request(self.pending, live.conn.send_node, ping, timeout=cfg.deadline)
            except IQTimeout:
                event, dead = keepalive.failure(loop.time())
                await self.emit(event)
                if dead:
                    log.warning("keepalive dead for %.0f s: dropping", cfg.max_fail_time)
                    live.error = KeepAliveDead(f"no keepalive answer for {cfg.max_fail_time:g} s")
                    await live.conn.close()
                    return
                continue
            except IQError:
                pass  # an error answer still proves the server is alive
            except NotConnected:
                return
            restored = keepalive.success(loop.time())
            if restored is not None:
                await self.emit(restored)


_ACKED_WHEN_UNHANDLED = frozenset({"notification", "call"})


def ack_of(node: Node) -> Node:
    """The plain ``<ack>`` of an incoming stanza (``class`` = its tag)."""
    attrs: dict[str, str | JID] = {"class": node.tag}
    for name in ("id", "type", "participant"):
        value = node.attrs.get(name)
        if value is not None:
            attrs[name] = value
    origin = node.attrs.get("from")
    attrs["to"] = origin if origin is not None else SERVER_JID
    return Node("ack", attrs)


def _is_edge_routing(node: Node) -> bool:
    return node.child("edge_routing") is not None


def with_routing(server: ServerInfo, routing_info: bytes | None) -> ServerInfo:
    """``server`` with the routing info in the URL's ``ED`` parameter (``wss://`` only, as
    WhatsApp Web does; a plain ``ws://`` sandbox URL is left alone)."""
    if not routing_info or not server.url.startswith("wss://"):
        return server
    encoded = base64.urlsafe_b64encode(routing_info).rstrip(b"=").decode()
    separator = "&" if "?" in server.url else "?"
    return dataclasses.replace(server, url=f"{server.url}{separator}ED={encoded}")


def _is_server_ping(node: Node) -> bool:
    return node.attrs.get("type") == "get" and node.attrs.get("xmlns") == "urn:xmpp:ping"


def _log_task_error(task: asyncio.Task[Any]) -> None:
    if task.cancelled():
        return
    exc = task.exception()
    if exc is not None and not isinstance(exc, NotConnected):
        log.error("background task %s failed", task.get_name(), exc_info=exc)
