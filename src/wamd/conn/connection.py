"""One live connection: a transport, the Noise session over it, and the node codec.

:meth:`Connection.open` runs the client handshake (the server's certificate chain is
verified against the pinned root key inside :class:`wamd.noise.NoiseClientConnection`); after
that, :meth:`send_node` and :meth:`receive_node` move whole stanzas. No policy lives here:
reconnecting, routing and keepalive are the manager's business.
"""

from __future__ import annotations

import asyncio
import collections
import logging

from wamd.binary import Node, decode_frame, encode_frame
from wamd.conn.transport import Transport, TransportClosed
from wamd.crypto import KeyPair
from wamd.errors import HandshakeError, WamdError
from wamd.noise import FrameReceived, HandshakeComplete, NoiseClientConnection
from wamd.slots import SlotPool

__all__ = ["Connection"]

log = logging.getLogger("wamd.conn")


class Connection:
    """A handshaken, encrypted connection that sends and receives nodes.

    Sending is serialized (frame counters must leave in order) by a one-slot pool, the turn: a
    sender that finds it free seals and sends at once; one that finds it taken waits in line
    (FIFO) and is handed the turn by the sender before it. Receiving is meant for one reader
    task.
    """

    def __init__(self, transport: Transport, noise: NoiseClientConnection) -> None:
        self._transport = transport
        self._noise = noise
        self._pending: collections.deque[bytes] = collections.deque()
        self._turn = SlotPool(1)
        """Held by the sender sealing and sending (it may be awaiting the transport)."""
        self._closed = False
        self.server_static: bytes = b""

    def __repr__(self) -> str:
        return f"Connection(closed={self._closed}, noise={self._noise!r})"

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` was called."""
        return self._closed

    @classmethod
    async def open(
        cls,
        transport: Transport,
        *,
        noise_key: KeyPair,
        client_payload: bytes,
        root_public_key: bytes,
        routing_info: bytes | None = None,
        handshake_timeout: float = 20.0,
    ) -> Connection:
        """Run the Noise handshake over ``transport`` and return the open connection.

        ``routing_info`` (from an earlier ``<edge_routing>``) prefixes the intro.

        Raises :class:`~wamd.errors.CertificateError` when the server's chain does not verify
        against ``root_public_key``, :class:`~wamd.errors.HandshakeError` for any other
        handshake failure or timeout, :class:`~wamd.conn.transport.TransportClosed` when the
        server hangs up. The transport is closed on failure.
        """
        noise = NoiseClientConnection(
            static_key=noise_key,
            client_payload=client_payload,
            root_public_key=root_public_key,
            routing_info=routing_info,
        )
        conn = cls(transport, noise)
        try:
            async with asyncio.timeout(handshake_timeout):
                noise.start()
                await transport.send(noise.data_to_send())
                complete: HandshakeComplete | None = None
                while complete is None:
                    data = await transport.receive()
                    for event in noise.receive_data(data):
                        if isinstance(event, HandshakeComplete):
                            complete = event
                        elif isinstance(event, FrameReceived):
                            conn._pending.append(event.payload)
                    out = noise.data_to_send()
                    if out:
                        await transport.send(out)
            conn.server_static = complete.remote_static
        except TimeoutError:
            await transport.close()
            raise HandshakeError(f"no handshake answer within {handshake_timeout:g} s") from None
        except BaseException:
            await transport.close()
            raise
        return conn

    async def send_node(self, node: Node) -> None:
        """Encode, encrypt and send one node."""
        await self.send_payload(encode_frame(node))

    async def send_payload(self, payload: bytes) -> None:
        """Encrypt and send one frame payload (a node already encoded by ``encode_frame``).

        Frames leave in the order they were sealed: the seal and the transport's send happen
        within one turn, and turns are taken one at a time, in the order they were asked for.
        """
        if self._closed:
            raise TransportClosed("connection is closed")
        turn = self._turn
        if not turn.try_acquire():
            await turn.acquire()
        try:
            await self._transport.send(self._noise.seal(payload))
        finally:
            turn.release()

    async def receive_node(self) -> Node:
        """The next node from the server.

        Raises :class:`TransportClosed` when the connection ends, and a typed
        :class:`~wamd.errors.WamdError` (``FrameError``, ``DecodeError``) for bad data; after
        such an error the connection must be closed.
        """
        pending = self._pending
        while not pending:
            if self._closed:
                raise TransportClosed("connection is closed")
            pending.extend(self._noise.receive_frames(await self._transport.receive()))
        return decode_frame(pending.popleft())

    async def close(self) -> None:
        """Close the transport (idempotent)."""
        if self._closed:
            return
        self._closed = True
        try:
            await self._transport.close()
        except (OSError, WamdError) as exc:  # pragma: no cover - best effort
            log.debug("error closing transport: %s", exc)
