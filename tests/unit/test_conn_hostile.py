"""A hostile or broken server: the client raises typed errors, never hangs or crashes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator

import pytest

from tests.unit.conn_fakes import FakeServer, Recorder
from tests.unit.test_conn_manager import make_client, pair_by_qr
from wamd import events
from wamd.binary import Node
from wamd.conn.keepalive import KeepAliveConfig
from wamd.conn.manager import KeepAliveDead
from wamd.conn.state import ConnState
from wamd.conn.transport import TransportClosed
from wamd.crypto import KeyPair
from wamd.errors import CertificateError, DecodeError, FrameError, HandshakeError, WamdError
from wamd.noise import generate_certificate_chain
from wamd.types import SERVER_JID


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    srv = FakeServer()
    yield srv
    await srv.close()


async def test_silent_server_times_out_the_handshake(server: FakeServer) -> None:
    server.silent = True
    client = make_client(server, handshake_timeout=0.2)
    with pytest.raises(HandshakeError, match="handshake"):
        await asyncio.wait_for(client.connect(), 5)
    assert client.state is ConnState.DISCONNECTED
    await client.close()


async def test_server_hanging_up_in_the_handshake(server: FakeServer) -> None:
    server.hang_up_in_handshake = True
    client = make_client(server)
    with pytest.raises(TransportClosed):
        await asyncio.wait_for(client.connect(), 5)
    await client.close()


async def test_leaf_for_another_static_key_is_a_certificate_error(server: FakeServer) -> None:
    server.chain_for_next = generate_certificate_chain(
        root=server.root, intermediate=KeyPair.generate(), leaf_key=KeyPair.generate().public
    )
    client = make_client(server)
    with pytest.raises(CertificateError):
        await client.connect()
    await client.close()


async def test_expired_certificate_is_a_certificate_error(server: FakeServer) -> None:
    server.chain_for_next = generate_certificate_chain(
        root=server.root,
        intermediate=KeyPair.generate(),
        leaf_key=server.static.public,
        not_before=1_000_000,
        not_after=2_000_000,
    )
    client = make_client(server)
    with pytest.raises(CertificateError):
        await client.connect()
    await client.close()


@pytest.mark.parametrize(
    ("name", "expected"),
    [("garbage node", DecodeError), ("raw bytes", FrameError), ("stuck frame", KeepAliveDead)],
)
async def test_bad_data_after_the_handshake_drops_and_reconnects(
    server: FakeServer, name: str, expected: type[WamdError]
) -> None:
    keepalive = KeepAliveConfig(
        interval_min=0.02, interval_max=0.02, deadline=0.05, max_fail_time=0.2
    )
    client = make_client(server, keepalive=keepalive)
    rec = Recorder(client)
    await pair_by_qr(server, client)
    session = await server.latest()
    if name == "garbage node":  # a valid transport frame whose node does not decode
        session.noise.send(b"\x00" + b"\xf8\x05" + os.urandom(8))
        await session.end.send(session.noise.data_to_send())
    elif name == "raw bytes":  # not encrypted at all: the AEAD tag fails
        await session.end.send(b"\x00\x00\x10" + os.urandom(16))
    else:  # announces a 16 MiB frame, then sends nothing: only keepalive can notice
        await session.end.send(b"\xff\xff\xff" + os.urandom(100))
    dropped = await client.wait_for(events.Disconnected, timeout=5)
    assert dropped.will_reconnect
    assert isinstance(dropped.error, expected), dropped.error
    await client.wait_for(events.Connected, timeout=5)
    await client.dispatcher.drain()
    assert client.is_connected
    assert len(rec.of(events.Connected)) == 2
    await client.close()


async def test_malformed_pair_success_is_a_pair_error(server: FakeServer) -> None:
    client = make_client(server)
    rec = Recorder(client)
    await client.connect()
    session = await server.latest()
    reply = await session.ask(
        Node("iq", {"from": SERVER_JID, "type": "set"}, [Node("pair-success", {}, [])])
    )
    assert reply.attrs["type"] == "error"
    error = reply.child("error")
    assert error is not None
    assert error.attrs["code"] == "500"
    await client.run_until_disconnected()
    await client.dispatcher.drain()
    assert len(rec.of(events.PairError)) == 1
    await client.close()


async def test_pair_device_without_usable_refs_is_ignored(server: FakeServer) -> None:
    server.ref_count = 0
    client = make_client(server)
    rec = Recorder(client)
    await client.connect()
    session = await server.latest()
    await session.send(
        Node(
            "iq",
            {"from": SERVER_JID, "type": "set", "id": "x1"},
            [Node("pair-device", {}, [Node("ref", {}, b"a,b"), Node("ref", {}, None)])],
        )
    )
    await asyncio.sleep(0.1)
    assert client.state is ConnState.PAIRING
    assert not rec.of(events.QR)
    acks = [n for n in session.received if n.tag == "iq" and n.attrs.get("id") == "x1"]
    assert acks
    assert acks[0].attrs["type"] == "result"
    await client.close()


async def test_a_failing_node_handler_does_not_kill_the_reader(server: FakeServer) -> None:
    client = make_client(server)
    await pair_by_qr(server, client)

    async def broken(node: Node) -> None:
        raise RuntimeError("handler bug")

    client.add_node_handler("boom", broken)
    session = await server.latest()
    await session.send(Node("boom"))
    answer = await client.request(Node("iq", {"type": "get", "xmlns": "x", "to": SERVER_JID}))
    assert answer.attrs["type"] == "result"
    assert client.is_connected
    await client.close()
