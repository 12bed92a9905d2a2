"""Hostile clients: the sandbox closes their connection, keeps serving everyone else, and
never crashes or hangs."""

from __future__ import annotations

import asyncio

import aiohttp
import pytest

from wamd.binary import Node
from wamd.crypto import KeyPair
from wamd.noise import NoiseClientConnection
from wamd.noise.framing import encode_frame
from wamd.sandbox import Sandbox
from wamd.sandbox import session as session_module

from .raw import Companion, RawClient, login, pair_by_qr

PHONE = "15550007"


async def _closed_after(sandbox: Sandbox, *messages: bytes | str) -> None:
    async with aiohttp.ClientSession() as http, http.ws_connect(sandbox.url) as ws:
        for message in messages:
            if isinstance(message, str):
                await ws.send_str(message)
            else:
                await ws.send_bytes(message)
        async with asyncio.timeout(5):
            async for _ in ws:
                pass
        assert ws.closed


async def _still_serving(sandbox: Sandbox) -> None:
    companion = Companion()
    await pair_by_qr(sandbox, companion, PHONE)
    client = await login(sandbox, companion)
    await client.close()


@pytest.mark.parametrize(
    "messages",
    [
        [b"GET / HTTP/1.1\r\n\r\n"],
        ["a text message"],
        [b"WA\x06\x03" + encode_frame(b"\xff\xff\xff")],
        [b"WA\x06\x03\x7f\xff\xff"],  # announces an oversized handshake frame
        [b"ED\x00\x01\xff\xff\xffjunk"],
    ],
)
async def test_garbage_openings_are_closed(sandbox: Sandbox, messages: list[bytes | str]) -> None:
    await _closed_after(sandbox, *messages)
    await _still_serving(sandbox)


async def test_truncated_handshake_times_out(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(session_module, "HANDSHAKE_TIMEOUT", 0.5)
    await _closed_after(sandbox, b"WA\x06\x03\x00\x00\x30partial")
    for session in sandbox.connections:
        await asyncio.wait_for(session.closed.wait(), 5)
    assert sandbox.connections == []


async def _handshaken(
    sandbox: Sandbox, payload: bytes
) -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse, NoiseClientConnection]:
    http = aiohttp.ClientSession()
    ws = await http.ws_connect(sandbox.url)
    noise = NoiseClientConnection(
        static_key=KeyPair.generate(),
        client_payload=payload,
        root_public_key=sandbox.root_public_key,
    )
    noise.start()
    await ws.send_bytes(noise.data_to_send())
    message = await ws.receive()
    noise.receive_data(message.data)
    await ws.send_bytes(noise.data_to_send())
    return http, ws, noise


async def _drain(ws: aiohttp.ClientWebSocketResponse) -> list[bytes]:
    received = []
    async with asyncio.timeout(5):
        async for message in ws:
            received.append(message.data)
    return received


async def test_malformed_client_payload(sandbox: Sandbox) -> None:
    http, ws, _ = await _handshaken(sandbox, b"\xff\xff\xff\xff")
    try:
        await _drain(ws)
        assert ws.closed
    finally:
        await http.close()
    await _still_serving(sandbox)


async def test_registration_with_a_bad_signed_prekey(sandbox: Sandbox) -> None:
    from wamd.proto import handshake_pb2

    payload = handshake_pb2.ClientPayload.FromString(Companion().registration_payload())
    payload.device_pairing_data.e_skey_sig = bytes(64)
    client = await RawClient.connect(sandbox, payload.SerializeToString())
    try:
        nodes = await client.wait_closed()
        assert [(n.tag, n.attrs["reason"]) for n in nodes] == [("failure", "400")]
    finally:
        await client.close()


@pytest.mark.parametrize(
    "frame",
    [
        b"\x00" * 40,  # fails to authenticate
        b"tiny",  # shorter than a tag
    ],
)
async def test_garbage_after_the_handshake(sandbox: Sandbox, frame: bytes) -> None:
    companion = Companion()
    await pair_by_qr(sandbox, companion, PHONE)
    client = await login(sandbox, companion)
    try:
        await client.ws.send_bytes(encode_frame(frame))
        assert await client.wait_closed() == []
    finally:
        await client.close()
    await _still_serving(sandbox)


async def test_undecodable_node_after_the_handshake(sandbox: Sandbox) -> None:
    companion = Companion()
    await pair_by_qr(sandbox, companion, PHONE)
    client = await login(sandbox, companion)
    try:
        client.noise.send(b"\x00\xf8\x05\xfc")  # a truncated node
        await client.ws.send_bytes(client.noise.data_to_send())
        assert await client.wait_closed() == []
    finally:
        await client.close()


async def test_handler_errors_do_not_kill_the_session(sandbox: Sandbox) -> None:
    companion = Companion()
    await pair_by_qr(sandbox, companion, PHONE)
    client = await login(sandbox, companion)
    try:
        # an encrypt/key query without the <key> content the handler requires
        bad = Node("iq", {"xmlns": "encrypt", "type": "get", "id": "x1"}, [Node("key")])
        await client.send(bad)
        ping = await client.query(Node("iq", {"xmlns": "w:p", "type": "get"}))
        assert ping.attrs["type"] == "result"
    finally:
        await client.close()
